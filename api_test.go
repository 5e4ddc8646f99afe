package dkv_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/sstable"
	"github.com/distributedkv/dkv/vfs"
)

func openMem(t *testing.T, opts *dkv.Options) (*dkv.DB, *vfs.MemFS) {
	t.Helper()
	fs := vfs.NewMem()
	o := dkv.Options{}
	if opts != nil {
		o = *opts
	}
	o.FS = fs
	o.Logger = slog.New(slog.DiscardHandler)
	db, err := dkv.Open("/db", &o)
	require.NoError(t, err)
	return db, fs
}

// Put, Get and Delete round-trip; Get returns ErrNotFound for a missing or
// deleted key, and an empty (non-nil) slice for an empty value.
func TestPutGetDelete(t *testing.T) {
	db, _ := openMem(t, nil)
	defer db.Close()

	_, err := db.Get([]byte("a"))
	require.ErrorIs(t, err, dkv.ErrNotFound)
	require.NoError(t, db.Put([]byte("a"), []byte("1")))
	require.NoError(t, db.Put([]byte("b"), nil))
	v, err := db.Get([]byte("a"))
	require.NoError(t, err)
	require.Equal(t, []byte("1"), v)
	v, err = db.Get([]byte("b"))
	require.NoError(t, err)
	require.NotNil(t, v)
	require.Empty(t, v)

	require.NoError(t, db.Put([]byte("a"), []byte("2")))
	v, err = db.Get([]byte("a"))
	require.NoError(t, err)
	require.Equal(t, []byte("2"), v)

	require.NoError(t, db.Delete([]byte("a")))
	_, err = db.Get([]byte("a"))
	require.ErrorIs(t, err, dkv.ErrNotFound)
	require.NoError(t, db.Delete([]byte("never-written")), "deleting a missing key is not an error")
}

// dkv copies what it is given and what it returns: changing a slice after
// Put, or the slice Get returned, changes nothing in the database.
func TestSlicesAreCopied(t *testing.T) {
	db, _ := openMem(t, nil)
	defer db.Close()
	key, val := []byte("key"), []byte("value")
	require.NoError(t, db.Put(key, val))
	key[0], val[0] = 'X', 'X'
	got, err := db.Get([]byte("key"))
	require.NoError(t, err)
	require.Equal(t, []byte("value"), got)
	got[0] = 'Y'
	again, err := db.Get([]byte("key"))
	require.NoError(t, err)
	require.Equal(t, []byte("value"), again)

	b := db.NewBatch()
	k := []byte("bk")
	require.NoError(t, b.Put(k, val))
	k[0] = 'Z'
	require.NoError(t, db.Write(b, nil))
	_, err = db.Get([]byte("bk"))
	require.NoError(t, err)
}

// Every bad input fails with a clear error matching ErrInvalidArgument and
// changes nothing.
func TestBadInput(t *testing.T) {
	db, _ := openMem(t, nil)
	defer db.Close()
	require.NoError(t, db.Put([]byte("keep"), []byte("v")))

	bigKey := bytes.Repeat([]byte("k"), dkv.MaxKeySize+1)
	okKey := bytes.Repeat([]byte("k"), dkv.MaxKeySize)
	bigVal := make([]byte, dkv.MaxValueSize+1)
	cases := []struct {
		name string
		op   func() error
		msg  string
	}{
		{"put nil key", func() error { return db.Put(nil, []byte("v")) }, "empty key"},
		{"put empty key", func() error { return db.Put([]byte{}, []byte("v")) }, "empty key"},
		{"put oversized key", func() error { return db.Put(bigKey, []byte("v")) }, "MaxKeySize"},
		{"put oversized value", func() error { return db.Put([]byte("k"), bigVal) }, "MaxValueSize"},
		{"get empty key", func() error { _, err := db.Get(nil); return err }, "empty key"},
		{"get oversized key", func() error { _, err := db.Get(bigKey); return err }, "MaxKeySize"},
		{"delete empty key", func() error { return db.Delete(nil) }, "empty key"},
		{"delete oversized key", func() error { return db.Delete(bigKey) }, "MaxKeySize"},
		{"write nil batch", func() error { return db.Write(nil, nil) }, "nil batch"},
		{"batch put empty key", func() error { return db.NewBatch().Put(nil, nil) }, "empty key"},
		{"batch delete oversized key", func() error { return db.NewBatch().Delete(bigKey) }, "MaxKeySize"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.op()
			require.ErrorIs(t, err, dkv.ErrInvalidArgument)
			require.Contains(t, err.Error(), c.msg)
		})
	}
	require.NoError(t, db.Put(okKey, nil), "a key of exactly MaxKeySize is accepted")
	v, err := db.Get([]byte("keep"))
	require.NoError(t, err)
	require.Equal(t, []byte("v"), v)
	_, err = db.Get([]byte("k"))
	require.ErrorIs(t, err, dkv.ErrNotFound, "the refused put left nothing")
}

// A batch with a refused operation is refused whole by Write, so that an
// ignored error cannot make a partial "atomic" batch; Reset makes it usable.
func TestBatchRefusedWhole(t *testing.T) {
	db, _ := openMem(t, nil)
	defer db.Close()
	b := db.NewBatch()
	require.NoError(t, b.Put([]byte("a"), []byte("1")))
	require.Error(t, b.Put(nil, []byte("2")))
	require.Error(t, b.Put([]byte("c"), []byte("3")), "a marked batch refuses further operations")
	err := db.Write(b, nil)
	require.ErrorIs(t, err, dkv.ErrInvalidArgument)
	_, err = db.Get([]byte("a"))
	require.ErrorIs(t, err, dkv.ErrNotFound)

	b.Reset()
	require.Equal(t, 0, b.Len())
	require.NoError(t, b.Put([]byte("a"), []byte("1")))
	require.NoError(t, db.Write(b, nil))
	_, err = db.Get([]byte("a"))
	require.NoError(t, err)
}

// Operations in a batch apply in order and all at once; the batch can be
// written again, and an empty batch is a no-op.
func TestBatchSemantics(t *testing.T) {
	db, _ := openMem(t, nil)
	defer db.Close()
	b := db.NewBatch()
	require.NoError(t, db.Write(b, nil))
	require.NoError(t, b.Put([]byte("x"), []byte("1")))
	require.NoError(t, b.Put([]byte("x"), []byte("2")))
	require.NoError(t, b.Put([]byte("y"), []byte("1")))
	require.NoError(t, b.Delete([]byte("y")))
	require.Equal(t, 4, b.Len())
	require.Positive(t, b.Size())
	require.NoError(t, db.Write(b, dkv.NoSync))
	v, err := db.Get([]byte("x"))
	require.NoError(t, err)
	require.Equal(t, []byte("2"), v, "the later put in a batch wins")
	_, err = db.Get([]byte("y"))
	require.ErrorIs(t, err, dkv.ErrNotFound, "a delete after a put in a batch wins")

	require.NoError(t, db.Put([]byte("x"), []byte("3")))
	require.NoError(t, db.Write(b, dkv.Sync), "a batch may be written twice")
	v, err = db.Get([]byte("x"))
	require.NoError(t, err)
	require.Equal(t, []byte("2"), v)
}

// After Close every call returns ErrClosed, including a second Close.
func TestClosed(t *testing.T) {
	db, _ := openMem(t, nil)
	b := db.NewBatch()
	require.NoError(t, b.Put([]byte("k"), []byte("v")))
	require.NoError(t, db.Close())
	require.ErrorIs(t, db.Put([]byte("k"), []byte("v")), dkv.ErrClosed)
	require.ErrorIs(t, db.Delete([]byte("k")), dkv.ErrClosed)
	require.ErrorIs(t, db.Write(b, nil), dkv.ErrClosed)
	_, err := db.Get([]byte("k"))
	require.ErrorIs(t, err, dkv.ErrClosed)
	require.ErrorIs(t, db.Close(), dkv.ErrClosed)
	require.NotNil(t, db.Metrics())
}

// Options: zero fields take defaults, out-of-range ones are refused by
// Open with ErrInvalidArgument, and Open never modifies the caller's
// Options.
func TestOptions(t *testing.T) {
	o := (&dkv.Options{}).EnsureDefaults()
	require.Equal(t, int64(dkv.DefaultMemTableSize), o.MemTableSize)
	require.Equal(t, vfs.Default, o.FS)
	require.NotNil(t, o.Logger)
	require.NoError(t, o.Validate())
	require.NotNil(t, (*dkv.Options)(nil).EnsureDefaults())
	require.ErrorIs(t, (*dkv.Options)(nil).Validate(), dkv.ErrInvalidArgument)

	for _, size := range []int64{-1, 1, 4<<10 - 1, 4<<30 + 1} {
		fs := vfs.NewMem()
		opts := &dkv.Options{FS: fs, MemTableSize: size}
		_, err := dkv.Open("/db", opts)
		require.ErrorIs(t, err, dkv.ErrInvalidArgument, "MemTableSize %d", size)
		require.Contains(t, err.Error(), "MemTableSize")
		require.Equal(t, size, opts.MemTableSize)
		names, err := fs.List("/")
		require.NoError(t, err)
		require.Empty(t, names, "a refused Open creates nothing")
	}
	_, err := dkv.Open("", nil)
	require.ErrorIs(t, err, dkv.ErrInvalidArgument)

	opts := &dkv.Options{FS: vfs.NewMem(), Logger: slog.New(slog.DiscardHandler)}
	db, err := dkv.Open("/db", opts)
	require.NoError(t, err)
	require.Zero(t, opts.MemTableSize, "Open works on a copy")
	require.NoError(t, db.Close())
}

// A second Open of a live directory fails at once with ErrLocked, on the
// in-memory and on the OS filesystem; after Close the directory opens again.
func TestLocked(t *testing.T) {
	t.Run("mem", func(t *testing.T) {
		db, fs := openMem(t, nil)
		_, err := dkv.Open("/db", &dkv.Options{FS: fs})
		require.ErrorIs(t, err, dkv.ErrLocked)
		require.NoError(t, db.Close())
		db, err = dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		require.NoError(t, db.Close())
	})
	t.Run("os", func(t *testing.T) {
		dir := t.TempDir()
		db, err := dkv.Open(dir, nil)
		require.NoError(t, err)
		_, err = dkv.Open(dir, nil)
		require.ErrorIs(t, err, dkv.ErrLocked)
		require.NoError(t, db.Close())
		db, err = dkv.Open(dir, nil)
		require.NoError(t, err)
		require.NoError(t, db.Close())
	})
}

// Data survives Close and Open, including memtables that rotated, and a
// reopened DB keeps numbering writes after the recovered ones.
func TestReopen(t *testing.T) {
	db, fs := openMem(t, &dkv.Options{MemTableSize: 16 << 10})
	for i := range 2000 {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("k%05d", i)), []byte(fmt.Sprint(i))))
	}
	require.NoError(t, db.Delete([]byte("k00010")))
	m := db.Metrics()
	require.Positive(t, m.MemTable.Immutable+int(m.Flush.Count), "the memtable rotated")
	require.NoError(t, db.Close())

	for range 3 {
		db, err := dkv.Open("/db", &dkv.Options{FS: fs, MemTableSize: 16 << 10, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		for i := range 2000 {
			v, err := db.Get([]byte(fmt.Sprintf("k%05d", i)))
			if i == 10 {
				require.ErrorIs(t, err, dkv.ErrNotFound)
				continue
			}
			require.NoError(t, err)
			require.Equal(t, fmt.Sprint(i), string(v))
		}
		require.Equal(t, m.SeqNum, db.Metrics().SeqNum)
		require.NoError(t, db.Close())
	}
}

// Metrics count the log's work, and its String names the parts.
func TestMetrics(t *testing.T) {
	db, _ := openMem(t, nil)
	defer db.Close()
	for i := range 10 {
		require.NoError(t, db.Put([]byte(fmt.Sprint(i)), []byte("v")))
	}
	m := db.Metrics()
	require.Equal(t, int64(10), m.WAL.Records)
	require.GreaterOrEqual(t, m.WAL.Syncs, int64(10), "synced writes each fsync when alone")
	require.Equal(t, uint64(10), m.SeqNum)
	require.Equal(t, 10, m.MemTable.Entries)
	s := m.String()
	for _, part := range []string{"wal", "memtable", "syncs"} {
		require.True(t, strings.Contains(s, part), "%q in %s", part, s)
	}
}

func TestErrorsAreDistinct(t *testing.T) {
	all := []error{dkv.ErrNotFound, dkv.ErrClosed, dkv.ErrLocked, dkv.ErrCorruption, dkv.ErrInvalidArgument, dkv.ErrStopped}
	for i, a := range all {
		for j, b := range all {
			require.Equal(t, i == j, errors.Is(a, b), "%v vs %v", a, b)
		}
	}
}

// Has answers what Get finds, on the DB and on a snapshot; a bad key is an
// error, not "absent".
func TestHas(t *testing.T) {
	db, _ := openMem(t, nil)
	defer db.Close()
	require.NoError(t, db.Put([]byte("a"), []byte("")))
	snap := db.NewSnapshot()
	defer snap.Close()
	require.NoError(t, db.Delete([]byte("a")))
	require.NoError(t, db.Put([]byte("b"), []byte("2")))
	for _, c := range []struct {
		has  func([]byte) (bool, error)
		key  string
		want bool
	}{{db.Has, "a", false}, {db.Has, "b", true}, {snap.Has, "a", true}, {snap.Has, "b", false}} {
		ok, err := c.has([]byte(c.key))
		require.NoError(t, err)
		require.Equal(t, c.want, ok, c.key)
	}
	_, err := db.Has(nil)
	require.ErrorIs(t, err, dkv.ErrInvalidArgument)
}

// Iterator.All walks the range in order and stops when the loop does.
func TestIteratorAll(t *testing.T) {
	db, _ := openMem(t, nil)
	defer db.Close()
	for _, k := range []string{"a", "b", "c", "d"} {
		require.NoError(t, db.Put([]byte(k), []byte("v"+k)))
	}
	it, err := db.NewIter(&dkv.IterOptions{LowerBound: []byte("b")})
	require.NoError(t, err)
	var got []string
	for k, v := range it.All() {
		got = append(got, string(k)+"="+string(v))
	}
	require.Equal(t, []string{"b=vb", "c=vc", "d=vd"}, got)
	for k := range it.All() {
		if string(k) == "c" {
			break
		}
	}
	require.Equal(t, "c", string(it.Key()), "a loop that breaks leaves the iterator where it stopped")
	require.NoError(t, it.Error())
	require.NoError(t, it.Close())
}

// A closed batch comes back from NewBatch empty, and closing twice does
// not hand the same batch to two callers.
func TestBatchClose(t *testing.T) {
	db, _ := openMem(t, nil)
	defer db.Close()
	b := db.NewBatch()
	require.NoError(t, b.Put([]byte("k"), []byte("v")))
	require.NoError(t, db.Write(b, nil))
	b.Close()
	b.Close()
	seen := map[*dkv.Batch]bool{}
	for range 4 {
		n := db.NewBatch()
		require.Zero(t, n.Len(), "a reused batch starts empty")
		require.False(t, seen[n], "one batch handed out twice")
		seen[n] = true
	}
	v, err := db.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
}

// An empty bound, like a nil one, is unbounded: no key is empty.
func TestIterEmptyBoundsUnbounded(t *testing.T) {
	db, _ := openMem(t, nil)
	defer db.Close()
	for _, k := range []string{"a", "b"} {
		require.NoError(t, db.Put([]byte(k), []byte("v")))
	}
	for _, o := range []*dkv.IterOptions{
		{LowerBound: []byte{}, UpperBound: []byte{}},
		{UpperBound: []byte{}},
		{LowerBound: []byte{}, UpperBound: []byte("b")},
	} {
		it, err := db.NewIter(o)
		require.NoError(t, err)
		n := 0
		for range it.All() {
			n++
		}
		require.NoError(t, it.Close())
		want := 2
		if len(o.UpperBound) > 0 {
			want = 1
		}
		require.Equal(t, want, n, "%+v", o)
	}
}

// An embedded library is quiet unless given a Logger (issue 13): with the
// default, nothing reaches slog's default logger — not an ingest, not the
// recovery of a torn log tail — while a given Logger hears both.
func TestDefaultLoggerIsQuiet(t *testing.T) {
	var global bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&global, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(old)

	run := func(logger *slog.Logger) {
		fs := vfs.NewMem()
		db, err := dkv.Open("/db", &dkv.Options{FS: fs, Logger: logger})
		require.NoError(t, err)
		writeExternal(t, fs, "/ext/a.sst", extOp{key: "a", value: "1"})
		require.NoError(t, db.Ingest([]string{"/ext/a.sst"}))
		require.NoError(t, db.Put([]byte("b"), []byte("2")))
		require.NoError(t, db.Close())
		logs := listFiles(t, fs, ".log")
		require.Len(t, logs, 1)
		data := snapshotDir(t, fs, "/db")[logs[0]]
		f, err := fs.Create("/db/" + logs[0])
		require.NoError(t, err)
		_, err = f.Write(append([]byte(data), "a torn tail"...))
		require.NoError(t, err)
		require.NoError(t, f.Close())
		db, err = dkv.Open("/db", &dkv.Options{FS: fs, Logger: logger})
		require.NoError(t, err)
		require.NoError(t, db.Close())
	}
	run(nil)
	require.Empty(t, global.String(), "the default Logger logs nothing")

	var given bytes.Buffer
	run(slog.New(slog.NewTextHandler(&given, nil)))
	require.Contains(t, given.String(), "ingested a table")
	require.Contains(t, given.String(), "torn")
	require.Empty(t, global.String())
}

// What the public API takes and returns can be named and built outside the
// module (issue 13: go doc showed base.FileNum, an internal type): events,
// traces and sstable.Writer.Add use dkv's and sstable's names for them.
// The test compiles only if they exist; it checks they are one type.
func TestPublicNamesForEngineTypes(t *testing.T) {
	var info dkv.CompactionInfo
	var inputs []dkv.FileNum = info.Inputs
	var flushed dkv.FileNum = dkv.FlushInfo{}.FileNum
	var seq dkv.SeqNum = dkv.ReadResultTrace{}.Seq
	var kind dkv.Kind = dkv.ReadResultTrace{}.Kind
	require.Empty(t, inputs)
	require.Zero(t, flushed)
	require.Zero(t, seq)
	require.Equal(t, "SET", dkv.KindSet.String())
	require.Equal(t, dkv.KindDelete, kind)
	require.Equal(t, "000042", dkv.FileNum(42).String())

	fs := vfs.NewMem()
	f, err := fs.Create("/t.sst")
	require.NoError(t, err)
	w := sstable.NewWriter(f, sstable.WriterOptions{})
	var k sstable.InternalKey = sstable.MakeInternalKey([]byte("k"), sstable.SeqNum(7), dkv.KindSet)
	require.NoError(t, w.Add(k, []byte("v")))
	_, err = w.Finish()
	require.NoError(t, err)
}
