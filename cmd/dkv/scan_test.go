package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
)

// TestScanGolden: scan prints the live keys of a range in key order, from
// the tables and from the log alike (deleted keys left out, values cut at
// 40 bytes, bytes that are not text quoted), then their count. --end is
// excluded; the count says "(limit reached)" only when keys are left over.
// Flags that do not go together, a negative --limit, --start above --end
// and arguments are usage errors (exit 2); a locked database exits 1, and
// so does a directory without a database (scan opens read-only). -o json
// prints the keys as an array of an object, values whole, keys that are
// not UTF-8 as {"hex": …}; under --hex the bounds are given in hex and
// keys and values printed in hex.
func TestScanGolden(t *testing.T) {
	runGolden(t, []scenario{
		{name: "scan", setup: fillDB, steps: [][]string{
			{"scan"},
		}},
		{name: "scan_prefix", setup: fillDB, steps: [][]string{
			{"scan", "--prefix", "user00"},
			{"scan", "--prefix", "bin"},
			{"scan", "--prefix", "nothing"},
		}},
		{name: "scan_range", setup: fillDB, steps: [][]string{
			{"scan", "--start", "user004", "--end", "user008"},
			{"scan", "--start", "user010"},
			{"scan", "--end", "empty"},
			{"scan", "--end", "after"},
			{"scan", "--start", "user005", "--end", "user005"},
		}},
		{name: "scan_limit", setup: fillDB, steps: [][]string{
			{"scan", "--limit", "2"},
			{"scan", "--prefix", "user01", "--limit", "2"},
			{"scan", "--limit", "0", "--keys-only"},
		}},
		{name: "scan_usage", steps: [][]string{
			{"scan", "--prefix", "a", "--start", "b"},
			{"scan", "--prefix", "a", "--end", "b"},
			{"scan", "--limit", "-1"},
			{"scan", "--limit", "many"},
			{"scan", "--start", "b", "--end", "a"},
			{"scan", "user"},
		}},
		{name: "scan_new_db", setup: emptyDB, steps: [][]string{
			{"scan"},
			{"-o", "json", "scan"},
		}},
		{name: "scan_no_db", steps: [][]string{
			{"scan"},
			{"-o", "json", "scan"},
		}},
		{name: "scan_json", setup: fillDB, steps: [][]string{
			{"-o", "json", "scan", "--start", "c", "--limit", "5"},
			{"-o", "json", "scan", "--keys-only", "--prefix", "user01"},
			{"-o", "json", "scan", "--limit", "5"}, // "bin\x00\xff" is not text: --hex is needed
		}},
		{name: "scan_hex", setup: fillDB, steps: [][]string{
			{"--hex", "scan", "--limit", "4"},
			{"--hex", "scan", "--prefix", "7573657230315"},
			{"--hex", "scan", "--prefix", "757365723031"},
			{"--hex", "scan", "--start", "7a", "--end", "75"},
			{"--hex", "-o", "json", "scan", "--start", "6c", "--end", "75736572303032"},
		}},
		{name: "scan_locked", setup: holdDB, steps: [][]string{
			{"scan"},
		}},
	})
}

// TestScanCorrupt: a damaged data block makes scan print the keys read
// before it, no count, and exit 1 with the corruption, its file and
// offset; in JSON, a document of those keys with an "error" member. (Not
// a golden test: with -tags invariants, Close reports the damage a second
// time.)
func TestScanCorrupt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	corruptSecondBlock(t, dir)
	r := invoke("--dir", dir, "scan")
	require.Equal(t, exitFailure, r.code)
	require.Equal(t, `key            value
after          flush
"bin\x00\xff"  "\x01\x02"
empty          ""
long           0123456789012345678901234567890123456789…
user001        value-1
user002        value-2
user004        value-4
user005        newer
`, r.stdout)
	require.True(t, strings.HasPrefix(r.stderr, "dkv: corruption in "+filepath.Join(dir, "000005.sst")+
		" at offset 176: sstable: data block checksum mismatch"), "stderr: %s", r.stderr)

	// In JSON: one document, the keys read before the damage and the
	// error (from "c": "bin\x00\xff" would need --hex).
	r = invoke("--dir", dir, "-o", "json", "scan", "--keys-only", "--start", "c")
	require.Equal(t, exitFailure, r.code)
	var doc scanDoc
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc), r.stdout)
	require.Len(t, doc.Keys, 6)
	require.Equal(t, "user005", doc.Keys[5].Key)
	require.Equal(t, 6, doc.Count)
	require.Contains(t, doc.Error, "data block checksum mismatch")
}

// corruptSecondBlock builds the database of fillDB and damages the second
// (last) data block of its first table, which holds the keys after
// user006: a scan reads the keys before them.
func corruptSecondBlock(t *testing.T, dir string) {
	fillDB(t, dir)
	flipByte(t, filepath.Join(dir, "000005.sst"), 176+10)
}

// TestScanModel: for random keys over a small alphabet that includes 0xff
// (where a prefix has no upper bound), scan --keys-only prints exactly the
// keys of a sorted model within each range: --prefix, and [--start, --end)
// with either bound left out.
func TestScanModel(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{'a', 'b', 0xff}
	randKey := func() string {
		k := make([]byte, 1+rng.IntN(3))
		for i := range k {
			k[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(k)
	}
	model := map[string]bool{}
	buildDB(t, dir, func(db *dkv.DB) {
		for i := range 60 {
			k := randKey()
			if rng.IntN(4) == 0 {
				require.NoError(t, db.Delete([]byte(k)))
				delete(model, k)
			} else {
				require.NoError(t, db.Put([]byte(k), []byte("v")))
				model[k] = true
			}
			if i == 30 {
				require.NoError(t, db.Flush()) // half in a table, half in the log
			}
		}
	})
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range model {
			if !yield(k) {
				return
			}
		}
	})
	want := func(in func(k string) bool) string {
		var b strings.Builder
		n := 0
		for _, k := range keys {
			if in(k) {
				if n == 0 {
					b.WriteString("key\n")
				}
				fmt.Fprintf(&b, "%s\n", display([]byte(k), 0))
				n++
			}
		}
		b.WriteString(count(n, "key", "keys") + "\n")
		return b.String()
	}
	scan := func(args ...string) string {
		r := invoke(append([]string{"--dir", dir, "scan", "--keys-only", "--limit", "0"}, args...)...)
		require.Equal(t, exitOK, r.code, "scan %q: %s", args, r.stderr)
		return r.stdout
	}
	require.Equal(t, want(func(string) bool { return true }), scan())
	for range 30 {
		p := randKey()
		require.Equal(t, want(func(k string) bool { return strings.HasPrefix(k, p) }), scan("--prefix", p), "--prefix %q", p)
		s, e := randKey(), randKey()
		if s > e {
			s, e = e, s
		}
		require.Equal(t, want(func(k string) bool { return k >= s && k < e }), scan("--start", s, "--end", e), "[%q, %q)", s, e)
		require.Equal(t, want(func(k string) bool { return k >= s }), scan("--start", s), "[%q, ∞)", s)
		require.Equal(t, want(func(k string) bool { return k < e }), scan("--end", e), "[∅, %q)", e)
	}
}
