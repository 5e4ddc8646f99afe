package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
)

// Helpers for the tests of the inspection commands, and tests of the
// helpers they share.

// testOptions are the options of the databases the inspection tests build:
// a small memtable and small blocks, so that a few keys make several
// blocks, with synced writes. Each test writes less than a memtable
// between its flushes, so that only its explicit Flush calls make tables
// and the file numbers are the same in every run.
func testOptions() *dkv.Options {
	o := &dkv.Options{MemTableSize: 4 << 10, Logger: slog.New(slog.DiscardHandler)}
	o.Levels[0].BlockSize = 256
	return o
}

// buildDB opens a database in dir, runs fn, and closes it.
func buildDB(t *testing.T, dir string, fn func(db *dkv.DB)) {
	t.Helper()
	db, err := dkv.Open(dir, testOptions())
	require.NoError(t, err)
	fn(db)
	require.NoError(t, db.Close())
}

// fillDB writes a fixed workload in two flushes, then more writes that
// stay in the log: two L0 tables and a log. The keys and values cover
// what the commands must show with care: a key that is not text, a value
// longer than the 40 bytes shown, an empty value, a tombstone.
func fillDB(t *testing.T, dir string) {
	t.Helper()
	buildDB(t, dir, func(db *dkv.DB) {
		for i := range 12 {
			require.NoError(t, db.Put(fmt.Appendf(nil, "user%03d", i), fmt.Appendf(nil, "value-%d", i)))
		}
		require.NoError(t, db.Put([]byte("bin\x00\xff"), []byte("\x01\x02")))
		require.NoError(t, db.Put([]byte("long"), []byte(strings.Repeat("0123456789", 6))))
		require.NoError(t, db.Put([]byte("empty"), nil))
		require.NoError(t, db.Delete([]byte("user003")))
		require.NoError(t, db.Flush())

		b := db.NewBatch()
		require.NoError(t, b.Put([]byte("user005"), []byte("newer")))
		require.NoError(t, b.Delete([]byte("user006")))
		require.NoError(t, b.Put([]byte("zebra"), []byte("stripes")))
		require.NoError(t, db.Write(b, nil))
		require.NoError(t, db.Flush())

		require.NoError(t, db.Put([]byte("after"), []byte("flush")))
		require.NoError(t, db.Delete([]byte("user000")))
	})
}

// flipByte inverts the byte at off of the file at path (negative off:
// from the end).
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0xff
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

func TestDisplay(t *testing.T) {
	for _, c := range []struct {
		in    string
		limit int
		want  string
	}{
		{"abc", 0, "abc"},
		{"hello world", 0, "hello world"},
		{"", 0, `""`},
		{" lead", 0, `" lead"`},
		{"trail ", 0, `"trail "`},
		{"a\x00b", 0, `"a\x00b"`},
		{"tab\there", 0, `"tab\there"`},
		{`say "hi"`, 0, `"say \"hi\""`},
		{`back\slash`, 0, `"back\\slash"`},
		{"\xff\xfe", 0, `"\xff\xfe"`},
		{"héllo", 0, "héllo"},
		{"0123456789", 4, "0123…"},
		{"0123", 4, "0123"},
		{"a\x00cdef", 3, `"a\x00c"…`},
		// A cut that would split "é" (2 bytes) keeps it whole or drops it.
		{"abé", 3, "ab…"},
		{"abéd", 4, "abé…"},
		// Stray continuation bytes are cut where the limit says.
		{"ab\x80\x80\x80", 3, `"ab\x80"…`},
	} {
		require.Equal(t, c.want, display([]byte(c.in), c.limit), "display(%q, %d)", c.in, c.limit)
	}
}

func TestHumanSize(t *testing.T) {
	for _, c := range []struct {
		n    uint64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{4 << 10, "4.0 KiB"},
		{1536, "1.5 KiB"},
		{1<<20 - 1, "1.0 MiB"},
		{5 << 30, "5.0 GiB"},
		{1<<64 - 1, "16.0 EiB"},
	} {
		require.Equal(t, c.want, humanSize(c.n), "humanSize(%d)", c.n)
	}
}
