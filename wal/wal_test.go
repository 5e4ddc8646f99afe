package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
)

// durability tracks what a Writer reported through OnSync.
type durability struct {
	mu      sync.Mutex
	cond    sync.Cond
	durable int64
	err     error
}

func newDurability() *durability {
	d := &durability{}
	d.cond.L = &d.mu
	return d
}

func (d *durability) onSync(off int64, err error) {
	d.mu.Lock()
	if err != nil {
		d.err = err
	} else if off > d.durable {
		d.durable = off
	}
	d.cond.Broadcast()
	d.mu.Unlock()
}

// wait blocks until off is durable or the writer failed.
func (d *durability) wait(off int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.durable < off && d.err == nil {
		d.cond.Wait()
	}
	return d.err
}

// writeLog writes recs to a new log in fs and returns the offset just past
// each record. Records with sync[i] set are waited on until durable.
func writeLog(t testing.TB, fs vfs.FS, name string, recs [][]byte, sync func(i int) bool) []int64 {
	t.Helper()
	f, err := fs.Create(name)
	require.NoError(t, err)
	d := newDurability()
	w, err := NewWriter(f, name, 7, WriterOptions{OnSync: d.onSync})
	require.NoError(t, err)
	ends := make([]int64, len(recs))
	for i, rec := range recs {
		s := sync != nil && sync(i)
		ends[i], err = w.Append(rec, s)
		require.NoError(t, err)
		if s {
			require.NoError(t, d.wait(ends[i]))
		}
	}
	require.NoError(t, w.Close())
	return ends
}

// readLog reads every record of a log held in data.
func readLog(data []byte, logNum base.FileNum) (recs [][]byte, tail Tail, err error) {
	r := NewReader(bytes.NewReader(data), int64(len(data)), "test.log", logNum)
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return recs, r.Tail(), nil
		}
		if err != nil {
			return recs, Tail{}, err
		}
		recs = append(recs, bytes.Clone(rec))
	}
}

func fileBytes(t testing.TB, fs vfs.FS, name string) []byte {
	t.Helper()
	f, err := fs.Open(name)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

func record(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*31 + j)
	}
	return b
}

// Records of every interesting size come back whole and in order: empty,
// tiny, ones that end just at or around block boundaries, and ones spanning
// several blocks.
func TestRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 100, BlockSize - FileHeaderSize - ChunkHeaderSize - RecordPrefixSize,
		BlockSize - 2*ChunkHeaderSize - RecordPrefixSize, BlockSize - 3, BlockSize, 3*BlockSize + 17, 5, 0}
	for k := 0; k < ChunkHeaderSize+RecordPrefixSize+2; k++ {
		// Leave k bytes free at the end of a block, around the padding
		// thresholds.
		sizes = append(sizes, BlockSize-ChunkHeaderSize-RecordPrefixSize-k, 1)
	}
	var recs [][]byte
	for i, n := range sizes {
		recs = append(recs, record(i, n))
	}
	fs := vfs.NewMem()
	ends := writeLog(t, fs, "a.log", recs, func(i int) bool { return i%3 == 0 })
	data := fileBytes(t, fs, "a.log")
	require.Equal(t, ends[len(ends)-1]+sealSize, int64(len(data)), "the seal follows the last record")

	got, tail, err := readLog(data, 7)
	require.NoError(t, err)
	require.False(t, tail.Torn)
	require.Equal(t, int64(len(data)), tail.End)
	require.Equal(t, len(recs), len(got))
	for i := range recs {
		require.True(t, bytes.Equal(recs[i], got[i]), "record %d (size %d)", i, len(recs[i]))
	}
}

// A log cut at any byte (a crash mid-append) yields exactly the records that
// were whole before the cut, and a torn tail unless the cut falls on a record
// boundary. No cut is reported as corruption.
func TestTornTailEveryCut(t *testing.T) {
	recs := [][]byte{record(1, 10), record(2, 200), record(3, BlockSize+100), record(4, 0), record(5, 50)}
	fs := vfs.NewMem()
	ends := writeLog(t, fs, "a.log", recs, nil)
	data := fileBytes(t, fs, "a.log")
	require.Equal(t, ends[len(ends)-1]+sealSize, int64(len(data)), "Close seals the log")
	ends = append(ends, int64(len(data))) // the seal ends a whole log

	for cut := 0; cut <= len(data); cut++ {
		got, tail, err := readLog(data[:cut], 7)
		require.NoError(t, err, "cut at %d", cut)
		whole := 0
		for whole < len(ends) && ends[whole] <= int64(cut) {
			whole++
		}
		require.Len(t, got, min(whole, len(recs)), "cut at %d", cut)
		end := int64(0)
		if whole > 0 {
			end = ends[whole-1]
		} else if cut >= FileHeaderSize {
			end = FileHeaderSize
		}
		require.Equal(t, end, tail.End, "cut at %d", cut)
		require.Equal(t, int64(cut) != end, tail.Torn, "cut at %d: %+v", cut, tail)
	}
}

// Zeros after the last record (a file whose size reached the disk before its
// data) are a torn tail.
func TestZeroedTail(t *testing.T) {
	fs := vfs.NewMem()
	ends := writeLog(t, fs, "a.log", [][]byte{record(1, 10), record(2, 20)}, nil)
	data := append(fileBytes(t, fs, "a.log"), make([]byte, 3000)...)
	got, tail, err := readLog(data, 7)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.True(t, tail.Torn)
	require.Equal(t, ends[1]+sealSize, tail.End)
	require.Contains(t, tail.Reason, "zeroed")
}

// Damage in bytes that a later intact record shows were fsynced is
// corruption, reported with the file and the offset of the damage — never
// skipped, never truncated.
func TestSyncedDamageIsCorruption(t *testing.T) {
	recs := make([][]byte, 20)
	for i := range recs {
		recs[i] = record(i, 100+i)
	}
	fs := vfs.NewMem()
	ends := writeLog(t, fs, "a.log", recs, func(int) bool { return true })
	clean := fileBytes(t, fs, "a.log")

	for _, victim := range []int{0, 5, 18} {
		start := int64(FileHeaderSize)
		if victim > 0 {
			start = ends[victim-1]
		}
		for _, at := range []int64{start, start + 6, start + ChunkHeaderSize + 3, ends[victim] - 1} {
			data := bytes.Clone(clean)
			data[at] ^= 0x40
			got, _, err := readLog(data, 7)
			require.Error(t, err, "flip at %d", at)
			require.True(t, errors.Is(err, base.ErrCorruption), "flip at %d: %v", at, err)
			var ce *base.CorruptionError
			require.True(t, errors.As(err, &ce))
			require.Equal(t, "test.log", ce.File)
			require.Equal(t, start, ce.Offset, "flip at %d: %v", at, err)
			require.Len(t, got, victim, "records before the damage are returned")
		}
	}
}

// Damage in bytes no fsync covered is a torn tail even when intact records
// follow it: pages of an unsynced append may reach the disk out of order, and
// none of those writes was promised durable. The log ends before the damage.
func TestUnsyncedHoleIsTornTail(t *testing.T) {
	recs := make([][]byte, 30)
	for i := range recs {
		recs[i] = record(i, 500)
	}
	fs := vfs.NewMem()
	// Records 0..9 are synced; 10..29 are not. Cutting off the seal that
	// Close wrote leaves the log a crash would have left.
	ends := writeLog(t, fs, "a.log", recs, func(i int) bool { return i == 9 })
	data := fileBytes(t, fs, "a.log")
	data = data[:len(data)-sealSize]
	hole := ends[14] // start of record 15
	clear(data[hole : hole+300])

	got, tail, err := readLog(data, 7)
	require.NoError(t, err)
	require.Len(t, got, 15)
	require.True(t, tail.Torn)
	require.Equal(t, hole, tail.End)

	// The same hole inside the synced part is corruption.
	data = fileBytes(t, fs, "a.log")
	data = data[:len(data)-sealSize]
	clear(data[ends[4] : ends[4]+300])
	_, _, err = readLog(data, 7)
	require.True(t, errors.Is(err, base.ErrCorruption), "%v", err)

	// And with the seal, which vouches for the whole log, the hole in the
	// unsynced part is corruption too.
	data = fileBytes(t, fs, "a.log")
	clear(data[hole : hole+300])
	_, _, err = readLog(data, 7)
	require.True(t, errors.Is(err, base.ErrCorruption), "%v", err)
}

// A value that holds the bytes of a well-formed chunk cannot pass for one:
// chunk checksums are seeded with the log's random salt. Without that, a
// stored value could claim durability for a hole and turn an ordinary crash
// into a refusal to open.
func TestValueCannotForgeChunk(t *testing.T) {
	fs := vfs.NewMem()
	// A forged chunk with the salt unknown to the writer of the value:
	// checksummed as an unsalted chunk would be.
	forged := appendChunk(nil, 0, ChunkFull, make([]byte, RecordPrefixSize+4))
	binary.LittleEndian.PutUint64(forged[ChunkHeaderSize:], uint64(FileHeaderSize+1))
	binary.LittleEndian.PutUint32(forged[0:], chunkChecksum(saltSeed(12345), forged[4:]))
	value := append(bytes.Repeat([]byte{'v'}, 6000), forged...)
	value = append(value, bytes.Repeat([]byte{'w'}, 100)...)
	ends := writeLog(t, fs, "a.log", [][]byte{record(1, 10), value}, nil)
	data := fileBytes(t, fs, "a.log")
	data = data[:len(data)-sealSize] // crash before Close
	clear(data[ends[0]+100 : ends[0]+4196])
	got, tail, err := readLog(data, 7)
	require.NoError(t, err)
	require.True(t, tail.Torn)
	require.Len(t, got, 1)
}

// The file header: an empty file or a cut header is an empty log (a crash
// while the file was created); any other bad header is corruption, a wrong
// log number is corruption, and a newer format version is refused.
func TestFileHeader(t *testing.T) {
	fs := vfs.NewMem()
	writeLog(t, fs, "a.log", [][]byte{record(1, 10)}, nil)
	data := fileBytes(t, fs, "a.log")

	got, tail, err := readLog(nil, 7)
	require.NoError(t, err)
	require.Empty(t, got)
	require.Equal(t, Tail{}, tail)

	_, tail, err = readLog(data[:FileHeaderSize-1], 7)
	require.NoError(t, err)
	require.True(t, tail.Torn)
	require.Equal(t, int64(0), tail.End)

	bad := bytes.Clone(data)
	bad[ChunkHeaderSize+1] ^= 1 // inside the magic
	_, _, err = readLog(bad, 7)
	require.True(t, errors.Is(err, base.ErrCorruption), "%v", err)

	_, _, err = readLog(data, 8)
	require.True(t, errors.Is(err, base.ErrCorruption), "%v", err)
	require.Contains(t, err.Error(), "names log 000007")

	// Rewrite the header with version 2 and a valid checksum.
	future := bytes.Clone(data)
	payload := appendFileHeader(nil, 7, 1)
	payload[len(Magic)] = 2
	copy(future, appendChunk(nil, 0, ChunkHeader, payload))
	_, _, err = readLog(future, 7)
	require.Error(t, err)
	require.False(t, errors.Is(err, base.ErrCorruption))
	require.Contains(t, err.Error(), "version 2")
}

// Chunks that are intact but out of order cannot come from a torn write:
// corruption.
func TestFragmentOrder(t *testing.T) {
	const salt = 99
	seed := saltSeed(salt)
	hdr := appendChunk(nil, 0, ChunkHeader, appendFileHeader(nil, 7, salt))
	prefix := make([]byte, RecordPrefixSize)
	prefix[0] = byte(len(hdr))
	cases := map[string][]byte{
		"middle without first": appendChunk(bytes.Clone(hdr), seed, ChunkMiddle, []byte("x")),
		"first then full": appendChunk(appendChunk(bytes.Clone(hdr), seed, ChunkFirst, prefix),
			seed, ChunkFull, prefix),
		"header inside":     appendChunk(bytes.Clone(hdr), seed, ChunkHeader, appendFileHeader(nil, 7, salt)),
		"short first chunk": appendChunk(bytes.Clone(hdr), seed, ChunkFull, []byte{1, 2}),
		"seal inside a record": appendChunk(appendChunk(bytes.Clone(hdr), seed, ChunkFirst, prefix),
			seed, ChunkSeal, prefix),
		"seal past itself": appendChunk(bytes.Clone(hdr), seed, ChunkSeal, []byte{0xff, 0, 0, 0, 0, 0, 0, 0}),
	}
	for name, data := range cases {
		_, _, err := readLog(data, 7)
		require.True(t, errors.Is(err, base.ErrCorruption), "%s: %v", name, err)
	}
}

// OpenWriter continues a log after its last whole record, and the
// continued log reads back as one.
func TestOpenWriterContinues(t *testing.T) {
	fs := vfs.NewMem()
	writeLog(t, fs, "a.log", [][]byte{record(1, 10), record(2, BlockSize)}, nil)
	data := append(fileBytes(t, fs, "a.log"), 1, 2, 3) // a torn tail
	writeFile(t, fs, "a.log", data)

	f, err := fs.OpenReadWrite("a.log")
	require.NoError(t, err)
	r := NewReader(f, int64(len(data)), "a.log", 7)
	_, err = OpenWriter(f, "a.log", r, WriterOptions{})
	require.Error(t, err, "the reader has not reached the end")
	for {
		if _, err := r.Next(); err != nil {
			require.ErrorIs(t, err, io.EOF)
			break
		}
	}
	require.True(t, r.Tail().Torn)
	require.NoError(t, f.Truncate(r.Tail().End))
	require.NoError(t, f.Sync())
	d := newDurability()
	w, err := OpenWriter(f, "a.log", r, WriterOptions{OnSync: d.onSync})
	require.NoError(t, err)
	end, err := w.Append(record(3, 33), true)
	require.NoError(t, err)
	require.NoError(t, d.wait(end))
	require.NoError(t, w.Close())

	got, tail, err := readLog(fileBytes(t, fs, "a.log"), 7)
	require.NoError(t, err)
	require.False(t, tail.Torn)
	require.Equal(t, [][]byte{record(1, 10), record(2, BlockSize), record(3, 33)}, got)
}

func writeFile(t testing.TB, fs vfs.FS, name string, data []byte) {
	t.Helper()
	f, err := fs.Create(name)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

// Concurrent synced appends share fsyncs: with many writers, fsyncs are
// fewer than records (group commit), and every writer's record is durable
// when OnSync says so.
func TestGroupCommit(t *testing.T) {
	fs := vfs.NewMem()
	raw, err := fs.Create("a.log")
	require.NoError(t, err)
	f := slowSyncFile{raw} // an fsync takes a millisecond, as on a disk
	d := newDurability()
	w, err := NewWriter(f, "a.log", 7, WriterOptions{OnSync: d.onSync})
	require.NoError(t, err)
	const writers, each = 16, 200
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				end, err := w.Append(record(g*each+i, 64), true)
				if err == nil {
					err = d.wait(end)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, w.Close())
	s := w.Stats()
	require.Equal(t, int64(writers*each), s.Records)
	require.Less(t, s.Syncs, s.Records/4, "fsyncs must be shared: %+v", s)
	t.Logf("records %d, fsyncs %d, writes %d", s.Records, s.Syncs, s.Writes)

	got, tail, err := readLog(fileBytes(t, fs, "a.log"), 7)
	require.NoError(t, err)
	require.False(t, tail.Torn)
	require.Len(t, got, writers*each)
}

// faultyFile fails writes or syncs on demand.
type faultyFile struct {
	vfs.File
	mu        sync.Mutex
	failWrite bool
	failSync  bool
	syncs     int
}

var errInjected = errors.New("injected I/O error")

func (f *faultyFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWrite {
		return 0, errInjected
	}
	return f.File.Write(p)
}

func (f *faultyFile) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs++
	if f.failSync {
		return errInjected
	}
	return f.File.Sync()
}

// A failed fsync or write is sticky: it is reported once through OnSync,
// never retried, every later Append fails with it, and Close returns it.
func TestStickyErrors(t *testing.T) {
	for _, mode := range []string{"sync", "write"} {
		t.Run(mode, func(t *testing.T) {
			fs := vfs.NewMem()
			raw, err := fs.Create("a.log")
			require.NoError(t, err)
			f := &faultyFile{File: raw}
			var calls []error
			var mu sync.Mutex
			d := newDurability()
			w, err := NewWriter(f, "a.log", 7, WriterOptions{OnSync: func(off int64, err error) {
				mu.Lock()
				calls = append(calls, err)
				mu.Unlock()
				d.onSync(off, err)
			}})
			require.NoError(t, err)
			end, err := w.Append(record(1, 10), true)
			require.NoError(t, err)
			require.NoError(t, d.wait(end))

			f.mu.Lock()
			f.failSync, f.failWrite = mode == "sync", mode == "write"
			f.mu.Unlock()
			end, err = w.Append(record(2, 10), true)
			require.NoError(t, err)
			err = d.wait(end)
			require.ErrorIs(t, err, errInjected)

			f.mu.Lock()
			syncsAtFailure := f.syncs
			f.failSync, f.failWrite = false, false // the fault is gone; still no retry
			f.mu.Unlock()
			_, err = w.Append(record(3, 10), true)
			require.ErrorIs(t, err, errInjected)
			require.ErrorIs(t, w.Close(), errInjected)
			f.mu.Lock()
			require.Equal(t, syncsAtFailure, f.syncs, "a failed writer must not fsync again")
			f.mu.Unlock()
			mu.Lock()
			defer mu.Unlock()
			require.Len(t, calls, 2, "one success, one failure: %v", calls)
			require.ErrorIs(t, calls[1], errInjected)
		})
	}
}

// Append after Close fails; oversized records are refused before anything
// is written.
func TestAppendLimits(t *testing.T) {
	fs := vfs.NewMem()
	f, err := fs.Create("a.log")
	require.NoError(t, err)
	w, err := NewWriter(f, "a.log", 7, WriterOptions{})
	require.NoError(t, err)
	_, err = w.Append(make([]byte, MaxRecordSize+1), false)
	require.Error(t, err)
	require.Equal(t, int64(FileHeaderSize), w.Size())
	require.NoError(t, w.Close())
	_, err = w.Append([]byte("x"), false)
	require.ErrorIs(t, err, ErrClosed)
}

// Random records, random sync points and random cuts, checked against what
// was written: the reader returns a prefix of the records, never more, and
// a torn tail never hides a synced record.
func TestRandomCuts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 200; iter++ {
		n := 1 + rng.IntN(40)
		recs := make([][]byte, n)
		for i := range recs {
			recs[i] = record(rng.IntN(1000), rng.IntN([]int{50, 500, 3 * BlockSize}[rng.IntN(3)]))
		}
		fs := vfs.NewMem()
		syncs := map[int]bool{}
		ends := writeLog(t, fs, fmt.Sprintf("%d.log", iter), recs, func(i int) bool {
			syncs[i] = rng.IntN(4) == 0
			return syncs[i]
		})
		data := fileBytes(t, fs, fmt.Sprintf("%d.log", iter))
		cut := FileHeaderSize + rng.IntN(len(data)-FileHeaderSize+1)
		got, tail, err := readLog(data[:cut], 7)
		require.NoError(t, err)
		for i := range got {
			require.Equal(t, recs[i], got[i])
		}
		whole := 0
		for whole < n && ends[whole] <= int64(cut) {
			whole++
		}
		require.Len(t, got, whole)
		require.LessOrEqual(t, tail.End, int64(cut))
	}
}

// A record that would start with fewer bytes left in the block than a chunk
// header plus the record prefix starts in the next block instead; the gap is
// padding, not damage. Every gap size from 0 to 20 bytes is tried.
func TestBlockPadding(t *testing.T) {
	for left := 0; left <= 20; left++ {
		first := BlockSize - FileHeaderSize - ChunkHeaderSize - RecordPrefixSize - left
		recs := [][]byte{record(1, first), record(2, 5), record(3, 40000)}
		fs := vfs.NewMem()
		ends := writeLog(t, fs, "a.log", recs, nil)
		require.Equal(t, int64(BlockSize-left), ends[0])
		got, tail, err := readLog(fileBytes(t, fs, "a.log"), 7)
		require.NoError(t, err, "left %d", left)
		require.False(t, tail.Torn, "left %d: %+v", left, tail)
		require.Equal(t, recs, got, "left %d", left)
	}
}

// slowSyncFile makes every fsync take a millisecond.
type slowSyncFile struct{ vfs.File }

func (f slowSyncFile) Sync() error {
	time.Sleep(time.Millisecond)
	return f.File.Sync()
}

// Flushed reports the flush that wrote a record: records appended while
// the flush goroutine was busy share its next write, and a synced record's
// flush names the fsync and every record it made durable.
func TestFlushedReportsGroups(t *testing.T) {
	fs := vfs.NewMem()
	f, err := fs.Create("a.log")
	require.NoError(t, err)
	d := newDurability()
	w, err := NewWriter(f, "a.log", 7, WriterOptions{OnSync: d.onSync})
	require.NoError(t, err)
	defer w.Close()

	// An unsynced record: written, not synced.
	end1, err := w.Append([]byte("one"), false)
	require.NoError(t, err)
	fl, ok := w.Flushed(end1)
	require.True(t, ok)
	require.False(t, fl.Synced)
	require.GreaterOrEqual(t, fl.Records, 1)
	require.True(t, fl.Start < end1 && end1 <= fl.End)

	// Records appended together, the last synced: one fsync covers the
	// unsynced one before them too.
	var ends []int64
	for i := range 5 {
		end, err := w.Append([]byte(fmt.Sprint("rec", i)), i == 4)
		require.NoError(t, err)
		ends = append(ends, end)
	}
	require.NoError(t, d.wait(ends[4]))
	fl, ok = w.Flushed(ends[4])
	require.True(t, ok)
	require.True(t, fl.Synced)
	require.GreaterOrEqual(t, fl.SyncedRecords, fl.Records)
	require.GreaterOrEqual(t, fl.SyncedRecords, 2, "the fsync also made the first unsynced record durable")
	total := 0
	w.mu.Lock()
	for i := 0; i < min(w.flushCount, flushHistory); i++ {
		total += w.flushes[i].Records
	}
	w.mu.Unlock()
	require.Equal(t, 6, total, "every record is in exactly one flush")
}

// Flushed waits for a closing writer's last flushes: a record appended just
// before Close is reported with the flush that Close made.
func TestFlushedDuringClose(t *testing.T) {
	fs := vfs.NewMem()
	for i := range 200 {
		name := fmt.Sprintf("%06d.log", i+1)
		f, err := fs.Create(name)
		require.NoError(t, err)
		w, err := NewWriter(f, name, base.FileNum(i+1), WriterOptions{})
		require.NoError(t, err)
		end, err := w.Append([]byte("last words"), false)
		require.NoError(t, err)
		done := make(chan error)
		go func() { done <- w.Close() }()
		fl, ok := w.Flushed(end)
		require.True(t, ok, "round %d", i)
		require.True(t, fl.Start < end && end <= fl.End)
		require.NoError(t, <-done)
	}
}
