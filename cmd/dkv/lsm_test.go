package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
)

// TestLSMGolden: lsm prints a row per level and a row per table, from the
// MANIFEST alone: it works while another DB holds the directory open, and
// shows the tables that DB flushed (get, which opens the database, fails
// with "locked"). A directory without a database exits 1.
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
