package main

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
)

// TestSpaceGolden: space prints the estimated size of a range, in the
// tables only (the writes fillDB left in the log do not count), and a key
// inside it that splits the size in about half, or "none" for a range
// with too little data to split (or none at all). Either bound may be
// left out; an empty one is no bound. --start above --end, bad hex and
// arguments are usage errors (exit 2); a directory without a database and
// a locked one exit 1. With -o json it prints an object, an absent bound
// and no split key null; under --hex bounds are given and keys printed in
// hex.
func TestSpaceGolden(t *testing.T) {
	runGolden(t, []scenario{
		{name: "space", setup: fillDB, steps: [][]string{
			{"space"},
			{"space", "--start", "user004", "--end", "user008"},
			{"space", "--start", "user010"},
			{"space", "--end", "b"},
			{"space", "--start", "", "--end", ""},
			{"space", "--start", "zz"},
		}},
		{name: "space_split", setup: manyBlocks, steps: [][]string{
			{"space"},
			{"space", "--start", "key100", "--end", "key200"},
			{"space", "--start", "key100", "--end", "key101"},
		}},
		{name: "space_new_db", setup: emptyDB, steps: [][]string{
			{"space"},
		}},
		{name: "space_usage", steps: [][]string{
			{"space", "--start", "b", "--end", "a"},
			{"space", "k"},
			{"--hex", "space", "--start", "x"},
		}},
		{name: "space_no_db", steps: [][]string{
			{"space"},
		}},
		{name: "space_locked", setup: holdDB, steps: [][]string{
			{"space"},
		}},
		{name: "space_json", setup: manyBlocks, steps: [][]string{
			{"-o", "json", "space"},
			{"-o", "json", "space", "--start", "key100", "--end", "key101"},
		}},
		{name: "space_hex", setup: manyBlocks, steps: [][]string{
			{"--hex", "space", "--start", "6b6579313030"},
			{"--hex", "-o", "json", "space", "--end", "6b6579313030"},
		}},
	})
}

// manyBlocks builds a database of one table of 400 keys, key000 to key399,
// in many blocks of 256 bytes: a range of it has a split key.
func manyBlocks(t *testing.T, dir string) {
	t.Helper()
	o := testOptions()
	o.MemTableSize = 1 << 20 // one table
	db, err := dkv.Open(dir, o)
	require.NoError(t, err)
	b := db.NewBatch()
	for i := range 400 {
		require.NoError(t, b.Put(fmt.Appendf(nil, "key%03d", i), []byte("a value of some thirty bytes..")))
	}
	require.NoError(t, db.Write(b, nil))
	require.NoError(t, db.Flush())
	require.NoError(t, db.Close())
}
