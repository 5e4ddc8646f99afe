package sstable

import (
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata (read the diff first)")

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), got, "%s differs (rewrite with -update after reading the diff)", path)
}

// The bytes of a small block, pinned: the worked example of prefix
// compression in docs/format/sstable.md.
func TestBlockGolden(t *testing.T) {
	w := blockWriter{restartInterval: 2}
	for _, kv := range [][2]string{{"apple", "1"}, {"apricot", "22"}, {"banana", "3"}, {"band", ""}, {"bandana", "5"}} {
		w.add([]byte(kv[0]), []byte(kv[1]))
	}
	checkGolden(t, "block.golden", hex.Dump(w.finish()))
}

// Blocks round-trip for every restart interval: forward, backward and
// seeks agree with the sorted keys.
func TestBlockRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, interval := range []int{1, 2, 3, 16, 1000} {
		var keys []string
		seen := map[string]bool{}
		for range 500 {
			k := fmt.Sprintf("%s%d", strings.Repeat("p", rng.IntN(4)), rng.IntN(100000))
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		w := blockWriter{restartInterval: interval}
		for _, k := range keys {
			w.add([]byte(k), []byte("v"+k))
		}
		var it blockIter
		require.NoError(t, it.init(w.finish(), keyOrder{}))
		i := 0
		for ok := it.first(); ok; ok = it.next() {
			require.Equal(t, keys[i], string(it.key))
			require.Equal(t, "v"+keys[i], string(it.val))
			i++
		}
		require.Equal(t, len(keys), i)
		for ok := it.last(); ok; ok = it.prev() {
			i--
			require.Equal(t, keys[i], string(it.key), "interval %d backwards", interval)
		}
		require.Equal(t, 0, i)
		for range 300 {
			target := fmt.Sprintf("%s%d", strings.Repeat("p", rng.IntN(4)), rng.IntN(100000))
			ge, _ := slices.BinarySearch(keys, target)
			require.Equal(t, ge < len(keys), it.seekGE([]byte(target)))
			if ge < len(keys) {
				require.Equal(t, keys[ge], string(it.key))
			}
			require.Equal(t, ge > 0, it.seekLT([]byte(target)), "seekLT %q interval %d", target, interval)
			if ge > 0 {
				require.Equal(t, keys[ge-1], string(it.key))
				if ge > 1 {
					require.True(t, it.prev())
					require.Equal(t, keys[ge-2], string(it.key))
				}
			}
		}
		require.NoError(t, it.err)
	}
}

// The layout of a small table, pinned: block offsets, sizes, kinds and
// index keys. A change here is a format change.
func TestTableLayoutGolden(t *testing.T) {
	var entries []kv
	for i := range 40 {
		kind := base.KindSet
		if i%7 == 3 {
			kind = base.KindDelete
		}
		var v []byte
		if kind == base.KindSet {
			v = []byte(fmt.Sprintf("value %d, half compressible xxxxxxxxxxxxxxxxxxxxxxxx", i))
		}
		entries = append(entries, kv{base.MakeInternalKey([]byte(fmt.Sprintf("user%03d", i)), base.SeqNum(100+i), kind), v})
	}
	var out strings.Builder
	for _, c := range []Compression{NoCompression, SnappyCompression, ZstdCompression} {
		_, data := writeTable(t, vfs.NewMem(), "t.sst", entries,
			WriterOptions{BlockSize: 512, Compression: c, BloomBitsPerKey: 10})
		r, err := openBytes(t, data, ReaderOptions{})
		require.NoError(t, err)
		l, err := r.Layout()
		require.NoError(t, err)
		fmt.Fprintf(&out, "compression %s, %d bytes\n", c, len(data))
		require.NoError(t, l.Write(&out))
		out.WriteString(r.Properties().String())
		out.WriteString("\n")
	}
	checkGolden(t, "layout.golden", out.String())
}

// Stepping back through a block, with its cache of decoded restart runs,
// yields the entries forward iteration yields, in reverse — also when
// forward steps and seeks come in between.
func TestBlockPrevMatchesNext(t *testing.T) {
	for _, interval := range []int{1, 3, 16} {
		w := blockWriter{restartInterval: interval}
		var keys []string
		for i := range 100 {
			k := fmt.Sprintf("key%04d-%s", i, strings.Repeat("x", i%7))
			keys = append(keys, k)
			w.add([]byte(k), []byte(fmt.Sprint(i)))
		}
		block := w.finish()
		var it blockIter
		require.NoError(t, it.init(block, keyOrder{}))
		i := len(keys) - 1
		for ok := it.last(); ok; ok = it.prev() {
			require.Equal(t, keys[i], string(it.key), "interval %d", interval)
			require.Equal(t, fmt.Sprint(i), string(it.val))
			i--
		}
		require.Equal(t, -1, i)
		rng := rand.New(rand.NewPCG(uint64(interval), 1))
		pos := -1
		for range 2000 {
			switch rng.IntN(4) {
			case 0:
				pos = rng.IntN(len(keys))
				require.True(t, it.seekGE([]byte(keys[pos])))
			case 1:
				if pos >= 0 && pos < len(keys)-1 {
					pos++
					require.True(t, it.next())
				}
			default:
				if pos > 0 {
					pos--
					require.True(t, it.prev())
				}
			}
			if pos >= 0 {
				require.Equal(t, keys[pos], string(it.key), "interval %d", interval)
				require.Equal(t, fmt.Sprint(pos), string(it.val))
			}
		}
	}
}
