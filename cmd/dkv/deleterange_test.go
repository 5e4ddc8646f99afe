package main

import "testing"

// TestDeleteRangeGolden: delete-range deletes the keys in [START, END),
// START included and END not, from the tables and the log alike, and
// prints nothing; the log then holds a RANGEDEL, and a table flushed
// afterwards a range tombstone. An empty range deletes nothing; an empty
// START or END is no bound. START above END, bad hex and arguments are
// usage errors (exit 2); a locked database exits 1. With -o json it prints
// the range; under --hex START and END are hex.
func TestDeleteRangeGolden(t *testing.T) {
	runGolden(t, []scenario{
		{name: "deleterange", setup: fillDB, noDir: true, steps: [][]string{
			{"--dir", "$DIR", "delete-range", "user002", "user008"},
			{"--dir", "$DIR", "scan", "--keys-only"},
			{"--dir", "$DIR", "delete-range", "long", "long"},
			{"--dir", "$DIR", "scan", "--keys-only", "--prefix", "lo"},
			{"--dir", "$DIR", "-o", "json", "--hex", "delete-range", "7573657230", "75736572303039"},
			{"--dir", "$DIR", "scan", "--keys-only", "--prefix", "user"},
			{"wal", "$DIR/000006.log"},
			// compact flushes the log's writes to a table; no table holds
			// keys in [zz, zzz), so that one stays in L0.
			{"--dir", "$DIR", "compact", "--start", "zz", "--end", "zzz"},
			{"sstable", "--entries=false", "$DIR/000017.sst"},
			{"--hex", "sstable", "--entries=false", "$DIR/000017.sst"},
			// Empty bounds: everything below "long", then everything from
			// "user010".
			{"--dir", "$DIR", "-o", "json", "delete-range", "", "long"},
			{"--dir", "$DIR", "delete-range", "user010", ""},
			{"--dir", "$DIR", "scan", "--keys-only"},
		}},
		{name: "deleterange_usage", steps: [][]string{
			{"delete-range", "b", "a"},
			{"delete-range", "a"},
			{"delete-range", "a", "b", "c"},
			{"--hex", "delete-range", "61", "6g"},
		}},
		{name: "deleterange_locked", setup: holdDB, steps: [][]string{
			{"delete-range", "a", "b"},
			{"delete-range", "a", "a"},
		}},
	})
}
