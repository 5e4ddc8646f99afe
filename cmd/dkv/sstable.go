package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/rangedel"
	"github.com/distributedkv/dkv/sstable"
)

func newSSTableCmd(g *globals) *cobra.Command {
	var entries bool
	var limit int
	cmd := &cobra.Command{
		Use:   "sstable FILE",
		Short: "Print a table file's properties, blocks and entries",
		Long: `Print what the table FILE (a NNNNNN.sst of a database directory) holds:
its properties, its blocks in file order, and its entries in key order
(key, sequence number, kind, value). Values longer than 40 bytes are cut
with "…"; keys and values that are not plain text are shown Go-quoted
(under --hex, keys and values in hex). Every block's checksum is
verified; a file that is not a sound table makes sstable exit 1 with the
corruption (file and offset). --dir is ignored.

With -o json, sstable prints {"file", "properties": {…}, "blocks":
[{"offset", "length", "kind", "compression", "size", "entries",
"index_key"}, …], "footer": {"offset", "length"}, "range_tombstones":
[{"start", "end", "seqs"}, …], "entries": [{"key", "seq", "kind",
"value"}, …], "entry_count"}; internal keys are {"key", "seq", "kind"},
"entries" holds at most --limit entries and "entry_count" counts them
all (both absent with --entries=false).`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return usageError("--limit must not be negative, got %d", limit)
			}
			if !entries {
				limit = -1
			}
			return printSSTable(cmd.OutOrStdout(), g, args[0], limit)
		},
	}
	cmd.Flags().BoolVar(&entries, "entries", true, "list the table's entries")
	cmd.Flags().IntVar(&limit, "limit", 1000, "list at most `N` entries (0: all)")
	return cmd
}

// printSSTable prints the table at path. limit bounds the entries listed:
// 0 lists all, -1 none (no entries section).
func printSSTable(w io.Writer, g *globals, path string, limit int) error {
	f, size, err := openFile(path)
	if err != nil {
		return err
	}
	r, err := sstable.Open(f, path, size, sstable.ReaderOptions{})
	if err != nil {
		_ = f.Close()
		return err
	}
	defer r.Close()
	if g.json() {
		return printSSTableJSON(w, g, path, r, limit)
	}

	fmt.Fprintf(w, "properties\n%s\n", indent(propertiesText(g, r.Properties()), "  "))
	layout, err := r.Layout()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "blocks\n")
	if g.hex {
		layout = hexLayout(g, layout)
	}
	if err := layout.Write(w); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if spans := r.RangeDels().Spans(); len(spans) > 0 {
		fmt.Fprintf(w, "\nrange tombstones (fragments: sequence numbers newest first)\n")
		for _, s := range spans {
			fmt.Fprintf(w, "  [%s, %s) #%v\n", displayKey(g, s.Start), displayKey(g, s.End), s.Seqs)
		}
	}
	if limit < 0 {
		return nil
	}
	fmt.Fprintf(w, "\nentries\n")
	return printEntries(w, g, r, limit)
}

// propertiesText formats the properties one per line, as
// Properties.String does; under --hex, with the smallest and largest keys
// in hex.
func propertiesText(g *globals, p *sstable.Properties) string {
	s := p.String()
	if !g.hex {
		return s
	}
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, "dkv.key.") {
			line = g.hexQuoted(line)
		}
		b.WriteString(line)
	}
	return b.String()
}

// hexLayout returns a copy of l whose index keys show their user keys in
// hex.
func hexLayout(g *globals, l *sstable.Layout) *sstable.Layout {
	c := *l
	c.Blocks = append([]sstable.BlockInfo(nil), l.Blocks...)
	for i, b := range c.Blocks {
		c.Blocks[i].IndexKey = g.hexQuoted(b.IndexKey)
	}
	return &c
}

// indexKey is an index key of sstable.BlockInfo, parsed.
type indexKey struct {
	user []byte
	seq  uint64
	kind string
}

// parseIndexKey parses an index key of sstable.BlockInfo, which the
// sstable package formats as base.InternalKey.String does: a Go-quoted
// user key, "#", the sequence number, ",", the kind. ok is false for an
// empty (not a data block's) or unexpected string.
func parseIndexKey(s string) (k indexKey, ok bool) {
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return k, false
	}
	user, err := strconv.Unquote(q)
	if err != nil {
		return k, false
	}
	rest, found := strings.CutPrefix(s[len(q):], "#")
	seqText, kind, found2 := strings.Cut(rest, ",")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !found || !found2 || err != nil {
		return k, false
	}
	return indexKey{user: []byte(user), seq: seq, kind: kind}, true
}

// printEntries lists the table's entries, at most limit of them (0: all),
// then how many there are. The rows read before an error are printed.
func printEntries(w io.Writer, g *globals, r *sstable.Reader, limit int) (err error) {
	it := r.NewIter()
	tw := newTable(w)
	fmt.Fprintf(tw, "  key\tseq\tkind\tvalue\n")
	shown, total := 0, 0
	for ok := it.First(); ok; ok = it.Next() {
		total++
		if limit > 0 && shown == limit {
			continue // count the rest
		}
		k := it.Key()
		value := ""
		if k.Kind() != base.KindDelete {
			value = g.value(it.Value())
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", g.key(k.UserKey), k.SeqNum(), k.Kind(), value)
		shown++
	}
	iterErr := it.Close()
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if iterErr != nil {
		return iterErr
	}
	if shown < total {
		fmt.Fprintf(w, "  %d of %d entries shown (--limit %d; --limit 0 shows all)\n", shown, total, limit)
	} else {
		fmt.Fprintf(w, "  %s\n", count(total, "entry", "entries"))
	}
	return nil
}

// sstableDoc is sstable's JSON document.
type sstableDoc struct {
	File            string         `json:"file"`
	Properties      propertiesDoc  `json:"properties"`
	Blocks          []blockDoc     `json:"blocks"` // null, as Footer, when the blocks could not be read
	Footer          *footerDoc     `json:"footer"`
	RangeTombstones []spanDoc      `json:"range_tombstones"`
	Entries         *[]sstableItem `json:"entries,omitempty"`
	EntryCount      *int           `json:"entry_count,omitempty"`
	Error           string         `json:"error,omitempty"`
}

// propertiesDoc holds the table's properties, named as stored without
// "dkv." (dots and dashes made underscores).
type propertiesDoc struct {
	BloomBitsPerKey   uint64  `json:"bloom_bits_per_key"`
	Comparer          string  `json:"comparer"`
	Compression       string  `json:"compression"`
	DataBlocks        uint64  `json:"data_blocks"`
	DataSize          uint64  `json:"data_size"`
	FilterSize        uint64  `json:"filter_size"`
	IndexSize         uint64  `json:"index_size"`
	KeyLargest        jsonKey `json:"key_largest"`
	KeySmallest       jsonKey `json:"key_smallest"`
	NumDeletions      uint64  `json:"num_deletions"`
	NumEntries        uint64  `json:"num_entries"`
	NumRangeDeletions uint64  `json:"num_range_deletions"`
	RangeDeletionSize uint64  `json:"range_deletion_size"`
	RawKeySize        uint64  `json:"raw_key_size"`
	RawValueSize      uint64  `json:"raw_value_size"`
	SeqLargest        uint64  `json:"seq_largest"`
	SeqSmallest       uint64  `json:"seq_smallest"`
}

type blockDoc struct {
	Offset      uint64   `json:"offset"`
	Length      uint64   `json:"length"` // with the trailer, as in text
	Kind        string   `json:"kind"`
	Compression string   `json:"compression"`
	Size        int      `json:"size"`
	Entries     int      `json:"entries"`
	IndexKey    *jsonKey `json:"index_key,omitempty"` // data blocks
}

type footerDoc struct {
	Offset int64 `json:"offset"`
	Length int   `json:"length"`
}

type spanDoc struct {
	Start string   `json:"start"`
	End   string   `json:"end"`
	Seqs  []uint64 `json:"seqs"` // newest first
}

type sstableItem struct {
	Key   string  `json:"key"`
	Seq   uint64  `json:"seq"`
	Kind  string  `json:"kind"`
	Value *string `json:"value"` // null for a DEL
}

// printSSTableJSON prints the table r at path as a JSON document.
func printSSTableJSON(w io.Writer, g *globals, path string, r *sstable.Reader, limit int) (err error) {
	p := r.Properties()
	doc := sstableDoc{File: path, RangeTombstones: []spanDoc{}, Properties: propertiesDoc{
		BloomBitsPerKey: p.BloomBitsPerKey, Comparer: p.ComparerName, Compression: p.Compression,
		DataBlocks: p.NumDataBlocks, DataSize: p.DataSize, FilterSize: p.FilterSize, IndexSize: p.IndexSize,
		KeyLargest: g.jsonKey(p.Largest()), KeySmallest: g.jsonKey(p.Smallest()),
		NumDeletions: p.NumDeletions, NumEntries: p.NumEntries, NumRangeDeletions: p.NumRangeDeletions,
		RangeDeletionSize: p.RangeDelSize, RawKeySize: p.RawKeySize, RawValueSize: p.RawValueSize,
		SeqLargest: p.LargestSeq, SeqSmallest: p.SmallestSeq,
	}}
	defer func() {
		doc.Error = errorText(err)
		if werr := g.writeJSON(w, doc); err == nil {
			err = werr
		}
	}()
	for _, s := range r.RangeDels().Spans() {
		doc.RangeTombstones = append(doc.RangeTombstones, spanJSON(g, s))
	}
	layout, err := r.Layout()
	if err != nil {
		return err
	}
	doc.Blocks = []blockDoc{}
	for _, b := range layout.Blocks {
		// IndexEntry.Size is the block's length with its trailer.
		row := blockDoc{Offset: b.Handle.Offset, Length: sstable.IndexEntry{Handle: b.Handle}.Size(),
			Kind: b.Kind, Compression: b.Compression.String(), Size: b.Size, Entries: b.Entries}
		if k, ok := parseIndexKey(b.IndexKey); ok {
			row.IndexKey = &jsonKey{Key: g.bytes(k.user), Seq: k.seq, Kind: k.kind}
		}
		doc.Blocks = append(doc.Blocks, row)
	}
	doc.Footer = &footerDoc{Offset: layout.Footer, Length: sstable.FooterSize}
	if limit < 0 {
		return nil
	}
	entries, total := []sstableItem{}, 0
	doc.Entries, doc.EntryCount = &entries, &total
	it := r.NewIter()
	for ok := it.First(); ok; ok = it.Next() {
		total++
		if limit > 0 && len(entries) == limit {
			continue // count the rest
		}
		k := it.Key()
		e := sstableItem{Key: g.bytes(k.UserKey), Seq: uint64(k.SeqNum()), Kind: k.Kind().String()}
		if k.Kind() != base.KindDelete {
			v := g.bytes(it.Value())
			e.Value = &v
		}
		entries = append(entries, e)
	}
	if err := it.Close(); err != nil {
		doc.EntryCount = nil // not all counted
		return err
	}
	return nil
}

func spanJSON(g *globals, s rangedel.Span) spanDoc {
	d := spanDoc{Start: g.bytes(s.Start), End: g.bytes(s.End)}
	for _, seq := range s.Seqs {
		d.Seqs = append(d.Seqs, uint64(seq))
	}
	return d
}
