package main

import "testing"

// TestDelGolden: del prints nothing and exits 0, also for a key that has no
// value; a deleted key is not found afterwards. With -o json it prints the
// key; under --hex the key is hex.
func TestDelGolden(t *testing.T) {
	runGolden(t, []scenario{
		{name: "del_then_get", steps: [][]string{
			{"put", "k", "v"},
			{"del", "k"},
			{"get", "k"},
		}},
		{name: "del_missing", steps: [][]string{
			{"del", "nothing"},
		}},
		{name: "del_wrong_arg_count", steps: [][]string{
			{"del"},
			{"del", "a", "b"},
		}},
		{name: "del_json_hex", steps: [][]string{
			{"put", "k", "v"},
			{"--hex", "-o", "json", "del", "6b"},
			{"get", "k"},
			{"--hex", "del", "k"},
		}},
	})
}
