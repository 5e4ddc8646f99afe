package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGetGolden: a missing key exits 3 with a message on stderr and nothing
// on stdout; a database another DB holds open exits 1 saying "locked"; an
// I/O error (the directory is a file) exits 1.
func TestGetGolden(t *testing.T) {
	runGolden(t, []scenario{
		{name: "get_missing", steps: [][]string{
			{"get", "nothing"},
		}},
		{name: "get_wrong_arg_count", steps: [][]string{
			{"get"},
			{"get", "a", "b"},
		}},
		{name: "get_locked", setup: holdDB, steps: [][]string{
			{"get", "k"},
			{"put", "k", "v"},
		}},
		{name: "get_dir_is_file", setup: makeFile, steps: [][]string{
			{"get", "k"},
		}},
	})
}

// makeFile puts a regular file where the database directory should be.
func makeFile(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte("not a database\n"), 0o644))
}
