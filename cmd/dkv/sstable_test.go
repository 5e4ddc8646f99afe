package main

import (
	"path/filepath"
	"testing"
)

// TestSSTableGolden: sstable prints a table's properties, blocks and
// entries (values cut at 40 bytes, bytes that are not text quoted);
// --limit bounds the entries and --entries=false drops them. A file that
// is not a table, or a table with a damaged block, exits 1 with the
// corruption and its file and offset, after what was read before it (in
// JSON, with an "error" member). -o json prints an object, values whole;
// --hex prints keys and values in hex.
func TestSSTableGolden(t *testing.T) {
	runGolden(t, []scenario{
		{name: "sstable", setup: fillDB, noDir: true, steps: [][]string{
			{"sstable", "$DIR/000005.sst"},
		}},
		{name: "sstable_limit", setup: fillDB, noDir: true, steps: [][]string{
			{"sstable", "--limit", "2", "$DIR/000007.sst"},
			{"sstable", "--entries=false", "$DIR/000007.sst"},
			{"sstable", "--limit", "-1", "$DIR/000007.sst"},
		}},
		{name: "sstable_not_a_table", setup: fillDB, noDir: true, steps: [][]string{
			{"sstable", "$DIR/CURRENT"},
			{"sstable", "$DIR/000006.log"},
			{"sstable", "$DIR/000009.sst"},
			{"sstable", "$DIR"},
		}},
		{name: "sstable_corrupt", setup: corruptTable, noDir: true, steps: [][]string{
			{"sstable", "$DIR/000005.sst"},
		}},
		{name: "sstable_json", setup: fillDB, noDir: true, steps: [][]string{
			{"-o", "json", "sstable", "--limit", "3", "$DIR/000007.sst"},
			{"-o", "json", "sstable", "--entries=false", "$DIR/000007.sst"},
			{"-o", "json", "sstable", "--limit", "3", "$DIR/000005.sst"}, // "bin\x00\xff": --hex is needed
			{"--hex", "-o", "json", "sstable", "--limit", "3", "$DIR/000005.sst"},
		}},
		{name: "sstable_hex", setup: fillDB, noDir: true, steps: [][]string{
			{"--hex", "sstable", "--limit", "4", "$DIR/000005.sst"},
		}},
		{name: "sstable_corrupt_json", setup: corruptTable, noDir: true, steps: [][]string{
			{"--hex", "-o", "json", "sstable", "$DIR/000005.sst"},
		}},
		{name: "sstable_help", noDir: true, steps: [][]string{
			{"sstable", "--help"},
		}},
		{name: "sstable_wrong_arg_count", noDir: true, steps: [][]string{
			{"sstable"},
			{"sstable", "a", "b"},
		}},
	})
}

// corruptTable builds the database of fillDB and damages the first data
// block of its first table.
func corruptTable(t *testing.T, dir string) {
	fillDB(t, dir)
	flipByte(t, filepath.Join(dir, "000005.sst"), 10)
}
