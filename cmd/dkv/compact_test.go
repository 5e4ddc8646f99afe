package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
)

// TestCompactGolden: compact flushes the log's writes, compacts every
// table of the range down to L6, and prints the levels before and after
// (stdout) and each flush and compaction (stderr). The keys a scan prints
// are the same before and after; lsm then shows the tombstones and
// overwritten values gone. A range leaves the tables outside it where they
// are. --start above --end, bad hex and arguments are usage errors (exit
// 2); a locked database exits 1. -o json prints the levels before and
// after as an object, and with --explain the picker's view and the
// compactions run; under --hex the bounds are hex.
func TestCompactGolden(t *testing.T) {
	runGolden(t, []scenario{
		{name: "compact", setup: fillDB, noDir: true, steps: [][]string{
			{"--dir", "$DIR", "scan", "--keys-only"},
			{"--dir", "$DIR", "compact"},
			{"lsm", "$DIR"},
			{"--dir", "$DIR", "scan", "--keys-only"},
		}},
		{name: "compact_range", setup: twoTables, noDir: true, steps: [][]string{
			{"--dir", "$DIR", "compact", "--start", "x", "--end", "y"},
			{"lsm", "$DIR"},
		}},
		{name: "compact_json_hex", setup: twoTables, steps: [][]string{
			{"-o", "json", "--hex", "compact", "--start", "78", "--end", "79"},
			{"--hex", "compact", "--start", "7x"},
		}},
		{name: "compact_explain_json", setup: twoTables, steps: [][]string{
			{"-o", "json", "compact", "--explain", "--end", "y"},
			{"-o", "json", "compact", "--explain"},
		}},
		{name: "compact_new_db", setup: emptyDB, steps: [][]string{
			{"compact"},
		}},
		{name: "compact_usage", steps: [][]string{
			{"compact", "--start", "b", "--end", "a"},
			{"compact", "--start", "b", "--end", ""}, // no end: fine
			{"compact", "k"},
		}},
		{name: "compact_locked", setup: holdDB, steps: [][]string{
			{"compact"},
		}},
	})
}

// twoTables builds a database of two L0 tables whose keys do not overlap:
// a, b, c and x, y, z.
func twoTables(t *testing.T, dir string) {
	t.Helper()
	buildDB(t, dir, func(db *dkv.DB) {
		for _, keys := range []string{"abc", "xyz"} {
			for _, k := range keys {
				require.NoError(t, db.Put([]byte{byte(k)}, []byte("v")))
			}
			require.NoError(t, db.Flush())
		}
	})
}

// TestCompactInterrupted: a canceled context (an interrupt) stops compact
// after the "before" section: it exits 1 saying so, prints no "after", and
// the database keeps every key.
func TestCompactInterrupted(t *testing.T) {
	dir := t.TempDir()
	fillDB(t, dir)
	before := invoke("--dir", dir, "scan", "--limit", "0")
	require.Equal(t, exitOK, before.code)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := runContext(ctx, []string{"--dir", dir, "compact"}, &stdout, &stderr)
	require.Equal(t, exitFailure, code)
	require.Contains(t, stdout.String(), "before\n")
	require.NotContains(t, stdout.String(), "after\n")
	require.Contains(t, stderr.String(), "dkv: compact interrupted")

	require.Equal(t, before, invoke("--dir", dir, "scan", "--limit", "0"), "an interrupted compact must keep every key")
}
