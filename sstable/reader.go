package sstable

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/rangedel"
)

// ReadableFile is what a Reader needs of a file.
type ReadableFile interface {
	io.ReaderAt
	io.Closer
}

// ReaderOptions configure a Reader.
type ReaderOptions struct {
	// Cache, when set, holds the table's decoded data blocks, keyed by
	// (CacheID, FileNum, block offset).
	Cache   *Cache
	CacheID uint64
	FileNum FileNum
	// Stats, when set, counts the filter's answers (shared by the tables
	// of a DB).
	Stats *ReaderStats
	// Comparer must be the one the table was written with (checked by
	// name). Default, and for now the only one supported, is
	// base.DefaultComparer (bytewise).
	Comparer *base.Comparer
}

// Reader reads one table. Open reads and checks the footer, metaindex,
// properties, index and filter blocks and keeps them in memory; data blocks
// are read on demand, checked and decompressed, and kept in the block cache.
//
// Every block's checksum is verified when it is read; bytes that fail any
// check are reported as a *dkv.CorruptionError (matching
// dkv.ErrCorruption) naming the file and the block's offset, never
// returned as data.
//
// A Reader is safe for concurrent use. A value Get returns is the caller's
// own copy; an iterator's keys and values point into the block it holds,
// valid until it moves on (see Iterator).
type Reader struct {
	f      ReadableFile
	name   string
	size   int64
	opts   ReaderOptions
	order  keyOrder // of data and index blocks
	index  []byte   // the index block, checked
	filter []byte   // the bloom filter, or nil
	props  *Properties
	footer footer
	meta   map[string]BlockHandle
	// rangeDels are the table's range tombstones, fragmented; empty for a
	// table without them.
	rangeDels *rangedel.List
}

// Open returns a Reader of the table held by f, of size bytes. name is used
// in errors. On error f is not closed.
func Open(f ReadableFile, name string, size int64, opts ReaderOptions) (*Reader, error) {
	if opts.Comparer == nil {
		opts.Comparer = base.DefaultComparer
	}
	r := &Reader{f: f, name: name, size: size, opts: opts, meta: map[string]BlockHandle{}}
	r.order = keyOrder{internal: true}
	if opts.Comparer.Name != base.DefaultComparer.Name {
		return nil, fmt.Errorf("sstable: comparer %q is not supported: tables order keys bytewise", opts.Comparer.Name)
	}
	if size < FooterSize {
		return nil, r.corrupt(0, "file of %d bytes is shorter than a footer", size)
	}
	buf := make([]byte, FooterSize)
	if _, err := f.ReadAt(buf, size-FooterSize); err != nil {
		return nil, fmt.Errorf("sstable: read footer of %s: %w", name, err)
	}
	ft, err := decodeFooter(buf)
	if err != nil {
		if errors.Is(err, errVersion) {
			return nil, fmt.Errorf("sstable: %s: %w", name, err)
		}
		return nil, r.corrupt(size-FooterSize, "%v", err)
	}
	r.footer = ft

	metaBlock, err := r.readChecked(ft.metaindex, "metaindex", false)
	if err != nil {
		return nil, err
	}
	var it blockIter
	it.initTrusted(metaBlock, keyOrder{})
	for ok := it.first(); ok; ok = it.next() {
		h, rest, ok := decodeHandle(it.val)
		if !ok || len(rest) != 0 {
			return nil, r.corrupt(int64(ft.metaindex.Offset), "bad handle for %q in the metaindex", it.key)
		}
		r.meta[string(it.key)] = h
	}
	if it.err != nil {
		return nil, r.corrupt(int64(ft.metaindex.Offset), "metaindex: %v", it.err)
	}

	ph, ok := r.meta[metaPropertiesName]
	if !ok {
		return nil, r.corrupt(int64(ft.metaindex.Offset), "no properties block in the metaindex")
	}
	propsBlock, err := r.readChecked(ph, "properties", false)
	if err != nil {
		return nil, err
	}
	if r.props, err = decodeProperties(propsBlock); err != nil {
		return nil, r.corrupt(int64(ph.Offset), "properties: %v", err)
	}
	if r.props.ComparerName != opts.Comparer.Name {
		return nil, fmt.Errorf("sstable: %s was written with comparer %q, not %q", name, r.props.ComparerName, opts.Comparer.Name)
	}
	if r.index, err = r.readChecked(ft.index, "index", true); err != nil {
		return nil, err
	}
	if fh, ok := r.meta[metaFilterName]; ok {
		if r.filter, err = r.readBlock(fh, "filter"); err != nil {
			return nil, err
		}
	}
	if rh, ok := r.meta[metaRangeDelName]; ok {
		if r.rangeDels, err = r.readRangeDels(rh); err != nil {
			return nil, err
		}
	} else if r.props.NumRangeDeletions != 0 {
		return nil, r.corrupt(int64(ft.metaindex.Offset), "properties count %d range tombstones, the metaindex has no block for them", r.props.NumRangeDeletions)
	}
	return r, nil
}

// readRangeDels reads and checks the range-deletion block: entries in
// internal-key order, each a RANGEDEL key whose value is the end key,
// forming spans that neither overlap nor leave the table's key range.
func (r *Reader) readRangeDels(h BlockHandle) (*rangedel.List, error) {
	block, err := r.readChecked(h, "range-deletion", true)
	if err != nil {
		return nil, err
	}
	cmp := r.opts.Comparer.Compare
	var spans []rangedel.Span
	var it blockIter
	it.initTrusted(block, r.order)
	n := uint64(0)
	for ok := it.first(); ok; ok = it.next() {
		k := decodeKey(it.key)
		if k.Kind() != base.KindRangeDelete {
			return nil, r.corrupt(int64(h.Offset), "range-deletion block holds %s", k)
		}
		if last := len(spans) - 1; last >= 0 && cmp(spans[last].Start, k.UserKey) == 0 {
			if cmp(spans[last].End, it.val) != 0 {
				return nil, r.corrupt(int64(h.Offset), "range tombstones from %q end at both %q and %q", k.UserKey, spans[last].End, it.val)
			}
			spans[last].Seqs = append(spans[last].Seqs, k.SeqNum())
		} else {
			start := append([]byte(nil), k.UserKey...)
			spans = append(spans, rangedel.Span{Start: start, End: append([]byte(nil), it.val...), Seqs: []base.SeqNum{k.SeqNum()}})
		}
		n++
	}
	if it.err != nil {
		return nil, r.corrupt(int64(h.Offset), "range-deletion block: %v", it.err)
	}
	if err := rangedel.Check(cmp, spans); err != nil {
		return nil, r.corrupt(int64(h.Offset), "range-deletion block: %v", err)
	}
	if n != r.props.NumRangeDeletions {
		return nil, r.corrupt(int64(h.Offset), "range-deletion block holds %d entries, the properties say %d", n, r.props.NumRangeDeletions)
	}
	if len(spans) > 0 {
		lo, hi := r.props.Smallest(), r.props.Largest()
		if cmp(spans[0].Start, lo.UserKey) < 0 || cmp(spans[len(spans)-1].End, hi.UserKey) > 0 {
			return nil, r.corrupt(int64(h.Offset), "range tombstones [%q, %q) leave the table's key range %s-%s", spans[0].Start, spans[len(spans)-1].End, lo, hi)
		}
	}
	return rangedel.NewList(cmp, spans), nil
}

// RangeDels returns the table's range tombstones, fragmented (empty when it
// has none). They were read and checked by Open.
func (r *Reader) RangeDels() *rangedel.List { return r.rangeDels }

var errVersion = errors.New("unsupported format version")

// readBlock reads, checks and decompresses the block at h.
func (r *Reader) readBlock(h BlockHandle, what string) ([]byte, error) {
	return r.readBlockFrom(h, what, nil, heapAlloc)
}

// heapAlloc allocates a block that the garbage collector frees: the
// blocks a Reader keeps for its lifetime (index, filter, properties).
func heapAlloc(n int) []byte { return make([]byte, n) }

// readBlockFrom is readBlock, taking the stored bytes from ra's buffer
// when it holds them (or can read them ahead), and from the file
// otherwise, and decoding them into a buffer from alloc.
func (r *Reader) readBlockFrom(h BlockHandle, what string, ra *readahead, alloc func(n int) []byte) ([]byte, error) {
	dataEnd := uint64(r.size - FooterSize)
	if h.Offset > dataEnd || h.Length > dataEnd-h.Offset || blockTrailerSize > dataEnd-h.Offset-h.Length {
		return nil, r.corrupt(int64(min(h.Offset, uint64(r.size))), "%s block handle (offset %d, length %d) runs past the data", what, h.Offset, h.Length)
	}
	n := h.Length + blockTrailerSize
	var buf []byte
	if ra != nil {
		var err error
		if buf, err = ra.read(r, h.Offset, n, dataEnd); err != nil {
			return nil, fmt.Errorf("sstable: read %s block of %s at offset %d: %w", what, r.name, h.Offset, err)
		}
	}
	if buf == nil {
		b, release := readBuffer(int(n))
		defer release()
		if _, err := r.f.ReadAt(b, int64(h.Offset)); err != nil {
			return nil, fmt.Errorf("sstable: read %s block of %s at offset %d: %w", what, r.name, h.Offset, err)
		}
		buf = b
	}
	stored, trailer := buf[:h.Length], buf[h.Length:]
	if binary.LittleEndian.Uint32(trailer[1:]) != base.MaskedCRC(stored, trailer[:1]) {
		return nil, r.corrupt(int64(h.Offset), "%s block checksum mismatch", what)
	}
	block, err := decompressBlock(Compression(trailer[0]), stored, alloc) // a copy: buf is reused
	if err != nil {
		return nil, r.corrupt(int64(h.Offset), "%s block: %v", what, err)
	}
	return block, nil
}

// readahead lets an iterator that reads a table's blocks in order fetch
// several with one read from the file. It starts after two blocks read
// back to back, with minReadahead bytes, and doubles up to maxReadahead
// while the reads stay sequential; a jump (a seek, a step backward) starts
// it over. Blocks still go through the block cache, and each is checked
// and decompressed on its own: only the system calls are shared. RocksDB's
// iterators do the same ("auto readahead").
type readahead struct {
	buf  []byte // file bytes [off, off+len(buf))
	off  uint64
	next uint64 // where the block after the last one read begins
	runs int    // blocks read back to back so far
	size uint64 // bytes the next read ahead fetches
}

const (
	minReadahead = 16 << 10
	maxReadahead = 128 << 10
)

// observe records that the iterator is loading the block of n stored bytes
// at off, from the cache or not: what makes a run of sequential loads.
func (ra *readahead) observe(off, n uint64) {
	if off == ra.next {
		ra.runs++
	} else {
		ra.runs, ra.size = 0, 0
	}
	ra.next = off + n
}

// read returns the n stored bytes at off, from the buffer or from a read
// ahead that refills it; nil when the loads are not sequential enough to
// read ahead (the caller reads the block alone). The bytes are valid until
// the next call.
func (ra *readahead) read(r *Reader, off, n, dataEnd uint64) ([]byte, error) {
	if off >= ra.off && off+n <= ra.off+uint64(len(ra.buf)) {
		return ra.buf[off-ra.off : off-ra.off+n], nil
	}
	if ra.runs < 2 {
		return nil, nil
	}
	ra.size = min(max(ra.size*2, minReadahead), maxReadahead)
	want := min(max(ra.size, n), dataEnd-off)
	if uint64(cap(ra.buf)) < want {
		ra.buf = make([]byte, want, max(want, minReadahead))
	}
	ra.buf, ra.off = ra.buf[:want], off
	if _, err := r.f.ReadAt(ra.buf, int64(off)); err != nil {
		ra.buf = ra.buf[:0]
		return nil, err
	}
	return ra.buf[:n], nil
}

// maxPooledRead bounds the reads readBuffer serves from its pool: data
// blocks are a few KiB; a larger block (a big value) gets its own buffer.
const maxPooledRead = 64 << 10

// readBufPool holds the buffers stored blocks are read into. A block is
// decompressed (or, stored raw, copied) out of its buffer, which is then
// garbage: reusing it saves an allocation per block read from the file.
var readBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// readBuffer returns a buffer of n bytes and the func that gives it back.
func readBuffer(n int) ([]byte, func()) {
	if n > maxPooledRead {
		return make([]byte, n), func() {}
	}
	bp := readBufPool.Get().(*[]byte)
	if cap(*bp) < n {
		*bp = make([]byte, n, max(n, 16<<10))
	}
	return (*bp)[:n], func() { readBufPool.Put(bp) }
}

// readChecked reads a block into the Go heap (a block the Reader keeps)
// and checks its structure (restart array); internal says its keys are
// internal keys.
func (r *Reader) readChecked(h BlockHandle, what string, internal bool) ([]byte, error) {
	block, err := r.readBlockFrom(h, what, nil, heapAlloc)
	if err != nil {
		return nil, err
	}
	return block, r.checkStructure(h, what, block, internal)
}

// checkStructure checks a block's restart array and entries' framing.
func (r *Reader) checkStructure(h BlockHandle, what string, block []byte, internal bool) error {
	var it blockIter
	order := keyOrder{}
	if internal {
		order = r.order
	}
	if err := it.init(block, order); err != nil {
		return r.corrupt(int64(h.Offset), "%s block: %v", what, err)
	}
	return nil
}

// dataBlock returns the checked data block at h with a reference the
// caller must release, from the cache if there (cached says so); a block
// read from the file joins the cache when fill is set. A miss reads
// through ra, if not nil (an iterator's readahead).
func (r *Reader) dataBlock(h BlockHandle, fill bool, ra *readahead) (block *blockBuf, cached bool, err error) {
	if ra != nil {
		ra.observe(h.Offset, h.Length+blockTrailerSize)
	}
	c := r.opts.Cache
	if c != nil {
		if b := c.get(r.opts.CacheID, r.opts.FileNum, h.Offset); b != nil {
			return b, true, nil
		}
	}
	var b *blockBuf
	data, err := r.readBlockFrom(h, "data", ra, func(n int) []byte {
		b = newBlockBuf(n)
		return b.data
	})
	if err == nil {
		b.data = data // the same memory, resliced
		err = r.checkStructure(h, "data", data, true)
	}
	if err != nil {
		if b != nil {
			b.release()
		}
		return nil, false, err
	}
	if c != nil && fill {
		c.set(r.opts.CacheID, r.opts.FileNum, h.Offset, b)
	}
	return b, false, nil
}

func (r *Reader) corrupt(off int64, format string, args ...any) error {
	return base.CorruptionErrorf(r.name, off, "sstable: "+format, args...)
}

// ReaderStats count what readers' bloom filters said.
type ReaderStats struct {
	FilterChecks    atomic.Int64 // lookups that consulted a filter
	FilterNegatives atomic.Int64 // of them, answered "absent" (a block read saved)
}

// MayContain reports what the bloom filter says of userKey: false means the
// table holds no version of it. Without a filter it is always true.
func (r *Reader) MayContain(userKey []byte) bool {
	if r.filter == nil {
		return true
	}
	ok := bloomMayContain(r.filter, userKey)
	if st := r.opts.Stats; st != nil {
		st.FilterChecks.Add(1)
		if !ok {
			st.FilterNegatives.Add(1)
		}
	}
	return ok
}

// Get returns the newest version of userKey with a sequence number at or
// below seq: its value (the caller's own copy) and trailer. found is false
// when the table holds no such version.
func (r *Reader) Get(userKey []byte, seq SeqNum) (value []byte, trailer Trailer, found bool, err error) {
	value, trailer, found, _, err = r.get(userKey, seq, nil)
	return value, trailer, found, err
}

// Lookup is Get, also reporting whether the table was searched: false when
// the bloom filter ruled the key out without a block read.
func (r *Reader) Lookup(userKey []byte, seq SeqNum) (value []byte, trailer Trailer, found, searched bool, err error) {
	return r.get(userKey, seq, nil)
}

// GetTrace records the steps of one GetTraced, for explaining a read:
// what the bloom filter said and which blocks were read.
type GetTrace struct {
	Filter FilterAnswer
	Blocks []BlockRead // in the order read; none when the filter answered
}

// FilterAnswer is what a table's bloom filter said of a key.
type FilterAnswer int

const (
	FilterNone       FilterAnswer = iota // the table has no filter
	FilterAbsent                         // the key is certainly not in the table
	FilterMayContain                     // the key may be in the table
)

func (a FilterAnswer) String() string {
	switch a {
	case FilterAbsent:
		return "absent"
	case FilterMayContain:
		return "may contain"
	}
	return "no filter"
}

// BlockRead is one data block a traced Get read: the index entry that led
// to it (a separator: an internal key at or above every key of the block),
// where it lies, and whether it came from the block cache.
type BlockRead struct {
	IndexKey InternalKey
	Handle   BlockHandle
	Cached   bool
}

// GetTraced is Get, recording its steps in t.
func (r *Reader) GetTraced(userKey []byte, seq SeqNum, t *GetTrace) (value []byte, trailer Trailer, found bool, err error) {
	*t = GetTrace{Filter: FilterNone}
	value, trailer, found, _, err = r.get(userKey, seq, t)
	return value, trailer, found, err
}

// get is Lookup, recording its steps in t when t is not nil.
func (r *Reader) get(userKey []byte, seq base.SeqNum, t *GetTrace) (value []byte, trailer base.Trailer, found, searched bool, err error) {
	if !r.MayContain(userKey) {
		if t != nil {
			t.Filter = FilterAbsent
		}
		return nil, 0, false, false, nil
	}
	if t != nil && r.filter != nil {
		t.Filter = FilterMayContain
	}
	g := getStatePool.Get().(*getState)
	defer getStatePool.Put(g)
	g.search = appendSearchKeySeq(g.search[:0], userKey, seq)
	search, ii, bi := g.search, &g.index, &g.data
	ii.initTrusted(r.index, r.order)
	for ok := ii.seekGE(search); ok; ok = ii.next() {
		h, _, hok := decodeHandle(ii.val)
		if !hok {
			return nil, 0, false, true, r.corrupt(int64(r.footer.index.Offset), "bad block handle in the index")
		}
		block, cached, err := r.dataBlock(h, true, nil)
		if err != nil {
			return nil, 0, false, true, err
		}
		if t != nil {
			k := decodeKey(ii.key)
			k.UserKey = bytes.Clone(k.UserKey)
			t.Blocks = append(t.Blocks, BlockRead{IndexKey: k, Handle: h, Cached: cached})
		}
		bi.initTrusted(block.data, r.order)
		if bi.seekGE(search) {
			k := decodeKey(bi.key)
			if !bytes.Equal(k.UserKey, userKey) {
				bi.clear()
				block.release()
				return nil, 0, false, true, nil
			}
			value = bytes.Clone(bi.val) // the caller's: the block goes back
			if value == nil {
				value = []byte{}
			}
			bi.clear()
			block.release()
			return value, k.Trailer, true, true, nil
		}
		err = bi.err
		bi.clear()
		block.release()
		if err != nil {
			return nil, 0, false, true, r.corrupt(int64(h.Offset), "data block: %v", err)
		}
		// Every key of this block is below the search key; the separator
		// was above it: the answer, if any, starts the next block.
	}
	if ii.err != nil {
		return nil, 0, false, true, r.corrupt(int64(r.footer.index.Offset), "index block: %v", ii.err)
	}
	return nil, 0, false, true, nil
}

// getState is the scratch space of a Get, pooled so that lookups do not
// allocate: the iterators' key buffers and the search key.
type getState struct {
	index, data blockIter
	search      []byte
}

var getStatePool = sync.Pool{New: func() any { return new(getState) }}

// appendSearchKeySeq appends the encoded internal key (u, seq, KindMax).
func appendSearchKeySeq(dst, u []byte, seq base.SeqNum) []byte {
	dst = append(dst, u...)
	return binary.LittleEndian.AppendUint64(dst, uint64(base.MakeTrailer(seq, base.KindMax)))
}

// Properties returns the table's properties. Do not modify them.
func (r *Reader) Properties() *Properties { return r.props }

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }
