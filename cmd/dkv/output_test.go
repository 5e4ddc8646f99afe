package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
)

// TestOutputFormat: -o takes text and json, and nothing else.
func TestOutputFormat(t *testing.T) {
	var o outputFormat
	for _, s := range []string{"text", "json"} {
		require.NoError(t, o.Set(s))
		require.Equal(t, s, o.String())
	}
	for _, s := range []string{"", "JSON", "yaml", "text "} {
		require.Error(t, o.Set(s), "%q", s)
	}
}

// TestArg: under --hex an argument is hex, either case, in pairs; bad hex
// is a usage error; without --hex an argument is its bytes.
func TestArg(t *testing.T) {
	plain, hexed := &globals{}, &globals{hex: true}
	b, err := plain.arg("KEY", "6b")
	require.NoError(t, err)
	require.Equal(t, []byte("6b"), b)
	for in, want := range map[string][]byte{"6b": {0x6b}, "00FFaB": {0, 0xff, 0xab}, "": {}} {
		b, err := hexed.arg("KEY", in)
		require.NoError(t, err)
		require.Equal(t, want, b, "%q", in)
	}
	for _, in := range []string{"6", "0x6b", "6g", " 6b", "6b "} {
		_, err := hexed.arg("KEY", in)
		require.Error(t, err, "%q", in)
		require.Equal(t, exitUsage, exitCode(err), "%q", in)
	}
}

// TestJSONBytes: in JSON a key or value is always a string: under --hex
// its bytes in hex, otherwise its bytes as text. Either way the bytes read
// back exactly. Bytes that are not UTF-8 text, without --hex, make
// writeJSON write nothing and return a usage error that says to pass
// --hex; given on the command line, arg refuses them.
func TestJSONBytes(t *testing.T) {
	for _, in := range []string{"", "abc", "héllo", "a\x00b\x01", "\xff", "bin\x00\xff", `"q"`, "\u2028<&>"} {
		for _, isHex := range []bool{false, true} {
			g := &globals{output: outputJSON, hex: isHex}
			var out strings.Builder
			err := g.writeJSON(&out, struct {
				Key string `json:"key"`
			}{g.bytes([]byte(in))})
			if !isHex && !utf8.ValidString(in) {
				require.Error(t, err, "%q", in)
				require.Equal(t, exitUsage, exitCode(err))
				require.Contains(t, err.Error(), "pass --hex")
				require.Empty(t, out.String(), "a refused document writes nothing")
				_, err = g.arg("KEY", in)
				require.Equal(t, exitUsage, exitCode(err), "%q given on the command line", in)
				continue
			}
			require.NoError(t, err)
			var doc struct {
				Key string `json:"key"`
			}
			require.NoError(t, json.Unmarshal([]byte(out.String()), &doc), "%s", out.String())
			got := []byte(doc.Key)
			if isHex {
				got, err = hex.DecodeString(doc.Key)
				require.NoError(t, err)
			}
			require.Equal(t, in, string(got), "%q hex=%v: %s", in, isHex, out.String())
		}
	}
}

func TestCut(t *testing.T) {
	g := &globals{hex: true}
	require.Equal(t, `""`, g.key(nil))
	require.Equal(t, "00ff", g.key([]byte{0, 0xff}))
	require.Equal(t, strings.Repeat("61", maxShown)+"…", g.value([]byte(strings.Repeat("a", maxShown+1))))
	require.Equal(t, strings.Repeat("61", maxShown), g.value([]byte(strings.Repeat("a", maxShown))))
	require.Equal(t, `"bin\x00\xff"`, (&globals{}).key([]byte("bin\x00\xff")))
}

// FuzzKeyText: the text of an internal key, as base.InternalKey.String
// and the sstable package's index keys print it, reads back: parseIndexKey
// finds its user key, sequence number and kind, and hexQuoted prints the
// user key in hex. Neither panics on any string.
func FuzzKeyText(f *testing.F) {
	f.Add([]byte("user006"), uint64(7), uint8(base.KindSet), "")
	f.Add([]byte("bin\x00\xff"), uint64(base.SeqNumMax), uint8(base.KindMax), `"a\"#1,SET`)
	f.Add([]byte(`say "hi"#3,DEL`), uint64(0), uint8(base.KindRangeDelete), `add L0 000005.sst["a"#1,SET-"b`)
	f.Fuzz(func(t *testing.T, user []byte, seq uint64, kind uint8, junk string) {
		k := base.MakeInternalKey(user, base.SeqNum(seq)&base.SeqNumMax, base.Kind(kind))
		s := k.String()
		got, ok := parseIndexKey(s)
		require.True(t, ok, "%s", s)
		require.Equal(t, string(user), string(got.user))
		require.Equal(t, uint64(k.SeqNum()), got.seq)
		require.Equal(t, k.Kind().String(), got.kind)

		g := &globals{hex: true}
		require.Equal(t, fmt.Sprintf("%s#%d,%s", g.key(user), k.SeqNum(), k.Kind()), g.hexQuoted(s))

		parseIndexKey(junk)
		g.hexQuoted(junk)
	})
}
