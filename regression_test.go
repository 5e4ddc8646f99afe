package dkv

// Regression tests for bugs found in review of the engine core. Each test
// names the failure it guards against.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/vfs"
	"github.com/distributedkv/dkv/wal"
)

// reviewWaitWritten waits until db's flush goroutine has handed every
// appended byte to the file (the "OS"), as it normally does within
// microseconds.
func reviewWaitWritten(t *testing.T, fs vfs.FS, db *DB) {
	t.Helper()
	db.commit.Lock()
	l := db.commit.log
	db.commit.Unlock()
	for range 1000 {
		st, err := fs.Stat(l.path)
		require.NoError(t, err)
		if st.Size() == l.w.Size() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("log never written")
}

func reviewReadLive(t *testing.T, fs vfs.FS, name string) []byte {
	t.Helper()
	f, err := fs.Open(name)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

// reviewImage builds a fresh MemFS whose /db holds exactly files, all durable.
func reviewImage(t *testing.T, files map[string][]byte) *vfs.MemFS {
	t.Helper()
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("/db", 0o755))
	for name, data := range files {
		f, err := m.Create("/db/" + name)
		require.NoError(t, err)
		_, err = f.Write(data)
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		require.NoError(t, f.Close())
	}
	require.NoError(t, vfs.SyncDir(m, "/db"))
	require.NoError(t, vfs.SyncDir(m, "/"))
	return m
}

// Finding 1. After kill -9, Open continued the newest log without fsyncing
// it, so the records the new process appended vouched for bytes that were
// still only in the OS's cache; a power loss then made Open fail with
// corruption. Open now fsyncs the newest log before continuing it. Checked
// with power losses that drop random unsynced pages.
func TestRegressionKillThenPowerLossContinuedLog(t *testing.T) {
	for seed := range uint64(30) {
		mem := vfs.NewMem()
		k := &killableFS{FS: mem}
		a, err := Open("/db", &Options{FS: k, NoSync: true, Logger: discardLogger()})
		require.NoError(t, err)
		for i := range 10 {
			require.NoError(t, a.Put([]byte(fmt.Sprint("k", i)), bytes.Repeat([]byte{'v'}, 1000)))
		}
		reviewWaitWritten(t, mem, a)
		killDB(k, a) // kill -9: the log is in the page cache, never fsynced

		b, err := Open("/db", &Options{FS: mem, NoSync: true, Logger: discardLogger()})
		require.NoError(t, err)
		require.NoError(t, b.Put([]byte("b"), bytes.Repeat([]byte("after"), 2000))) // NoSync
		reviewWaitWritten(t, mem, b)

		crashed := mem.CrashClone(vfs.CrashOptions{Rand: rand.New(rand.NewPCG(seed, 3)), Holes: true})
		db, err := Open("/db", &Options{FS: crashed, Logger: discardLogger()})
		require.NoError(t, err, "seed %d: only unsynced NoSync writes were lost; Open must succeed", seed)
		for i := range 10 {
			_, err := db.Get([]byte(fmt.Sprint("k", i)))
			require.NoError(t, err, "seed %d: the second Open made k%d durable", seed, i)
		}
		require.NoError(t, db.Close())
		require.NoError(t, b.Close())
	}
}

// Finding 2. After kill -9 with a full memtable, Open starts a new log
// without fsyncing the old newest one, whose records it has replayed (from
// the page cache) and made visible. The new process's synced writes go to
// the new log. A power loss then loses the old log's unsynced tail: either
// Open fails (a sequence gap / torn tail in a log that is not the newest),
// or — if the old log lost all its records — Open succeeds with a later
// acknowledged synced write but without earlier acknowledged writes (not a
// prefix of the history).
func TestRegressionKillThenPowerLossRotatedAtOpen(t *testing.T) {
	for _, withSyncedFirst := range []bool{true, false} {
		t.Run(fmt.Sprint("syncedFirst=", withSyncedFirst), func(t *testing.T) {
			fs := vfs.NewMem()
			opts := &Options{FS: fs, MemTableSize: 16 << 10, Logger: discardLogger()}
			k := &killableFS{FS: fs}
			a, err := Open("/db", &Options{FS: k, MemTableSize: 16 << 10, Logger: discardLogger()})
			require.NoError(t, err)
			if withSyncedFirst {
				require.NoError(t, a.Put([]byte("s0"), []byte("v"))) // synced
			}
			big := a.NewBatch()
			require.NoError(t, big.Put([]byte("big"), bytes.Repeat([]byte{'x'}, 17<<10)))
			require.NoError(t, a.Write(big, NoSync)) // acknowledged; memtable now full
			reviewWaitWritten(t, fs, a)
			killDB(k, a)

			b, err := Open("/db", opts) // rotates to a new log at once
			require.NoError(t, err)
			_, err = b.Get([]byte("big"))
			require.NoError(t, err, "B serves A's write from the page cache")
			require.NoError(t, b.Put([]byte("after"), []byte("v"))) // synced, acknowledged

			crashed := fs.CrashClone(vfs.CrashOptions{}) // power loss: the durable state
			db, err := Open("/db", &Options{FS: crashed, Logger: discardLogger()})
			require.NoError(t, err, "a power loss after a kill must not make Open fail")
			_, errAfter := db.Get([]byte("after"))
			_, errBig := db.Get([]byte("big"))
			require.NoError(t, errAfter, "the synced write 'after' was acknowledged")
			require.NoError(t, errBig, "'big' was acknowledged before the synced 'after': prefix rule")
			require.NoError(t, db.Close())
			require.NoError(t, b.Close())
		})
	}
}

// reviewSyncFailFS makes Sync of .log files fail while fail is set.
type reviewSyncFailFS struct {
	vfs.FS
	fail atomic.Bool
}

type reviewSyncFailFile struct {
	vfs.File
	fs *reviewSyncFailFS
}

func (f *reviewSyncFailFile) Sync() error {
	if f.fs.fail.Load() {
		return errors.New("injected EIO")
	}
	return f.File.Sync()
}

func (fs *reviewSyncFailFS) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &reviewSyncFailFile{File: f, fs: fs}, nil
}

// Finding 3. When the fsync closing a full log fails during rotation,
// makeRoomForWrite sets commit.log = nil; Close then has no log to close and
// returns nil, although acknowledged NoSync writes were never made durable.
// Close's doc: "Every write acknowledged before Close is durable when Close
// returns nil".
func TestRegressionCloseNilAfterFailedRotation(t *testing.T) {
	mem := vfs.NewMem()
	ffs := &reviewSyncFailFS{FS: mem}
	db, err := Open("/db", &Options{FS: ffs, NoSync: true, MemTableSize: 16 << 10, Logger: discardLogger()})
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("big"), bytes.Repeat([]byte{'x'}, 17<<10))) // acknowledged
	ffs.fail.Store(true)
	require.ErrorIs(t, db.Put([]byte("x"), []byte("y")), ErrStopped) // rotation's fsync fails
	closeErr := db.Close()

	crashed := mem.CrashClone(vfs.CrashOptions{})
	db2, err := Open("/db", &Options{FS: crashed, Logger: discardLogger()})
	require.NoError(t, err)
	_, getErr := db2.Get([]byte("big"))
	require.NoError(t, db2.Close())
	if getErr != nil {
		require.Error(t, closeErr, "Close returned nil but the acknowledged write 'big' was not durable")
	}
}

// Finding 4. Open creates missing parent directories with MkdirAll but
// syncs only the immediate parent: the entries of the other new ancestors
// are never made durable, so a power loss can take the whole database,
// synced writes included.
func TestRegressionNestedDirNotDurable(t *testing.T) {
	fs := vfs.NewMem()
	db, err := Open("/a/b/db", &Options{FS: fs, Logger: discardLogger()})
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("k"), []byte("v"))) // synced
	require.NoError(t, db.Close())

	crashed := fs.CrashClone(vfs.CrashOptions{})
	db, err = Open("/a/b/db", &Options{FS: crashed, Logger: discardLogger()})
	require.NoError(t, err)
	_, err = db.Get([]byte("k"))
	require.NoError(t, db.Close())
	require.NoError(t, err, "a synced, acknowledged write vanished after a power loss")
}

// reviewDirFailFS fails OpenDir while fail is set.
type reviewDirFailFS struct {
	vfs.FS
	fail atomic.Bool
}

func (fs *reviewDirFailFS) OpenDir(name string) (vfs.File, error) {
	if fs.fail.Load() {
		return nil, errors.New("injected EIO")
	}
	return fs.FS.OpenDir(name)
}

func reviewFlushGoroutines() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "wal.(*Writer).flushLoop")
}

// Finding 5. When Open continues the newest log and the directory sync that
// follows fails, the log writer (its flush goroutine and file) is leaked.
func TestRegressionOpenLeaksWriterOnSyncDirFailure(t *testing.T) {
	mem := vfs.NewMem()
	db, err := Open("/db", &Options{FS: mem, Logger: discardLogger()})
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("k"), []byte("v")))
	require.NoError(t, db.Close())
	time.Sleep(10 * time.Millisecond)
	before := reviewFlushGoroutines()

	dfs := &reviewDirFailFS{FS: mem}
	dfs.fail.Store(true)
	_, err = Open("/db", &Options{FS: dfs, Logger: discardLogger()})
	require.Error(t, err)
	time.Sleep(10 * time.Millisecond)
	require.Equal(t, before, reviewFlushGoroutines(), "a failed Open leaked a log writer")
}

// Finding 6. Bit rot in the last synced record(s) of the newest log was
// judged a torn tail and silently truncated: nothing after it vouched for
// it. Close now seals the log, so the damage is corruption.
func TestRegressionBitRotInLastSyncedRecordIsSilent(t *testing.T) {
	fs := vfs.NewMem()
	db, err := Open("/db", &Options{FS: fs, Logger: discardLogger()})
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, db.Put([]byte(fmt.Sprint("k", i)), []byte("value")))
	}
	logName := fs.PathBase(db.commit.log.path)
	require.NoError(t, db.Close())
	data := reviewReadLive(t, fs, "/db/"+logName)
	data[len(data)-15-2] ^= 0x01 // one bit of the last record's value, before the 15-byte seal
	crashed := reviewImage(t, map[string][]byte{logName: data})
	_, err = Open("/db", &Options{FS: crashed, Logger: discardLogger()})
	require.ErrorIs(t, err, ErrCorruption, "the sealed log vouches for its last record")
}

// Finding 7. The torn-tail judgement scans every byte offset after the
// damage for an intact chunk, including inside user values. A value that
// held a valid-looking chunk turned an ordinary torn tail into
// ErrCorruption. Chunk checksums are now seeded with the log's salt.
func TestRegressionUserValueForgesDurableMark(t *testing.T) {
	for _, forge := range []bool{false, true} {
		t.Run(fmt.Sprint("forge=", forge), func(t *testing.T) {
			fs := vfs.NewMem()
			opts := &Options{FS: fs, NoSync: true, Logger: discardLogger()}
			a, err := Open("/db", opts)
			require.NoError(t, err)
			logName := fs.PathBase(a.commit.log.path)
			// A value holding a FULL chunk whose prefix claims durable = 28.
			payload := binary.LittleEndian.AppendUint64(nil, 28)
			payload = append(payload, "whatever"...)
			chunk := make([]byte, 7, 7+len(payload))
			binary.LittleEndian.PutUint16(chunk[4:], uint16(len(payload)))
			chunk[6] = byte(wal.ChunkFull)
			chunk = append(chunk, payload...)
			crc := crc32.Checksum(chunk[4:], crc32.MakeTable(crc32.Castagnoli))
			binary.LittleEndian.PutUint32(chunk, (crc>>15|crc<<17)+0xa282ead8)
			tail := bytes.Repeat([]byte{'p'}, len(chunk))
			if forge {
				tail = chunk
			}
			// One large NoSync record spanning three pages; the forged bytes
			// sit in its last page.
			val := append(bytes.Repeat([]byte{'v'}, 9000), tail...)
			require.NoError(t, a.Put([]byte("user"), val))
			reviewWaitWritten(t, fs, a)
			data := reviewReadLive(t, fs, "/db/"+logName)
			// kill -9: the test goes on from its own image of the live
			// bytes; a is closed only when the test ends.
			t.Cleanup(func() { _ = a.Close() })
			// Power loss with NoSync: the record's middle page is lost.
			clear(data[4096:8192])
			crashed := reviewImage(t, map[string][]byte{logName: data})
			db, err := Open("/db", &Options{FS: crashed, Logger: discardLogger()})
			require.NoError(t, err, "unsynced NoSync writes torn by a power loss: Open must succeed")
			require.NoError(t, db.Close())
		})
	}
}
