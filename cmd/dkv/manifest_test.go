package main

import (
	"path/filepath"
	"testing"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/wal"
)

// TestManifestGolden: manifest prints each edit of the MANIFEST that
// CURRENT names, with its offset, then the state they add up to. A
// directory without a database exits 1; so does a MANIFEST with a damaged
// record, after the edits before it (in JSON, with an "error" member).
// -o json prints an object; --hex prints keys in hex.
func TestManifestGolden(t *testing.T) {
	runGolden(t, []scenario{
		{name: "manifest", setup: fillDB, noDir: true, steps: [][]string{
			{"manifest", "$DIR"},
		}},
		{name: "manifest_new_db", setup: emptyDB, noDir: true, steps: [][]string{
			{"manifest", "$DIR"},
		}},
		{name: "manifest_no_db", noDir: true, steps: [][]string{
			{"manifest", "$DIR"},
			{"manifest", "$DIR/nothing/here"},
		}},
		{name: "manifest_corrupt", setup: corruptManifest, noDir: true, steps: [][]string{
			{"manifest", "$DIR"},
		}},
		{name: "manifest_json", setup: twoTables, noDir: true, steps: [][]string{
			{"-o", "json", "manifest", "$DIR"},
		}},
		{name: "manifest_json_hex", setup: fillDB, noDir: true, steps: [][]string{
			{"-o", "json", "manifest", "$DIR"}, // "bin\x00\xff" is not text: --hex is needed
			{"--hex", "-o", "json", "manifest", "$DIR"},
		}},
		{name: "manifest_hex", setup: fillDB, noDir: true, steps: [][]string{
			{"--hex", "manifest", "$DIR"},
		}},
		{name: "manifest_corrupt_json", setup: corruptManifest, noDir: true, steps: [][]string{
			{"--hex", "-o", "json", "manifest", "$DIR"},
		}},
		{name: "manifest_wrong_arg_count", noDir: true, steps: [][]string{
			{"manifest"},
			{"manifest", "a", "b"},
		}},
	})
}

// emptyDB creates a database and closes it without writing.
func emptyDB(t *testing.T, dir string) {
	buildDB(t, dir, func(*dkv.DB) {})
}

// corruptManifest builds the database of fillDB and damages the last edit
// of its MANIFEST. The seal written on close follows it and shows it was
// synced, so the damage is corruption, not a torn tail.
func corruptManifest(t *testing.T, dir string) {
	fillDB(t, dir)
	path := filepath.Join(dir, "MANIFEST-000002")
	offs := recordOffsets(t, path, 2)
	flipByte(t, path, offs[len(offs)-1]+wal.ChunkHeaderSize+10)
}
