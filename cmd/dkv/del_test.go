package main

import "testing"

// TestDelGolden: del prints nothing and exits 0, also for a key that has no
// value; a deleted key is not found afterwards.
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
	})
}
