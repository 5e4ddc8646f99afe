package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGetGolden: a missing key exits 3 with a message on stderr and nothing
// on stdout but, under --explain, its steps; a directory without a database (get opens read-only, and
// creates nothing) exits 1 saying so, as does a database another DB holds
// open ("locked") and a directory that is a file. -o json prints the key
// and value as an object; under --hex the key is given in hex and the
// value printed in hex, and bad hex is a usage error (exit 2).
func TestGetGolden(t *testing.T) {
	runGolden(t, []scenario{
		// --explain in JSON, on a key in the memtable, a deleted key (exit
		// 3, the steps still printed on stdout: they are the answer, in
		// text and in JSON with a null value), and with --hex.
		{name: "explain_json", steps: [][]string{
			{"-o", "json", "put", "--explain", "k", "v"},
			{"-o", "json", "get", "--explain", "k"},
			{"--hex", "-o", "json", "get", "--explain", "6b"},
			{"-o", "json", "del", "--explain", "k"},
			{"get", "--explain", "k"},
			{"-o", "json", "get", "--explain", "k"},
			{"flush"},
			{"-o", "json", "flush"},
		}},
		{name: "get_missing", setup: emptyDB, steps: [][]string{
			{"get", "nothing"},
			{"-o", "json", "get", "nothing"},
			{"get", "--explain", "nothing"},
		}},
		{name: "get_no_db", steps: [][]string{
			{"get", "k"},
			{"get", "k"},
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
		{name: "get_json", setup: fillDB, steps: [][]string{
			{"-o", "json", "get", "user001"},
			{"get", "empty", "--output", "json"},
			{"-o", "json", "--hex", "get", "62696e00ff"},
			{"-o", "json", "get", "after"}, // from the log, which a read-only open replays
		}},
		{name: "get_hex", setup: fillDB, steps: [][]string{
			{"--hex", "get", "75736572303031"},
			{"--hex", "get", "62696E00FF"},
			{"--hex", "get", "656d707479"},
			{"--hex", "get", "6e6f7468696e67"},
			{"--hex", "get", "user001"},
			{"--hex", "get", "757"},
		}},
	})
}

// makeFile puts a regular file where the database directory should be.
func makeFile(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte("not a database\n"), 0o644))
}
