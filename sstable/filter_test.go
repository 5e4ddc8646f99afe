package sstable

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// bloomTestKeys returns n distinct keys of 8 to 27 bytes drawn from seed:
// the seed and the key's index (4 bytes each, big-endian), then up to 19
// random bytes. Keys from different seeds are disjoint.
func bloomTestKeys(seed uint64, n int) [][]byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	keys := make([][]byte, n)
	for i := range keys {
		k := binary.BigEndian.AppendUint32(nil, uint32(seed))
		k = binary.BigEndian.AppendUint32(k, uint32(i))
		for range r.IntN(20) {
			k = append(k, byte(r.Uint32()))
		}
		keys[i] = k
	}
	return keys
}

// buildBloom returns the filter over keys at bitsPerKey.
func buildBloom(bitsPerKey int, keys [][]byte) []byte {
	w := newBloomWriter(bitsPerKey)
	for _, k := range keys {
		w.add(k)
	}
	return w.finish()
}

// falsePositiveRate is the fraction of absent keys the filter claims.
func falsePositiveRate(filter []byte, absent [][]byte) float64 {
	n := 0
	for _, k := range absent {
		if bloomMayContain(filter, k) {
			n++
		}
	}
	return float64(n) / float64(len(absent))
}

// bloomHash is MurmurHash3_x86_32: it must agree with the published test
// vectors (SMHasher's reference implementation), which pins it across
// platforms and lets other implementations of the format check theirs.
func TestMurmur3Vectors(t *testing.T) {
	for _, c := range []struct {
		data string
		seed uint32
		want uint32
	}{
		{"", 0, 0},
		{"", 1, 0x514e28b7},
		{"", 0xffffffff, 0x81f16f39},
		{"\x00\x00\x00\x00", 0, 0x2362f9de},
		{"\x00\x00\x00", 0, 0x85f0b427},
		{"\x00\x00", 0, 0x30f4c306},
		{"\x00", 0, 0x514e28b7},
		{"\x21\x43\x65\x87", 0, 0xf55b516b},
		{"\x21\x43\x65", 0, 0x7e4a8634},
		{"\x21\x43", 0, 0xa0f7b07a},
		{"\x21", 0, 0x72661cf4},
		{"\xff\xff\xff\xff", 0, 0x76293b50},
		{"aaaa", 0x9747b28c, 0x5a97808a},
		{"aaa", 0x9747b28c, 0x283e0130},
		{"aa", 0x9747b28c, 0x5d211726},
		{"a", 0x9747b28c, 0x7fa09ea6},
		{"abcd", 0x9747b28c, 0xf0478627},
		{"abc", 0x9747b28c, 0xc84a62dd},
		{"ab", 0x9747b28c, 0x74875592},
		{"test", 0, 0xba6bd213},
		{"Hello, world!", 0, 0xc0363e43},
		{"Hello, world!", 0x9747b28c, 0x24884cba},
		{"The quick brown fox jumps over the lazy dog", 0, 0x2e4ff723},
		{"The quick brown fox jumps over the lazy dog", 0x9747b28c, 0x2fa826cd},
		{"ππππππππ", 0x9747b28c, 0xd58063c1},
	} {
		require.Equal(t, c.want, murmur3([]byte(c.data), c.seed), "%q seed %#x", c.data, c.seed)
	}
	require.Equal(t, murmur3([]byte("dkv"), bloomSeed), bloomHash([]byte("dkv")))
}

// The filter bytes for a fixed input never change: this pins the hash, the
// seed, k, the probe sequence, the bit order and the layout. If this test
// fails, the table format has changed. (The literals were checked against an
// independent implementation of the description in filter.go.)
func TestBloomGolden(t *testing.T) {
	require.Equal(t, uint32(0x6dba6b55), bloomHash([]byte("a")))
	require.Equal(t, uint32(0xcf97146c), bloomHash([]byte("b")))
	require.Equal(t, uint32(0xedc9e05d), bloomHash([]byte("c")))
	// 3 keys × 10 bits is below the 64-bit minimum: 8 bytes of bits, then k=7.
	filter := buildBloom(10, [][]byte{[]byte("a"), []byte("b"), []byte("c")})
	require.Equal(t, "110caa6000521195"+"07", hex.EncodeToString(filter))
	// 10 keys × 10 bits: 100 bits, rounded up to 13 bytes.
	var fruit [][]byte
	for _, k := range []string{"apple", "banana", "cherry", "date", "elderberry", "fig", "grape", "honeydew", "kiwi", "lemon"} {
		fruit = append(fruit, []byte(k))
	}
	require.Equal(t, "756bd6ec213313c348386e1245"+"07", hex.EncodeToString(buildBloom(10, fruit)))
}

// k = round(bitsPerKey × ln 2), clamped to [1, 30].
func TestBloomProbes(t *testing.T) {
	for bpk, k := range map[int]int{-3: 1, 0: 1, 1: 1, 2: 1, 3: 2, 5: 3, 10: 7, 16: 11, 20: 14, 43: 30, 44: 30, 1000: 30} {
		require.Equal(t, k, bloomProbes(bpk), "bits per key %d", bpk)
	}
	require.Equal(t, 1, newBloomWriter(0).bitsPerKey, "bits per key below 1 count as 1")
}

// A filter holds max(64, n×bitsPerKey) bits rounded up to bytes, then k.
func TestBloomSize(t *testing.T) {
	for _, c := range []struct{ n, bpk, bytes int }{
		{0, 10, 8}, {1, 10, 8}, {6, 10, 8}, {7, 10, 9}, {100, 10, 125}, {101, 10, 127}, {1000, 1, 125}, {3, 30, 12},
	} {
		filter := buildBloom(c.bpk, bloomTestKeys(1, c.n))
		require.Len(t, filter, c.bytes+1, "%d keys at %d bits/key", c.n, c.bpk)
		require.Equal(t, byte(bloomProbes(c.bpk)), filter[c.bytes])
	}
}

// A filter over no keys is valid and matches nothing.
func TestBloomEmpty(t *testing.T) {
	filter := newBloomWriter(10).finish()
	require.Equal(t, "0000000000000000"+"07", hex.EncodeToString(filter))
	for _, k := range bloomTestKeys(2, 1000) {
		require.False(t, bloomMayContain(filter, k), "%x", k)
	}
	require.False(t, bloomMayContain(filter, nil))
}

// Every key added is reported present, at any bits per key: a bloom filter
// has no false negatives.
func TestBloomNoFalseNegatives(t *testing.T) {
	keys := bloomTestKeys(3, 100_000)
	for _, bpk := range []int{1, 10} {
		filter := buildBloom(bpk, keys)
		for _, k := range keys {
			require.True(t, bloomMayContain(filter, k), "%d bits/key: lost %x", bpk, k)
		}
	}
	// Short and empty keys too, including sizes that end mid-word.
	var small [][]byte
	for n := range 9 {
		small = append(small, make([]byte, n), []byte("abcdefgh")[:n])
	}
	filter := buildBloom(10, small)
	for _, k := range small {
		require.True(t, bloomMayContain(filter, k), "lost %q", k)
	}
}

// At 10 bits per key the false-positive rate is near the theoretical 0.82%
// (k=7): between 0.5% and 1.5% over 100k absent keys.
func TestBloomFalsePositiveRate(t *testing.T) {
	filter := buildBloom(10, bloomTestKeys(4, 100_000))
	rate := falsePositiveRate(filter, bloomTestKeys(5, 100_000))
	t.Logf("10 bits/key: false-positive rate %.3f%% over 100000 absent keys (%d filter bytes)", 100*rate, len(filter))
	require.Greater(t, rate, 0.005)
	require.Less(t, rate, 0.015)
}

// More bits per key, fewer false positives.
func TestBloomRateFallsWithBits(t *testing.T) {
	keys, absent := bloomTestKeys(6, 100_000), bloomTestKeys(7, 100_000)
	prev := 1.0
	for _, bpk := range []int{5, 10, 20} {
		rate := falsePositiveRate(buildBloom(bpk, keys), absent)
		t.Logf("%2d bits/key (k=%2d): false-positive rate %.4f%%", bpk, bloomProbes(bpk), 100*rate)
		require.Less(t, rate, prev, "%d bits/key", bpk)
		prev = rate
	}
}

// Consecutive duplicates are stored once; the writer resets on finish and
// builds the same filter again from the same keys.
func TestBloomWriterCountAndReset(t *testing.T) {
	w := newBloomWriter(10)
	for _, k := range []string{"a", "a", "b", "b", "b", "a"} {
		w.add([]byte(k))
	}
	require.Equal(t, 3, w.count())
	first := w.finish()
	require.Equal(t, 0, w.count())
	for _, k := range []string{"a", "b", "a"} {
		w.add([]byte(k))
	}
	require.Equal(t, first, w.finish())
}

// A filter the reader does not understand matches every key, so that it can
// never hide data; a valid filter answers the same by key and by hash.
func TestBloomUnderstoodOrPermissive(t *testing.T) {
	keys := bloomTestKeys(8, 200)
	valid := buildBloom(10, keys[:100])
	for _, bad := range [][]byte{
		nil,
		{},
		{7},
		append(make([]byte, 8), 0),   // k = 0
		append(make([]byte, 8), 31),  // k above 30: a future format
		append(make([]byte, 8), 255), // likewise
	} {
		for _, k := range keys {
			require.True(t, bloomMayContain(bad, k), "filter %x, key %x", bad, k)
		}
	}
	for _, k := range keys {
		require.Equal(t, bloomMayContain(valid, k), bloomMayContainHash(valid, bloomHash(k)))
	}
	// The k byte is honoured up to 30, and an all-ones array matches all.
	ones := []byte{0xff, 0xff, 30}
	for _, k := range keys {
		require.True(t, bloomMayContain(ones, k))
	}
}

// FuzzBloom: bloomMayContain never panics on arbitrary filter bytes, agrees
// with bloomMayContainHash, and is permissive on filters it does not
// understand; and a filter built from the fuzzer's key contains that key.
func FuzzBloom(f *testing.F) {
	f.Add(buildBloom(10, [][]byte{[]byte("a"), []byte("b"), []byte("c")}), []byte("a"))
	f.Add(buildBloom(10, bloomTestKeys(9, 50)), []byte("absent"))
	f.Add([]byte{}, []byte("k"))
	f.Add([]byte{0x01}, []byte{})
	f.Add([]byte{0xff, 0x00, 0x1f}, []byte("k"))
	f.Add([]byte{0x00, 0x01}, []byte("key"))
	f.Fuzz(func(t *testing.T, filter, key []byte) {
		got := bloomMayContain(filter, key)
		if got != bloomMayContainHash(filter, bloomHash(key)) {
			t.Fatalf("by key %v, by hash the opposite", got)
		}
		if !got && (len(filter) < 2 || filter[len(filter)-1] == 0 || filter[len(filter)-1] > bloomMaxProbes) {
			t.Fatalf("a filter the reader cannot understand hid key %x", key)
		}
		for _, bpk := range []int{1, 10, 64} {
			if !bloomMayContain(buildBloom(bpk, [][]byte{key}), key) {
				t.Fatalf("%d bits/key: false negative for %x", bpk, key)
			}
		}
	})
}

// BenchmarkBloomMayContain probes a 100k-key, 10 bits/key filter (122 KiB)
// with 8- to 27-byte keys, half of them present.
func BenchmarkBloomMayContain(b *testing.B) {
	keys := bloomTestKeys(10, 100_000)
	filter := buildBloom(10, keys)
	probes := append(keys[:1024:1024], bloomTestKeys(11, 1024)...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(probes), func(i, j int) { probes[i], probes[j] = probes[j], probes[i] })
	b.ReportAllocs()
	i, hits := 0, 0
	for b.Loop() {
		if bloomMayContain(filter, probes[i%len(probes)]) {
			hits++
		}
		i++
	}
	b.ReportMetric(float64(hits)/float64(i), "hits/op")
}
