package sstable

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// BlockInfo describes one block of a table, for tools and tests.
type BlockInfo struct {
	Kind        string // data, filter, range-deletion, index, properties, metaindex
	Handle      BlockHandle
	Compression Compression
	Size        int    // decompressed size
	Entries     int    // entries in the block (0 for the filter)
	IndexKey    string // for data blocks: the index entry's separator key
}

// Layout lists a table's blocks in file order and its footer.
type Layout struct {
	Blocks   []BlockInfo
	FileSize int64
	Footer   int64 // offset of the footer
}

// Layout reads every block of the table (checking each) and describes them.
func (r *Reader) Layout() (*Layout, error) {
	l := &Layout{FileSize: r.size, Footer: r.size - FooterSize}
	add := func(kind string, h BlockHandle, internal bool, indexKey string) error {
		block, err := r.readBlock(h, kind)
		if err != nil {
			return err
		}
		info := BlockInfo{Kind: kind, Handle: h, Size: len(block), IndexKey: indexKey}
		trailer := make([]byte, blockTrailerSize)
		if _, err := r.f.ReadAt(trailer, int64(h.Offset+h.Length)); err != nil {
			return fmt.Errorf("sstable: read %s: %w", r.name, err)
		}
		info.Compression = Compression(trailer[0])
		if kind != "filter" {
			var it blockIter
			order := keyOrder{}
			if internal {
				order = r.order
			}
			if err := it.init(block, order); err != nil {
				return r.corrupt(int64(h.Offset), "%s block: %v", kind, err)
			}
			for ok := it.first(); ok; ok = it.next() {
				info.Entries++
			}
			if it.err != nil {
				return r.corrupt(int64(h.Offset), "%s block: %v", kind, it.err)
			}
		}
		l.Blocks = append(l.Blocks, info)
		return nil
	}
	var ii blockIter
	ii.initTrusted(r.index, r.order)
	for ok := ii.first(); ok; ok = ii.next() {
		h, _, hok := decodeHandle(ii.val)
		if !hok {
			return nil, r.corrupt(int64(r.footer.index.Offset), "bad block handle in the index")
		}
		if err := add("data", h, true, decodeKey(ii.key).String()); err != nil {
			return nil, err
		}
	}
	if ii.err != nil {
		return nil, r.corrupt(int64(r.footer.index.Offset), "index block: %v", ii.err)
	}
	if fh, ok := r.meta[metaFilterName]; ok {
		if err := add("filter", fh, false, ""); err != nil {
			return nil, err
		}
	}
	if rh, ok := r.meta[metaRangeDelName]; ok {
		if err := add("range-deletion", rh, true, ""); err != nil {
			return nil, err
		}
	}
	if err := add("index", r.footer.index, true, ""); err != nil {
		return nil, err
	}
	if err := add("properties", r.meta[metaPropertiesName], false, ""); err != nil {
		return nil, err
	}
	if err := add("metaindex", r.footer.metaindex, false, ""); err != nil {
		return nil, err
	}
	return l, nil
}

// Write prints the layout as an aligned table.
func (l *Layout) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "offset\tlength\tkind\tcompression\tsize\tentries\t\tindex key\n")
	for _, b := range l.Blocks {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t%d\t\t%s\n", b.Handle.Offset, b.Handle.Length+blockTrailerSize,
			b.Kind, b.Compression, b.Size, b.Entries, b.IndexKey)
	}
	fmt.Fprintf(tw, "%d\t%d\tfooter\t\t\t\t\t\n", l.Footer, FooterSize)
	return tw.Flush()
}
