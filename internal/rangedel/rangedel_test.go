package rangedel

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
)

var cmp = base.DefaultComparer.Compare

func ts(args ...any) []Tombstone {
	var out []Tombstone
	for i := 0; i < len(args); i += 3 {
		out = append(out, Tombstone{Start: []byte(args[i].(string)), End: []byte(args[i+1].(string)), Seq: base.SeqNum(args[i+2].(int))})
	}
	return out
}

func format(spans []Span) string {
	var b bytes.Buffer
	for _, s := range spans {
		fmt.Fprintf(&b, "[%s,%s)%v ", s.Start, s.End, s.Seqs)
	}
	return b.String()
}

// The example of the package doc, and the cases around it.
func TestFragment(t *testing.T) {
	for _, c := range []struct {
		in   []Tombstone
		want string
	}{
		{ts("b", "f", 7, "d", "h", 4), "[b,d)[7] [d,f)[7 4] [f,h)[4] "},
		{ts("a", "c", 1, "c", "e", 1), "[a,e)[1] "}, // touching, same seqs: joined
		{ts("a", "c", 1, "d", "e", 2), "[a,c)[1] [d,e)[2] "},
		{ts("a", "z", 3, "m", "n", 3), "[a,z)[3] "}, // duplicate seq over [m,n): one
		{ts("a", "z", 3, "m", "n", 5), "[a,m)[3] [m,n)[5 3] [n,z)[3] "},
		{ts("c", "c", 3, "d", "b", 4), ""}, // empty ranges delete nothing
		{nil, ""},
	} {
		require.Equal(t, c.want, format(Fragment(cmp, c.in)), "%v", c.in)
	}
}

// bruteCovering is the definition: the newest tombstone at or below seq
// whose range holds key.
func bruteCovering(in []Tombstone, key []byte, seq base.SeqNum) (base.SeqNum, bool) {
	var best base.SeqNum
	ok := false
	for _, t := range in {
		if cmp(t.Start, key) <= 0 && cmp(key, t.End) < 0 && t.Seq <= seq && (!ok || t.Seq > best) {
			best, ok = t.Seq, true
		}
	}
	return best, ok
}

func randomTombstones(rng *rand.Rand, n int) []Tombstone {
	out := make([]Tombstone, n)
	for i := range out {
		a, b := rng.IntN(20), rng.IntN(20)
		out[i] = Tombstone{Start: []byte{byte('a' + a)}, End: []byte{byte('a' + b)}, Seq: base.SeqNum(1 + rng.IntN(30))}
	}
	return out
}

// Fragments answer every lookup as the tombstones themselves do, are well
// formed, and survive a round trip through Tombstones.
func TestFragmentMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		in := randomTombstones(rng, rng.IntN(12))
		spans := Fragment(cmp, in)
		require.NoError(t, Check(cmp, spans))
		require.Equal(t, format(spans), format(Fragment(cmp, Tombstones(spans))))
		l := NewList(cmp, spans)
		for k := byte('a' - 1); k <= 'a'+21; k++ {
			for seq := base.SeqNum(0); seq <= 31; seq++ {
				want, wantOK := bruteCovering(in, []byte{k}, seq)
				got, gotOK := l.Covering([]byte{k}, seq)
				require.Equal(t, wantOK, gotOK, "key %c seq %d in %v", k, seq, in)
				require.Equal(t, want, got, "key %c seq %d in %v", k, seq, in)
			}
		}
	}
}

// AnyDeletes answers "is this version deleted" over several lists as the
// tombstones themselves do.
func TestAnyDeletes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		var lists []*List
		var all []Tombstone
		for range rng.IntN(4) {
			in := randomTombstones(rng, rng.IntN(6))
			all = append(all, in...)
			lists = append(lists, NewList(cmp, Fragment(cmp, in)))
		}
		seq := base.SeqNum(rng.IntN(32))
		for k := byte('a'); k <= 'a'+20; k++ {
			for ps := base.SeqNum(0); ps <= seq; ps++ {
				t1, ok := bruteCovering(all, []byte{k}, seq)
				require.Equal(t, ok && t1 > ps, AnyDeletes(lists, []byte{k}, ps, seq), "key %c point %d read %d", k, ps, seq)
			}
		}
	}
}

func TestTruncate(t *testing.T) {
	spans := Fragment(cmp, ts("b", "f", 7, "d", "h", 4))
	require.Equal(t, "[c,d)[7] [d,f)[7 4] [f,g)[4] ", format(Truncate(cmp, spans, []byte("c"), []byte("g"))))
	require.Equal(t, "[b,d)[7] [d,e)[7 4] ", format(Truncate(cmp, spans, nil, []byte("e"))))
	require.Equal(t, "[f,h)[4] ", format(Truncate(cmp, spans, []byte("f"), nil)))
	require.Empty(t, Truncate(cmp, spans, []byte("h"), nil))
	require.Empty(t, Truncate(cmp, spans, nil, []byte("b")))
}

func TestCheckRefuses(t *testing.T) {
	s := func(a, b string, seqs ...base.SeqNum) Span { return Span{Start: []byte(a), End: []byte(b), Seqs: seqs} }
	require.Error(t, Check(cmp, []Span{s("b", "b", 1)}))
	require.Error(t, Check(cmp, []Span{s("a", "b")}))
	require.Error(t, Check(cmp, []Span{s("a", "b", 1, 2)}))
	require.Error(t, Check(cmp, []Span{s("a", "b", 2, 2)}))
	require.Error(t, Check(cmp, []Span{s("a", "c", 1), s("b", "d", 2)}))
	require.NoError(t, Check(cmp, []Span{s("a", "c", 2, 1), s("c", "d", 2)}))
}

// FuzzFragment checks Fragment, FragmentFor, NewListOf and Extend against the
// definition (FragmentFor only for the readers it keeps) on tombstones
// decoded from the fuzzer's bytes (3 bytes each: start, end, sequence
// number).
func FuzzFragment(f *testing.F) {
	f.Add([]byte("bf\x07dh\x04"))
	f.Add([]byte("az\x03mn\x05aa\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var in []Tombstone
		for i := 0; i+3 <= len(data) && len(in) < 64; i += 3 {
			in = append(in, Tombstone{Start: data[i : i+1], End: data[i+1 : i+2], Seq: base.SeqNum(data[i+2])})
		}
		spans := Fragment(cmp, in)
		if err := Check(cmp, spans); err != nil {
			t.Fatal(err)
		}
		var extended *List // one tombstone at a time: in levels
		for i := range in {
			extended = extended.Extend(cmp, in[:i+1])
		}
		for name, l := range map[string]*List{
			"Fragment":         NewList(cmp, spans),
			"NewListOf":        NewListOf(cmp, in),
			"Extend":           extended,
			"FragmentFor(100)": NewList(cmp, FragmentFor(cmp, in, []base.SeqNum{100})),
		} {
			for k := 0; k < 256; k += 7 {
				for _, seq := range []base.SeqNum{0, 1, 100, 255} {
					if name == "FragmentFor(100)" && seq < 100 {
						continue // not a reader it was fragmented for
					}
					want, wantOK := bruteCovering(in, []byte{byte(k)}, seq)
					got, gotOK := l.Covering([]byte{byte(k)}, seq)
					if want != got || wantOK != gotOK {
						t.Fatalf("%s: key %d seq %d: got %d,%v want %d,%v (%v)", name, k, seq, got, gotOK, want, wantOK, in)
					}
				}
			}
		}
	})
}
