package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/killpoint"
	"github.com/distributedkv/dkv/vfs"
)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("wal: writer closed")

// WriterOptions configure a Writer.
type WriterOptions struct {
	// OnSync is called, from the writer's flush goroutine, after each fsync
	// with the log offset now durable, or with the error that stopped the
	// writer. Once it has been called with an error it is not called again.
	// It must not call back into the Writer.
	OnSync func(durable int64, err error)

	// MaxBuffered bounds the bytes appended but not yet handed to the file;
	// Append blocks above it. Zero means 1 MiB.
	MaxBuffered int

	// Salt seeds every chunk checksum of a new log (NewWriter). Zero means
	// a random salt, which is what production wants; tests that need
	// byte-for-byte output set it.
	Salt uint64
}

// Stats are a Writer's counters.
type Stats struct {
	Records int64 // records appended
	Bytes   int64 // bytes handed to the file, framing included
	Writes  int64 // write calls to the file
	Syncs   int64 // fsyncs of the file
}

// Writer appends records to one log file.
//
// Append only copies a record into a buffer; a flush goroutine owned by the
// Writer hands the buffer to the file, and fsyncs it when some caller has
// asked for a record to be durable. Records appended while an fsync is in
// progress are covered together by the next one: this is group commit, and
// it is why Stats.Syncs grows slower than Stats.Records under concurrency.
//
// Any error writing or syncing the file is sticky: the Writer never retries,
// every later Append fails with it, and OnSync reports it once. Whether the
// bytes reached the disk is then unknown, so the log must be recovered by a
// Reader before anything is trusted again.
//
// Append and Close may be called from several goroutines; the caller orders
// records by the order of its Append calls.
type Writer struct {
	f      vfs.File
	name   string
	onSync func(int64, error)
	maxBuf int
	seed   uint32 // checksum seed derived from the log's salt

	mu       sync.Mutex
	work     sync.Cond // the flush goroutine waits here for work
	space    sync.Cond // Append waits here while the buffer is full
	buf      []byte    // appended bytes not yet handed to the file
	spare    []byte    // the other buffer, reused by the flush goroutine
	blockOff int       // offset in its block of the next chunk
	appended int64     // log size including buffered bytes
	written  int64     // bytes handed to the file
	durable  int64     // bytes known to be on stable storage
	want     int64     // highest offset some caller wants durable
	idle     bool      // the flush goroutine is waiting on work
	closing  bool
	exited   bool  // the flush goroutine has returned
	err      error // sticky

	// For explaining a write (Flushed): records appended to buf, records
	// written since the last fsync, and the newest flushes.
	bufRecords      int
	unsyncedRecords int
	flushes         [flushHistory]Flush
	flushCount      int // flushes recorded; the newest is flushes[(flushCount-1)%flushHistory]

	done  chan struct{}
	stats struct{ records, bytes, writes, syncs atomic.Int64 }
}

// NewWriter starts a log in f, which must be empty, writing and syncing the
// file header before it returns: a log file that exists after NewWriter
// returns always starts with a whole header. name is used in errors.
func NewWriter(f vfs.File, name string, logNum base.FileNum, opts WriterOptions) (*Writer, error) {
	salt := opts.Salt
	for salt == 0 {
		salt = rand.Uint64()
	}
	hdr := appendChunk(nil, 0, ChunkHeader, appendFileHeader(nil, uint64(logNum), salt))
	if _, err := f.Write(hdr); err != nil {
		return nil, fmt.Errorf("wal: write header of %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("wal: sync header of %s: %w", name, err)
	}
	w := newWriter(f, name, saltSeed(salt), int64(len(hdr)), opts)
	w.stats.bytes.Add(int64(len(hdr)))
	w.stats.writes.Add(1)
	w.stats.syncs.Add(1)
	return w, nil
}

// OpenWriter continues a log that r has read to its end (Next returned
// io.EOF): appends start at r.Tail().End. f holds the log, and every byte
// up to that offset must be durable — the caller truncated any torn tail
// and fsynced the file after reading it, because a file read back from the
// OS's cache after a process crash may not be on disk yet.
func OpenWriter(f vfs.File, name string, r *Reader, opts WriterOptions) (*Writer, error) {
	size := r.tail.End
	if !errors.Is(r.err, io.EOF) || !r.headerRead || size < int64(FileHeaderSize) {
		return nil, fmt.Errorf("wal: %s was not read to its end, or holds no file header to continue from", name)
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		return nil, fmt.Errorf("wal: seek %s to %d: %w", name, size, err)
	}
	return newWriter(f, name, r.seed, size, opts), nil
}

// newWriter returns a Writer whose file already holds size durable bytes.
func newWriter(f vfs.File, name string, seed uint32, size int64, opts WriterOptions) *Writer {
	w := &Writer{f: f, name: name, onSync: opts.OnSync, maxBuf: opts.MaxBuffered, seed: seed, done: make(chan struct{})}
	if w.maxBuf <= 0 {
		w.maxBuf = 1 << 20
	}
	w.work.L = &w.mu
	w.space.L = &w.mu
	w.blockOff = int(size % BlockSize)
	w.appended, w.written, w.durable = size, size, size
	go w.flushLoop()
	return w
}

// Append adds rec to the log and returns the log offset just past it. With
// sync, the flush goroutine fsyncs the log up to at least that offset soon
// and reports it through OnSync; Append itself does not wait for the disk.
// It blocks only while the buffer of unwritten bytes is full.
func (w *Writer) Append(rec []byte, sync bool) (end int64, err error) {
	if len(rec) > MaxRecordSize {
		return 0, fmt.Errorf("wal: record of %d bytes exceeds the limit of %d", len(rec), MaxRecordSize)
	}
	w.mu.Lock()
	for w.err == nil && !w.closing && len(w.buf) >= w.maxBuf {
		w.space.Wait()
	}
	if w.err != nil {
		err = w.err
	} else if w.closing {
		err = ErrClosed
	}
	if err != nil {
		w.mu.Unlock()
		return 0, err
	}
	w.emit(rec)
	w.bufRecords++
	end = w.appended
	if sync && end > w.want {
		w.want = end
	}
	wake := w.idle
	w.idle = false
	w.mu.Unlock()
	w.stats.records.Add(1)
	if wake {
		w.work.Signal()
	}
	return end, nil
}

// emit frames rec into chunks at the end of the buffer, preceded by the
// record prefix: the offset known durable now. w.mu is held.
func (w *Writer) emit(rec []byte) {
	if BlockSize-w.blockOff < ChunkHeaderSize+RecordPrefixSize {
		// The first chunk must hold the whole prefix: pad the block.
		w.pad()
	}
	var prefix [RecordPrefixSize]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(w.durable))
	total := RecordPrefixSize + len(rec)
	for first := true; ; first = false {
		if BlockSize-w.blockOff < ChunkHeaderSize {
			w.pad()
		}
		n := min(total, BlockSize-w.blockOff-ChunkHeaderSize)
		last := n == total
		var typ ChunkType
		switch {
		case first && last:
			typ = ChunkFull
		case first:
			typ = ChunkFirst
		case last:
			typ = ChunkLast
		default:
			typ = ChunkMiddle
		}
		start := len(w.buf)
		w.buf = append(w.buf, 0, 0, 0, 0, 0, 0, byte(typ))
		binary.LittleEndian.PutUint16(w.buf[start+4:], uint16(n))
		payload := n
		if first {
			w.buf = append(w.buf, prefix[:]...)
			payload -= RecordPrefixSize
		}
		w.buf = append(w.buf, rec[:payload]...)
		binary.LittleEndian.PutUint32(w.buf[start:], chunkChecksum(w.seed, w.buf[start+4:]))
		w.blockOff += ChunkHeaderSize + n
		w.appended += int64(ChunkHeaderSize + n)
		rec, total = rec[payload:], total-n
		if last {
			return
		}
	}
}

// pad fills the rest of the block with zeros. w.mu is held.
func (w *Writer) pad() {
	left := BlockSize - w.blockOff
	w.buf = append(w.buf, make([]byte, left)...)
	w.appended += int64(left)
	w.blockOff = 0
}

// flushLoop hands buffered bytes to the file and fsyncs on demand until the
// Writer is closed or fails.
func (w *Writer) flushLoop() {
	defer close(w.done)
	defer func() {
		w.mu.Lock()
		w.exited = true
		w.mu.Unlock()
		w.space.Broadcast() // for Flushed
	}()
	for {
		w.mu.Lock()
		for w.err == nil && len(w.buf) == 0 && w.want <= w.durable && !w.closing {
			w.idle = true
			w.work.Wait()
		}
		w.idle = false
		if w.err != nil || (w.closing && len(w.buf) == 0 && w.want <= w.durable) {
			w.mu.Unlock()
			return
		}
		data := w.buf
		records := w.bufRecords
		w.buf, w.spare, w.bufRecords = w.spare[:0], nil, 0
		doSync := w.want > w.durable
		end := w.written + int64(len(data))
		w.mu.Unlock()
		w.space.Broadcast()

		var err error
		if len(data) > 0 {
			killpoint.Hit(killpoint.WALWrite)
			if _, err = w.f.Write(data); err != nil {
				err = fmt.Errorf("wal: write %s at offset %d: %w", w.name, end-int64(len(data)), err)
			} else {
				w.stats.bytes.Add(int64(len(data)))
				w.stats.writes.Add(1)
			}
		}
		if err == nil && doSync {
			killpoint.Hit(killpoint.WALSync)
			if err = w.f.Sync(); err != nil {
				err = fmt.Errorf("wal: sync %s: %w", w.name, err)
			} else {
				w.stats.syncs.Add(1)
				killpoint.Hit(killpoint.WALSynced)
			}
		}

		w.mu.Lock()
		if cap(data) <= 4*w.maxBuf {
			w.spare = data // reuse it, unless a huge record grew it
		}
		if err != nil {
			w.err = err
		} else {
			start := w.written
			w.written = end
			w.unsyncedRecords += records
			fl := Flush{Start: start, End: end, Records: records}
			if doSync {
				w.durable = end
				fl.Synced, fl.SyncedRecords = true, w.unsyncedRecords
				w.unsyncedRecords = 0
			}
			if len(data) > 0 || doSync {
				w.flushes[w.flushCount%flushHistory] = fl
				w.flushCount++
			}
		}
		w.mu.Unlock()
		w.space.Broadcast()
		if err != nil {
			if w.onSync != nil {
				w.onSync(0, err)
			}
			return
		}
		if doSync && w.onSync != nil {
			w.onSync(end, nil)
		}
	}
}

// Close writes and fsyncs everything appended, then seals the log: it
// appends a seal chunk saying the whole log is durable and fsyncs again, so
// that recovery reports damage anywhere before the seal as corruption
// rather than as a torn tail. Then it stops the flush goroutine and closes
// the file. It returns the writer's sticky error, if any. Close must be
// called once.
func (w *Writer) Close() error {
	w.mu.Lock()
	w.closing = true
	w.want = w.appended
	w.mu.Unlock()
	w.work.Signal()
	w.space.Broadcast()
	<-w.done
	w.mu.Lock()
	err := w.err
	if err == nil {
		err = w.seal()
	}
	w.mu.Unlock()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("wal: close %s: %w", w.name, cerr)
	}
	return err
}

// seal appends and fsyncs a seal chunk after the durable log. The flush
// goroutine has exited and w.mu is held.
func (w *Writer) seal() error {
	if BlockSize-w.blockOff < sealSize {
		w.pad()
	}
	var payload [8]byte
	binary.LittleEndian.PutUint64(payload[:], uint64(w.durable))
	w.buf = appendChunk(w.buf, w.seed, ChunkSeal, payload[:])
	w.appended += sealSize
	w.blockOff += sealSize
	if _, err := w.f.Write(w.buf); err != nil {
		w.err = fmt.Errorf("wal: write seal of %s: %w", w.name, err)
		return w.err
	}
	w.stats.bytes.Add(int64(len(w.buf)))
	w.stats.writes.Add(1)
	w.buf = w.buf[:0]
	if err := w.f.Sync(); err != nil {
		w.err = fmt.Errorf("wal: sync seal of %s: %w", w.name, err)
		return w.err
	}
	w.stats.syncs.Add(1)
	w.written, w.durable = w.appended, w.appended
	return nil
}

// flushHistory is how many flushes a Writer remembers for Flushed.
const flushHistory = 64

// Flush describes one pass of the flush goroutine: the bytes [Start, End)
// it handed to the file in one write, the records they complete, and
// whether an fsync followed, covering SyncedRecords records written since
// the previous fsync. It is what group commit looks like from one record.
type Flush struct {
	Start, End    int64
	Records       int
	Synced        bool
	SyncedRecords int
}

// Flushed waits until the log offset end (as returned by Append) has been
// handed to the file, and returns the flush that did it: how many records
// shared its write and, if one followed, its fsync. A closing writer's
// last flushes count. ok is false when the writer failed first, or when
// the flush is too old to be remembered. It is for explaining a write, not
// for durability: use OnSync for that.
func (w *Writer) Flushed(end int64) (f Flush, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.written < end && w.err == nil && !w.exited {
		w.space.Wait()
	}
	for i := 0; i < min(w.flushCount, flushHistory); i++ {
		fl := w.flushes[(w.flushCount-1-i)%flushHistory]
		if fl.Start < end && end <= fl.End {
			return fl, true
		}
	}
	return Flush{}, false
}

// Size returns the log's size including bytes not yet written to the file.
func (w *Writer) Size() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.appended
}

// Err returns the sticky error, or nil.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Stats returns the writer's counters.
func (w *Writer) Stats() Stats {
	return Stats{
		Records: w.stats.records.Load(),
		Bytes:   w.stats.bytes.Load(),
		Writes:  w.stats.writes.Load(),
		Syncs:   w.stats.syncs.Load(),
	}
}
