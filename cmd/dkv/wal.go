package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
	"github.com/distributedkv/dkv/wal"
)

func newWALCmd(g *globals) *cobra.Command {
	var logNum uint64
	cmd := &cobra.Command{
		Use:   "wal FILE",
		Short: "Print the batches of a write-ahead log file",
		Long: `Print the records of the write-ahead log FILE (a NNNNNN.log of a database
directory), each decoded as a batch: its offset in the file, the sequence
number of each operation, the batch's count of operations, and the
operations (SET key=value, DEL key, RANGEDEL [start, end)). Values longer
than 40 bytes are cut with "…"; keys and values that are not plain text
are shown Go-quoted (under --hex, keys and values in hex). A record that
is not a well-formed batch is shown as an error line, and wal then exits
1.

Then wal prints how the log ends: the offset past the last whole record,
and whether bytes after it are a torn tail (an append a crash interrupted,
which recovery truncates), and why. Damage that is not a torn tail is
corruption: wal prints the records before it and exits 1.

The log number, which the file's header must match, comes from FILE's
name; give it with --lognum for a file renamed or copied. --dir is ignored.

With -o json, wal prints {"file", "log", "records": [{"offset", "seq",
"count", "ops": [{"seq", "op", "key", "value"}, …]}, …], "tail": {"end",
"torn", "reason"}}; a record that is not a batch has "error" instead of
"ops" (and a null "seq" and "count" when its header did not decode), a
RANGEDEL's "value" is its end key, a DEL has none.`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			num := base.FileNum(logNum)
			if !cmd.Flags().Changed("lognum") {
				typ, n, ok := base.ParseFilename(vfs.Default.PathBase(path))
				if !ok || typ != base.FileTypeLog {
					return usageError("%s is not named NNNNNN.log: give its log number with --lognum", path)
				}
				num = n
			}
			return printWAL(cmd.OutOrStdout(), g, path, num)
		},
	}
	cmd.Flags().Uint64Var(&logNum, "lognum", 0, "the log's `number`, for a FILE not named NNNNNN.log")
	return cmd
}

// printWAL prints the log of number num at path. Records are printed as
// they are read, so that the ones before a corruption are shown.
func printWAL(w io.Writer, g *globals, path string, num base.FileNum) (err error) {
	f, size, err := openFile(path)
	if err != nil {
		return err
	}
	defer f.Close()

	doc := walDoc{File: path, Log: uint64(num), Records: []walRecord{}}
	if g.json() {
		defer func() {
			doc.Error = errorText(err)
			if werr := g.writeJSON(w, doc); err == nil {
				err = werr
			}
		}()
	} else {
		fmt.Fprintf(w, "log %s\n", num)
	}
	tw := newTable(w)
	if !g.json() {
		fmt.Fprintf(tw, "  offset\tseq\tcount\top\n")
	}
	r := wal.NewReader(f, size, path, num)
	var (
		records, ops int
		badErr       error // the first record that is not a batch
		bad          int
	)
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ferr := tw.Flush(); ferr != nil {
				return fmt.Errorf("write output: %w", ferr)
			}
			return err
		}
		records++
		b, err := decodeBatch(rec)
		if err != nil {
			if bad == 0 {
				badErr = base.CorruptionErrorf(path, r.Offset(), "record is not a batch: %v", err)
			}
			bad++
		}
		ops += len(b.ops)
		if g.json() {
			doc.Records = append(doc.Records, batchJSON(g, r.Offset(), b, err))
		} else {
			writeBatch(tw, g, r.Offset(), b, err)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	t := r.Tail()
	reason := t.Reason
	if g.json() {
		doc.Tail = &walTail{End: t.End, Torn: t.Torn, Reason: reason}
	} else {
		fmt.Fprintf(w, "  %s, %s\n", count(records, "record", "records"), count(ops, "operation", "operations"))
		if reason == "" {
			reason = "-"
		}
		tw = newTable(w)
		fmt.Fprintf(tw, "\ntail\n  end\t%d\n  torn\t%t\n  reason\t%s\n", t.End, t.Torn, reason)
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	if bad > 1 {
		return fmt.Errorf("%w (and %s)", badErr, count(bad-1, "more bad record", "more bad records"))
	}
	return badErr
}

// writeBatch prints one record: a row per operation, the record's offset
// and count on the first. A record that failed to decode (err) is one
// error row, with the header's fields when they decoded.
func writeBatch(tw *tabwriter.Writer, g *globals, offset int64, b batch, err error) {
	if err != nil {
		seq, n := "-", "-"
		if b.headerOK {
			seq, n = fmt.Sprint(b.seq), fmt.Sprint(b.count)
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\terror: %v\n", offset, seq, n, err)
		return
	}
	for i, op := range b.ops {
		var desc string
		switch op.kind {
		case base.KindSet:
			desc = fmt.Sprintf("SET %s=%s", displayKey(g, op.key), g.value(op.value))
		case base.KindRangeDelete:
			desc = fmt.Sprintf("RANGEDEL [%s, %s)", displayKey(g, op.key), displayKey(g, op.value))
		default:
			desc = fmt.Sprintf("DEL %s", displayKey(g, op.key))
		}
		if i == 0 {
			fmt.Fprintf(tw, "  %d\t%d\t%d\t%s\n", offset, b.seq, b.count, desc)
		} else {
			fmt.Fprintf(tw, "  \t%d\t\t%s\n", b.seq+base.SeqNum(i), desc)
		}
	}
}

// displayKey formats a key of a SET key=value or DEL key: as display does,
// quoted also when it holds '=' or a space, so that the key ends at the
// first '=' or the end of the column. Under --hex it is hex, which holds
// neither.
func displayKey(g *globals, key []byte) string {
	if g.hex {
		return g.key(key)
	}
	s := display(key, 0)
	if s[0] != '"' && bytes.ContainsAny(key, "= ") {
		s = strconv.Quote(s)
	}
	return s
}

// walDoc is wal's JSON document.
type walDoc struct {
	File    string      `json:"file"`
	Log     uint64      `json:"log"`
	Records []walRecord `json:"records"`
	Tail    *walTail    `json:"tail"` // null when the log could not be read to its end
	Error   string      `json:"error,omitempty"`
}

type walRecord struct {
	Offset int64   `json:"offset"`
	Seq    *uint64 `json:"seq"`
	Count  *uint32 `json:"count"`
	Ops    []walOp `json:"ops,omitempty"`
	Error  string  `json:"error,omitempty"`
}

type walOp struct {
	Seq   uint64  `json:"seq"`
	Op    string  `json:"op"` // SET, DEL, RANGEDEL
	Key   string  `json:"key"`
	Value *string `json:"value,omitempty"`
}

type walTail struct {
	End    int64  `json:"end"`
	Torn   bool   `json:"torn"`
	Reason string `json:"reason"`
}

// batchJSON returns one record for a JSON document.
func batchJSON(g *globals, offset int64, b batch, err error) walRecord {
	rec := walRecord{Offset: offset, Error: errorText(err)}
	if b.headerOK {
		seq, n := uint64(b.seq), b.count
		rec.Seq, rec.Count = &seq, &n
	}
	for i, op := range b.ops {
		o := walOp{Seq: uint64(b.seq) + uint64(i), Op: op.kind.String(), Key: g.bytes(op.key)}
		if op.kind != base.KindDelete {
			v := g.bytes(op.value)
			o.Value = &v
		}
		rec.Ops = append(rec.Ops, o)
	}
	return rec
}

// batch is a decoded write-ahead log record: operation i has sequence
// number seq+i. Keys and values point into the record.
type batch struct {
	seq      base.SeqNum
	count    uint32
	headerOK bool // seq and count were read
	ops      []batchOp
}

type batchOp struct {
	kind       base.Kind
	key, value []byte
}

// batchHeaderSize is the size of a batch's header: seq (8), count (4).
const batchHeaderSize = 12

// decodeBatch decodes a record with the batch encoding that
// docs/format/wal.md specifies ("Batch"):
//
//	batch := seq (uint64 LE) count (uint32 LE) op{count}
//	op    := kind (uint8) keylen (uvarint) key [vallen (uvarint) value]
//
// with a value only for SET (kind 1; DEL is 0) and, for RANGEDEL (kind 2),
// the end key in the value's place. Every field is checked
// against the record's bounds and the engine's limits; bytes that break
// them make an error (never a panic), and on error ops is nil.
func decodeBatch(rec []byte) (batch, error) {
	var b batch
	if len(rec) < batchHeaderSize {
		return b, fmt.Errorf("%d bytes, shorter than a batch header (%d)", len(rec), batchHeaderSize)
	}
	b.seq = base.SeqNum(binary.LittleEndian.Uint64(rec))
	b.count = binary.LittleEndian.Uint32(rec[8:])
	b.headerOK = true
	switch {
	case b.count == 0:
		return b, errors.New("batch holds no operation")
	case b.seq > base.SeqNumMax || uint64(b.count)-1 > uint64(base.SeqNumMax-b.seq):
		return b, fmt.Errorf("sequence numbers %d+%d overflow 56 bits", b.seq, b.count)
	}
	p := rec[batchHeaderSize:]
	var ops []batchOp
	for i := range b.count {
		if len(p) == 0 {
			return b, fmt.Errorf("batch of %d operations ends after %d", b.count, i)
		}
		op := batchOp{kind: base.Kind(p[0])}
		p = p[1:]
		if !op.kind.Valid() {
			return b, fmt.Errorf("operation %d: unknown kind %d", i, uint8(op.kind))
		}
		var err error
		if op.key, p, err = lengthPrefixed(p, "key", dkv.MaxKeySize); err != nil {
			return b, fmt.Errorf("operation %d: %w", i, err)
		}
		if len(op.key) == 0 {
			return b, fmt.Errorf("operation %d: empty key", i)
		}
		switch op.kind {
		case base.KindSet:
			if op.value, p, err = lengthPrefixed(p, "value", dkv.MaxValueSize); err != nil {
				return b, fmt.Errorf("operation %d: %w", i, err)
			}
		case base.KindRangeDelete:
			// An unbounded end past the largest possible key is one
			// byte longer than a key (dkv.DB.DeleteRange).
			if op.value, p, err = lengthPrefixed(p, "end key", dkv.MaxKeySize+1); err != nil {
				return b, fmt.Errorf("operation %d: %w", i, err)
			}
			if bytes.Compare(op.key, op.value) >= 0 {
				return b, fmt.Errorf("operation %d: range deletion [%q, %q) is empty", i, op.key, op.value)
			}
		}
		ops = append(ops, op)
	}
	if len(p) != 0 {
		return b, fmt.Errorf("%d bytes after the last of %d operations", len(p), b.count)
	}
	b.ops = ops
	return b, nil
}

// lengthPrefixed splits a uvarint length and that many bytes, at most
// limit, off the front of p.
func lengthPrefixed(p []byte, what string, limit int) (field, rest []byte, err error) {
	n, w := binary.Uvarint(p)
	if w <= 0 {
		return nil, nil, fmt.Errorf("bad %s length", what)
	}
	if w != len(binary.AppendUvarint(nil, n)) {
		// dkv writes the shortest form; a longer one is damage.
		return nil, nil, fmt.Errorf("%s length %d is not in its shortest form", what, n)
	}
	p = p[w:]
	switch {
	case n > uint64(limit):
		return nil, nil, fmt.Errorf("%s length %d is above the limit of %d", what, n, limit)
	case n > uint64(len(p)):
		return nil, nil, fmt.Errorf("%s of %d bytes runs past the record (%d left)", what, n, len(p))
	}
	return p[:n:n], p[n:], nil
}
