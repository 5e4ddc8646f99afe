package main

import "testing"

// TestPutGolden: put prints nothing and exits 0; the value, spaces and all,
// is what a later get prints; a second put replaces it.
func TestPutGolden(t *testing.T) {
	runGolden(t, []scenario{
		{name: "put_then_get", steps: [][]string{
			{"put", "greeting", "hello"},
			{"get", "greeting"},
		}},
		{name: "put_value_with_spaces", steps: [][]string{
			{"put", "motd", "hello,  wide world"},
			{"get", "motd"},
		}},
		{name: "put_overwrite", steps: [][]string{
			{"put", "k", "first"},
			{"put", "k", "second"},
			{"get", "k"},
		}},
		{name: "put_empty_value", steps: [][]string{
			{"put", "k", ""},
			{"get", "k"},
		}},
		{name: "put_wrong_arg_count", steps: [][]string{
			{"put"},
			{"put", "k"},
			{"put", "k", "v", "extra"},
		}},
		{name: "put_empty_key", steps: [][]string{
			{"put", "", "v"},
		}},
	})
}
