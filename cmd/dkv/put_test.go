package main

import "testing"

// TestPutGolden: put prints nothing and exits 0; the value, spaces and all,
// is what a later get prints; a second put replaces it. With -o json it
// prints the key and value it set; under --hex both are hex (bytes that
// are not text included), and bad hex is a usage error (exit 2).
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
		{name: "put_json", steps: [][]string{
			{"-o", "json", "put", "greeting", "hello"},
			{"-o", "json", "put", "k", ""},
		}},
		{name: "put_hex", steps: [][]string{
			{"--hex", "put", "00ff", "c328"},
			{"--hex", "get", "00ff"},
			{"--hex", "-o", "json", "get", "00ff"},
			{"-o", "json", "scan"}, // not text: --hex is needed
			{"-o", "json", "put", "k\xff", "v"},
			{"-o", "json", "--hex", "put", "6bff", "76"},
			{"--hex", "put", "6b", "xyz"},
			{"--hex", "put", "6b6", "76"},
			{"--hex", "put", "", "76"},
		}},
	})
}
