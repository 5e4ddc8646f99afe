package dkv_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// The contract of Options.ReadOnly: Open writes nothing to the directory
// and sees every write a read-write Open would recover; every write fails
// with ErrReadOnly; read-only DBs share the directory with each other but
// never with a writer.

// dirImage returns every file under dir, by path relative to it, with its
// contents (directories map to "/"): two equal images are equal trees,
// byte for byte.
func dirImage(t *testing.T, fsys vfs.FS, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(rel string)
	walk = func(rel string) {
		names, err := fsys.List(fsys.PathJoin(dir, rel))
		require.NoError(t, err)
		for _, n := range names {
			p := fsys.PathJoin(rel, n)
			info, err := fsys.Stat(fsys.PathJoin(dir, p))
			require.NoError(t, err)
			if info.IsDir() {
				out[p] = "/"
				walk(p)
				continue
			}
			out[p] = readWhole(t, fsys, fsys.PathJoin(dir, p))
			require.Len(t, out[p], int(info.Size()), p)
		}
	}
	walk("")
	return out
}

// readWhole returns the contents of the file name.
func readWhole(t *testing.T, fsys vfs.FS, name string) string {
	t.Helper()
	f, err := fsys.Open(name)
	require.NoError(t, err)
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return string(b)
}

func readOnlyOptions(fsys vfs.FS) *dkv.Options {
	return &dkv.Options{FS: fsys, ReadOnly: true, Logger: slog.New(slog.DiscardHandler)}
}

// crashedWriter runs random writes — some synced, most not, with flushes
// and compactions from small memtables — then cuts the power at a random
// moment (a torn crash, seeded), and returns the filesystem the machine
// finds, its newest log ending in a torn tail. The last write, "last", was synced, so every recovery holds it.
func crashedWriter(t *testing.T, seed uint64) *vfs.MemFS {
	t.Helper()
	mem := vfs.NewMem()
	rng := rand.New(rand.NewPCG(seed, 7))
	db, err := dkv.Open("/db", &dkv.Options{FS: mem, MemTableSize: 16 << 10, L0CompactionThreshold: 2,
		NoSync: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	for i := range 1500 + rng.IntN(1500) {
		k := []byte(fmt.Sprintf("k%04d", rng.IntN(800)))
		switch rng.IntN(10) {
		case 0:
			require.NoError(t, db.Delete(k))
		case 1:
			b := db.NewBatch()
			require.NoError(t, b.Put(k, []byte(fmt.Sprintf("batch %d", i))))
			require.NoError(t, b.Delete([]byte(fmt.Sprintf("k%04d", rng.IntN(800)))))
			require.NoError(t, db.Write(b, &dkv.WriteOptions{Sync: rng.IntN(4) == 0}))
		default:
			require.NoError(t, db.Put(k, []byte(fmt.Sprintf("value %d of %s", i, k))))
		}
	}
	require.NoError(t, db.Write(func() *dkv.Batch {
		b := db.NewBatch()
		require.NoError(t, b.Put([]byte("last"), []byte("synced")))
		return b
	}(), dkv.Sync))
	for range rng.IntN(40) { // unsynced writes a crash may tear
		require.NoError(t, db.Put([]byte(fmt.Sprintf("k%04d", rng.IntN(800))), []byte("tail")))
	}
	crashed := mem.CrashClone(vfs.CrashOptions{Rand: rand.New(rand.NewPCG(seed, 8))})
	require.NoError(t, db.Close())

	// Make sure the newest log ends in a torn tail, whatever the crash
	// kept: zeros where the next record would start, as when the file's
	// size reached the disk before its data.
	var newest string
	names, err := crashed.List("/db")
	require.NoError(t, err)
	for _, n := range names {
		if strings.HasSuffix(n, ".log") {
			newest = n
		}
	}
	require.NotEmpty(t, newest)
	f, err := crashed.OpenReadWrite("/db/" + newest)
	require.NoError(t, err)
	_, err = f.Seek(0, io.SeekEnd)
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 1+rng.IntN(64)))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	return crashed
}

// Contract: a read-only Open of a directory whose writer crashed sees
// exactly what a read-write Open recovers — the tables and every log,
// up to a torn tail — and leaves every byte of the directory as it was,
// torn tail included. Several seeded crashes, each with a torn tail.
func TestReadOnlyOpenOfCrashedWriter(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			crashed := crashedWriter(t, seed)
			twin := crashed.CrashClone(vfs.CrashOptions{}) // crashed is all durable: an exact copy
			before := dirImage(t, crashed, "/")

			torn := 0
			opts := readOnlyOptions(crashed)
			opts.EventListener = &dkv.EventListener{WALRecovered: func(info dkv.WALRecoveryInfo) {
				if info.TornBytes > 0 {
					torn++
				}
			}}
			ro, err := dkv.Open("/db", opts)
			require.NoError(t, err)
			got := dkv.DBContents(t, ro)
			require.Equal(t, "synced", got["last"])
			for k, v := range got {
				g, err := ro.Get([]byte(k))
				require.NoError(t, err)
				require.Equal(t, v, string(g))
			}
			require.NoError(t, ro.Close())
			require.Equal(t, 1, torn, "the read-only Open did not meet the torn tail")
			require.Equal(t, before, dirImage(t, crashed, "/"), "a read-only Open changed the directory")
			require.Equal(t, before, dirImage(t, crashed.CrashClone(vfs.CrashOptions{}), "/"),
				"a read-only Open changed what is durable")

			rw, err := dkv.Open("/db", &dkv.Options{FS: twin, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			require.Equal(t, dkv.DBContents(t, rw), got, "read-only and read-write recovery disagree")
			require.NoError(t, rw.Close())
		})
	}
}

// Contract: on a read-only DB every call that would write fails with
// ErrReadOnly and changes nothing, while reads, snapshots, iterators and
// Metrics work, and Close succeeds.
func TestReadOnlyRefusesWrites(t *testing.T) {
	mem := vfs.NewMem()
	db, err := dkv.Open("/db", &dkv.Options{FS: mem, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("flushed"), []byte("1")))
	require.NoError(t, db.Flush())
	require.NoError(t, db.Put([]byte("logged"), []byte("2")))
	require.NoError(t, db.Close())
	before := dirImage(t, mem, "/")

	ro, err := dkv.Open("/db", readOnlyOptions(mem))
	require.NoError(t, err)
	require.ErrorIs(t, ro.Put([]byte("k"), []byte("v")), dkv.ErrReadOnly)
	require.ErrorIs(t, ro.Delete([]byte("flushed")), dkv.ErrReadOnly)
	require.ErrorIs(t, ro.DeleteRange([]byte("a"), []byte("z")), dkv.ErrReadOnly)
	require.ErrorIs(t, ro.DeleteRange([]byte("a"), []byte("a")), dkv.ErrReadOnly, "even an empty range")
	b := ro.NewBatch()
	require.ErrorIs(t, ro.Write(b, nil), dkv.ErrReadOnly, "even an empty batch")
	require.NoError(t, b.Put([]byte("k"), []byte("v")))
	require.ErrorIs(t, ro.Write(b, dkv.Sync), dkv.ErrReadOnly)
	require.ErrorIs(t, ro.Flush(), dkv.ErrReadOnly)
	require.ErrorIs(t, ro.Compact(context.Background(), nil, nil), dkv.ErrReadOnly)

	require.Equal(t, map[string]string{"flushed": "1", "logged": "2"}, dkv.DBContents(t, ro))
	snap := ro.NewSnapshot()
	v, err := snap.Get([]byte("logged"))
	require.NoError(t, err)
	require.Equal(t, "2", string(v))
	require.NoError(t, snap.Close())
	m := ro.Metrics()
	require.Equal(t, 1, m.Levels[0].Files)
	require.Equal(t, 1, m.MemTable.Entries, "the log's write is in the memtable")
	require.NotEmpty(t, m.String())
	require.NoError(t, ro.Close())
	require.ErrorIs(t, ro.Put([]byte("k"), []byte("v")), dkv.ErrClosed)
	require.Equal(t, before, dirImage(t, mem, "/"))
}

// Contract: read-only DBs of one directory coexist; a writer is refused
// while any is open, and a read-only Open while the writer is; each side
// gets the directory once the other is gone. On MemFS and on the OS's
// filesystem (flock LOCK_SH / LOCK_EX).
func TestReadOnlyLocking(t *testing.T) {
	run := func(t *testing.T, fsys vfs.FS, dir string) {
		rwOpts := &dkv.Options{FS: fsys, Logger: slog.New(slog.DiscardHandler)}
		w, err := dkv.Open(dir, rwOpts)
		require.NoError(t, err)
		require.NoError(t, w.Put([]byte("k"), []byte("v")))
		_, err = dkv.Open(dir, readOnlyOptions(fsys))
		require.ErrorIs(t, err, dkv.ErrLocked, "read-only Open while a writer holds the directory")
		require.NoError(t, w.Close())

		a, err := dkv.Open(dir, readOnlyOptions(fsys))
		require.NoError(t, err)
		b, err := dkv.Open(dir, readOnlyOptions(fsys))
		require.NoError(t, err, "two read-only DBs coexist")
		for _, db := range []*dkv.DB{a, b} {
			v, err := db.Get([]byte("k"))
			require.NoError(t, err)
			require.Equal(t, "v", string(v))
		}
		_, err = dkv.Open(dir, rwOpts)
		require.ErrorIs(t, err, dkv.ErrLocked, "writer Open while two read-only DBs are open")
		require.NoError(t, a.Close())
		_, err = dkv.Open(dir, rwOpts)
		require.ErrorIs(t, err, dkv.ErrLocked, "writer Open while one read-only DB is open")
		require.NoError(t, b.Close())

		w, err = dkv.Open(dir, rwOpts)
		require.NoError(t, err, "the last read-only DB closed")
		require.NoError(t, w.Close())
	}
	t.Run("mem", func(t *testing.T) { run(t, vfs.NewMem(), "/db") })
	t.Run("os", func(t *testing.T) { run(t, vfs.Default, filepath.Join(t.TempDir(), "db")) })
}

// Contract: a read-only Open of a directory that holds no database fails
// with an error matching fs.ErrNotExist and creates nothing: not the
// directory, not its parents, not a LOCK file.
func TestReadOnlyOpenNeedsADatabase(t *testing.T) {
	t.Run("mem", func(t *testing.T) {
		mem := vfs.NewMem()
		_, err := dkv.Open("/a/b/db", readOnlyOptions(mem))
		require.ErrorIs(t, err, fs.ErrNotExist)
		require.Empty(t, dirImage(t, mem, "/"))

		require.NoError(t, mem.MkdirAll("/empty", 0o755))
		_, err = dkv.Open("/empty", readOnlyOptions(mem))
		require.ErrorIs(t, err, fs.ErrNotExist)
		require.Contains(t, err.Error(), "LOCK")

		writeFile(t, mem, "/empty/LOCK", nil)
		_, err = dkv.Open("/empty", readOnlyOptions(mem))
		require.ErrorIs(t, err, fs.ErrNotExist)
		require.Contains(t, err.Error(), "CURRENT")
		require.Equal(t, map[string]string{"empty": "/", "empty/LOCK": ""}, dirImage(t, mem, "/"))
	})
	t.Run("os", func(t *testing.T) {
		root := t.TempDir()
		_, err := dkv.Open(filepath.Join(root, "a", "db"), readOnlyOptions(vfs.Default))
		require.ErrorIs(t, err, fs.ErrNotExist)
		require.Empty(t, dirImage(t, vfs.Default, root))
	})
}
