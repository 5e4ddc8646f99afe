package sstable

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/rangedel"
	"github.com/distributedkv/dkv/vfs"
)

// WriterOptions configure a Writer. Zero fields take the defaults.
type WriterOptions struct {
	BlockSize       int // target uncompressed data block size; default 4 KiB
	RestartInterval int // keys between restart points; default 16
	Compression     Compression
	// BloomBitsPerKey sizes the bloom filter; 0 writes no filter.
	BloomBitsPerKey int
}

func (o WriterOptions) withDefaults() WriterOptions {
	if o.BlockSize <= 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.RestartInterval <= 0 {
		o.RestartInterval = DefaultRestartInterval
	}
	return o
}

// Writer writes a table to a file in one pass. Keys are added in strictly
// increasing internal-key order, user keys ordered bytewise (the only order
// tables support; base.DefaultComparer). Memory is bounded by one data block, the
// index block and the bloom filter's key hashes (4 bytes per key): data
// blocks are written as they fill.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	f    vfs.File
	out  *bufio.Writer
	opts WriterOptions
	cmp  base.Compare

	offset  uint64 // bytes written so far
	data    blockWriter
	index   blockWriter
	filter  *bloomWriter
	props   Properties
	lastKey []byte // encoded internal key of the last Add

	// The index entry for the last finished data block waits for the next
	// key, so that its separator can be short.
	pendingHandle BlockHandle
	pending       bool

	// rangeDels are the range tombstones added, fragmented and written
	// as one block by Finish.
	rangeDels []rangedel.Tombstone

	scratch  []byte
	err      error
	finished bool
}

// NewWriter returns a Writer that writes a table to f, which must be empty.
func NewWriter(f vfs.File, opts WriterOptions) *Writer {
	opts = opts.withDefaults()
	w := &Writer{
		f:     f,
		out:   bufio.NewWriterSize(f, 256<<10),
		opts:  opts,
		cmp:   base.DefaultComparer.Compare,
		data:  blockWriter{restartInterval: opts.RestartInterval},
		index: blockWriter{restartInterval: 1},
	}
	if opts.BloomBitsPerKey > 0 {
		w.filter = newBloomWriter(opts.BloomBitsPerKey)
	}
	w.props.Compression = opts.Compression.String()
	w.props.ComparerName = base.DefaultComparer.Name
	w.props.BloomBitsPerKey = uint64(max(opts.BloomBitsPerKey, 0))
	return w
}

// Add appends a version of a key. Keys must be strictly increasing in
// internal-key order; a key out of order is an error that stops the Writer.
func (w *Writer) Add(key InternalKey, value []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.finished {
		return errors.New("sstable: Add after Finish")
	}
	enc := w.scratch[:0]
	enc = append(enc, key.UserKey...)
	enc = binary.LittleEndian.AppendUint64(enc, uint64(key.Trailer))
	w.scratch = enc
	if w.props.NumEntries > 0 && w.compareEncoded(w.lastKey, enc) >= 0 {
		w.err = fmt.Errorf("sstable: key %s added after %s: keys must increase", key, decodeKey(w.lastKey))
		return w.err
	}
	if w.pending {
		w.addIndexEntry(w.lastKey, enc)
	}
	if w.filter != nil {
		w.filter.add(key.UserKey)
	}
	w.data.add(enc, value)
	w.lastKey = append(w.lastKey[:0], enc...)

	p := &w.props
	if p.NumEntries == 0 {
		p.SmallestKey = append([]byte(nil), enc...)
		p.SmallestSeq = uint64(key.SeqNum())
	}
	p.NumEntries++
	if key.Kind() == base.KindDelete {
		p.NumDeletions++
	}
	p.RawKeySize += uint64(len(enc))
	p.RawValueSize += uint64(len(value))
	p.SmallestSeq = min(p.SmallestSeq, uint64(key.SeqNum()))
	p.LargestSeq = max(p.LargestSeq, uint64(key.SeqNum()))

	if w.data.estimatedSize() >= w.opts.BlockSize {
		return w.flushData()
	}
	return nil
}

// Set adds "key has value" at sequence number 0, for a table meant for
// DB.Ingest (which gives all of a table's keys one sequence number). Keys
// must be strictly increasing, each user key once.
func (w *Writer) Set(key, value []byte) error {
	return w.Add(base.MakeInternalKey(key, 0, base.KindSet), value)
}

// Delete adds "key is deleted" at sequence number 0, for a table meant for
// DB.Ingest: it hides the versions of key already in the database.
func (w *Writer) Delete(key []byte) error {
	return w.Add(base.MakeInternalKey(key, 0, base.KindDelete), nil)
}

// DeleteRange adds "the keys in [start, end) are deleted" at sequence
// number 0, for a table meant for DB.Ingest. Ranges may be added in any
// order and overlap one another and the table's keys; they delete only the
// versions already in the database, not the table's own keys.
func (w *Writer) DeleteRange(start, end []byte) error {
	return w.AddRangeDel(start, end, 0)
}

// AddRangeDel records a range tombstone deleting the user keys in
// [start, end) below sequence number seq. Tombstones may be added in any
// order and may overlap: Finish fragments them (rangedel.Fragment) into the
// table's range-deletion block, keeping every sequence number it is given.
// Nested tombstones with many sequence numbers make that block grow with
// their number squared, so a caller writing a user's tombstones first
// keeps only those the table's readers can tell apart
// (rangedel.FragmentFor), as flushes and compactions do, and adds the
// result. They widen the table's key range. The Writer copies start and
// end.
func (w *Writer) AddRangeDel(start, end []byte, seq SeqNum) error {
	if w.err != nil {
		return w.err
	}
	if w.finished {
		return errors.New("sstable: AddRangeDel after Finish")
	}
	if w.cmp(start, end) >= 0 {
		w.err = fmt.Errorf("sstable: range tombstone [%q, %q) is empty", start, end)
		return w.err
	}
	w.rangeDels = append(w.rangeDels, rangedel.Tombstone{
		Start: append([]byte(nil), start...),
		End:   append([]byte(nil), end...),
		Seq:   seq,
	})
	return nil
}

func (w *Writer) compareEncoded(a, b []byte) int {
	return base.InternalCompare(w.cmp, decodeKey(a), decodeKey(b))
}

// decodeKey decodes an internal key the Writer or a checked block encoded.
func decodeKey(enc []byte) base.InternalKey {
	k, _ := base.DecodeInternalKey(enc)
	return k
}

// flushData writes the current data block and leaves its index entry
// pending.
func (w *Writer) flushData() error {
	if w.data.entries == 0 {
		return nil
	}
	h, err := w.writeBlock(w.data.finish(), w.opts.Compression)
	if err != nil {
		return err
	}
	w.data.reset()
	w.props.NumDataBlocks++
	w.props.DataSize += h.Length + blockTrailerSize
	w.pendingHandle, w.pending = h, true
	return nil
}

// addIndexEntry indexes the pending block under a key k with
// last <= k < next (next nil: the table's end).
func (w *Writer) addIndexEntry(last, next []byte) {
	lastKey := decodeKey(last)
	sep := last
	if next != nil {
		nextKey := decodeKey(next)
		if w.cmp(lastKey.UserKey, nextKey.UserKey) < 0 {
			if u := base.DefaultComparer.Separator(nil, lastKey.UserKey, nextKey.UserKey); w.cmp(lastKey.UserKey, u) < 0 {
				sep = appendSearchKey(nil, u)
			}
		}
	} else if u := base.DefaultComparer.Successor(nil, lastKey.UserKey); w.cmp(lastKey.UserKey, u) < 0 {
		sep = appendSearchKey(nil, u)
	}
	w.index.add(sep, appendHandle(nil, w.pendingHandle))
	w.pending = false
}

// appendSearchKey appends the encoded internal key (u, SeqNumMax, KindMax),
// which sorts before every version of u.
func appendSearchKey(dst, u []byte) []byte {
	dst = append(dst, u...)
	return binary.LittleEndian.AppendUint64(dst, uint64(base.MakeTrailer(base.SeqNumMax, base.KindMax)))
}

// writeBlock compresses and writes a block with its trailer.
func (w *Writer) writeBlock(raw []byte, c Compression) (BlockHandle, error) {
	stored, used := compressBlock(w.scratch[:0], c, raw)
	trailer := [blockTrailerSize]byte{byte(used)}
	binary.LittleEndian.PutUint32(trailer[1:], base.MaskedCRC(stored, trailer[:1]))
	h := BlockHandle{Offset: w.offset, Length: uint64(len(stored))}
	if _, err := w.out.Write(stored); err != nil {
		return h, w.fail(err)
	}
	if _, err := w.out.Write(trailer[:]); err != nil {
		return h, w.fail(err)
	}
	w.offset += uint64(len(stored)) + blockTrailerSize
	w.scratch = stored[:0]
	return h, nil
}

func (w *Writer) fail(err error) error {
	w.err = fmt.Errorf("sstable: write: %w", err)
	return w.err
}

// EstimatedSize returns the bytes written so far plus the current block.
func (w *Writer) EstimatedSize() uint64 {
	return w.offset + uint64(w.data.estimatedSize())
}

// Finish writes the last data block, the filter, index, properties and
// metaindex blocks and the footer, syncs the file and closes it. The table
// is durable when Finish returns nil. It returns the table's properties.
// A table must hold at least one entry.
func (w *Writer) Finish() (*Properties, error) {
	if w.err != nil {
		w.Abort()
		return nil, w.err
	}
	spans := rangedel.Fragment(w.cmp, w.rangeDels)
	if w.props.NumEntries == 0 && len(spans) == 0 {
		w.Abort()
		return nil, errors.New("sstable: a table must hold at least one key or range tombstone")
	}
	w.finished = true
	if w.props.NumEntries > 0 {
		w.props.LargestKey = append([]byte(nil), w.lastKey...)
	}
	w.widenBounds(spans)
	if err := w.flushData(); err != nil {
		w.Abort()
		return nil, err
	}
	if w.pending {
		w.addIndexEntry(w.lastKey, nil)
	}

	meta := blockWriter{restartInterval: 1}
	var filterHandle BlockHandle
	if w.filter != nil {
		h, err := w.writeBlock(w.filter.finish(), NoCompression)
		if err != nil {
			w.Abort()
			return nil, err
		}
		filterHandle = h
		w.props.FilterSize = h.Length + blockTrailerSize
	}
	var rangeDelHandle BlockHandle
	if len(spans) > 0 {
		h, err := w.writeBlock(encodeRangeDels(spans), NoCompression)
		if err != nil {
			w.Abort()
			return nil, err
		}
		rangeDelHandle = h
		w.props.RangeDelSize = h.Length + blockTrailerSize
	}
	indexHandle, err := w.writeBlock(w.index.finish(), NoCompression)
	if err != nil {
		w.Abort()
		return nil, err
	}
	w.props.IndexSize = indexHandle.Length + blockTrailerSize
	propsHandle, err := w.writeBlock(w.props.encode(), NoCompression)
	if err != nil {
		w.Abort()
		return nil, err
	}
	// Metaindex entries are sorted by name.
	if w.filter != nil {
		meta.add([]byte(metaFilterName), appendHandle(nil, filterHandle))
	}
	meta.add([]byte(metaPropertiesName), appendHandle(nil, propsHandle))
	if len(spans) > 0 {
		meta.add([]byte(metaRangeDelName), appendHandle(nil, rangeDelHandle))
	}
	metaHandle, err := w.writeBlock(meta.finish(), NoCompression)
	if err != nil {
		w.Abort()
		return nil, err
	}
	ft := footer{metaindex: metaHandle, index: indexHandle, version: FormatVersion}
	if _, err := w.out.Write(ft.encode()); err != nil {
		w.Abort()
		return nil, w.fail(err)
	}
	w.offset += FooterSize
	if err := w.out.Flush(); err != nil {
		w.Abort()
		return nil, w.fail(err)
	}
	if err := w.f.Sync(); err != nil {
		w.Abort()
		return nil, fmt.Errorf("sstable: sync: %w", err)
	}
	err = w.f.Close()
	w.f = nil
	if err != nil {
		return nil, fmt.Errorf("sstable: close: %w", err)
	}
	props := w.props
	return &props, nil
}

// widenBounds makes the table's key and sequence number ranges cover the
// range tombstones' spans, and counts them.
func (w *Writer) widenBounds(spans []rangedel.Span) {
	if len(spans) == 0 {
		return
	}
	p := &w.props
	lo, hi, _ := rangedel.TableBounds(w.cmp, decodeKey(p.SmallestKey), decodeKey(p.LargestKey), p.NumEntries > 0, spans)
	p.SmallestKey, p.LargestKey = encodeKey(lo), encodeKey(hi)
	if p.NumEntries == 0 {
		p.SmallestSeq = math.MaxUint64 // the spans set it
	}
	for _, s := range spans {
		p.NumRangeDeletions += uint64(len(s.Seqs))
		p.SmallestSeq = min(p.SmallestSeq, uint64(s.Seqs[len(s.Seqs)-1]))
		p.LargestSeq = max(p.LargestSeq, uint64(s.Seqs[0]))
	}
}

func encodeKey(k base.InternalKey) []byte {
	b := make([]byte, k.Size())
	k.Encode(b)
	return b
}

// encodeRangeDels returns the range-deletion block: one entry per span and
// sequence number, keyed by the internal key (start, seq, RANGEDEL), the
// value the span's end — in internal-key order, because spans are sorted
// and do not overlap and their sequence numbers decrease.
func encodeRangeDels(spans []rangedel.Span) []byte {
	b := blockWriter{restartInterval: 1}
	for _, t := range rangedel.Tombstones(spans) {
		b.add(encodeKey(base.MakeInternalKey(t.Start, t.Seq, base.KindRangeDelete)), t.End)
	}
	return b.finish()
}

// Abort closes the file without finishing the table. The caller removes the
// file.
func (w *Writer) Abort() {
	if w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
	w.finished = true
}

// Size returns the file size once Finish has returned.
func (w *Writer) Size() uint64 { return w.offset }
