package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
)

// TestLSMGolden: lsm prints a row per level and a row per table, from the
// MANIFEST alone: it works while another DB holds the directory open, and
// shows the tables that DB flushed (get, which opens the database, fails
// with "locked"). A directory without a database exits 1. -o json prints
// the same as an object (sizes in bytes, keys whole); --hex prints keys in
// hex.
func TestLSMGolden(t *testing.T) {
	runGolden(t, []scenario{
		{name: "lsm", setup: fillDB, noDir: true, steps: [][]string{
			{"lsm", "$DIR"},
		}},
		{name: "lsm_while_open", setup: openFilledDB, noDir: true, steps: [][]string{
			{"lsm", "$DIR"},
			{"manifest", "$DIR"},
			{"--dir", "$DIR", "get", "user001"},
		}},
		{name: "lsm_new_db", setup: emptyDB, noDir: true, steps: [][]string{
			{"lsm", "$DIR"},
		}},
		{name: "lsm_no_db", noDir: true, steps: [][]string{
			{"lsm", "$DIR"},
		}},
		{name: "lsm_json", setup: twoTables, noDir: true, steps: [][]string{
			{"-o", "json", "lsm", "$DIR"},
		}},
		{name: "lsm_json_hex", setup: fillDB, noDir: true, steps: [][]string{
			{"-o", "json", "lsm", "$DIR"}, // "bin\x00\xff" is not text: --hex is needed
			{"--hex", "-o", "json", "lsm", "$DIR"},
		}},
		{name: "lsm_hex", setup: fillDB, noDir: true, steps: [][]string{
			{"--hex", "lsm", "$DIR"},
		}},
		{name: "lsm_wrong_arg_count", noDir: true, steps: [][]string{
			{"lsm"},
			{"lsm", "a", "b"},
		}},
	})
}

// openFilledDB builds the database of fillDB, then reopens it, flushes a
// third table, and keeps the database open for the rest of the test.
func openFilledDB(t *testing.T, dir string) {
	t.Helper()
	fillDB(t, dir)
	db, err := dkv.Open(dir, testOptions())
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	require.NoError(t, db.Put([]byte("live"), []byte("write")))
	require.NoError(t, db.Flush())
}

// TestLSMMatchesMetrics: the levels lsm computes from the MANIFEST are
// those DB.Metrics reports for the same tables (a database with the
// default compaction options), for L0, for a level that has a target (L1,
// after an L0 compaction) and for the bottom level.
func TestLSMMatchesMetrics(t *testing.T) {
	dir := t.TempDir()
	db, err := dkv.Open(dir, testOptions())
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			require.NoError(t, db.Close())
		}
	})
	put := func(round int) {
		for i := range 20 {
			require.NoError(t, db.Put(fmt.Appendf(nil, "key%03d", i), fmt.Appendf(nil, "round-%d", round)))
		}
		require.NoError(t, db.Flush())
	}
	require.NoError(t, db.Put([]byte("bottom"), []byte("v")))
	require.NoError(t, db.Compact(t.Context(), nil, nil)) // L6
	// The fourth L0 table starts a compaction of L0 into L1.
	for round := range dkv.DefaultL0CompactionThreshold {
		put(round)
	}
	require.Eventually(t, func() bool {
		m := db.Metrics()
		return m.Compaction.Running == 0 && m.Levels[0].Files < dkv.DefaultL0CompactionThreshold
	}, 10*time.Second, 5*time.Millisecond)
	put(99) // and one table in L0
	want := db.Metrics().Levels
	require.NoError(t, db.Close())
	closed = true

	require.NotZero(t, want[0].Files, "L0")
	require.NotZero(t, want[1].Score, "L1")
	require.NotZero(t, want[dkv.NumLevels-1].Files, "L6")
	v, err := readVersion(dir)
	require.NoError(t, err)
	require.Equal(t, want, levelMetrics(v))
}
