package main

import "testing"

// TestCASGolden: cas swaps and exits 0 when the value is OLD, prints "not
// swapped" and exits 4 otherwise, changing nothing; --absent takes the
// place of OLD (no value), --delete of NEW (delete), and an empty
// argument is the empty value, not "no value". With -o json it prints
// the key, old and new (null for no value) and the outcome; under --hex
// its arguments are hex. Missing or extra arguments for the flags given
// are usage errors (exit 2).
func TestCASGolden(t *testing.T) {
	runGolden(t, []scenario{
		{name: "cas", steps: [][]string{
			{"cas", "--absent", "lock", "me"},
			{"cas", "--absent", "lock", "you"},
			{"cas", "lock", "you", "them"},
			{"get", "lock"},
			{"cas", "lock", "me", "you"},
			{"get", "lock"},
			{"cas", "--delete", "lock", "me"},
			{"cas", "--delete", "lock", "you"},
			{"get", "lock"},
			{"cas", "--absent", "--delete", "lock"},
		}},
		{name: "cas_empty_value", steps: [][]string{
			{"cas", "--absent", "k", ""},
			{"cas", "--absent", "k", "x"},
			{"cas", "k", "", "x"},
			{"get", "k"},
		}},
		{name: "cas_json_hex", steps: [][]string{
			{"-o", "json", "cas", "--absent", "k", "v"},
			{"-o", "json", "cas", "--delete", "k", "w"},
			{"--hex", "-o", "json", "cas", "6b", "76", "00ff"},
			{"--hex", "cas", "--delete", "6b", "00ff"},
			{"-o", "json", "cas", "--absent", "--delete", "k"},
		}},
		{name: "cas_usage", steps: [][]string{
			{"cas", "k", "v"},
			{"cas", "--absent", "k"},
			{"cas", "--absent", "k", "old", "new"},
			{"cas", "--delete", "k", "old", "new"},
			{"cas", "--absent", "--delete", "k", "v"},
			{"cas", "", "a", "b"},
			{"--hex", "cas", "6b", "zz", "00"},
		}},
	})
}
