package iterator

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
)

// visibleModel computes what a VisibleIter over history should yield: for
// each user key in [lower, upper) (nil: unbounded), its newest version
// with a sequence number <= seq, unless that version is a tombstone.
func visibleModel(history []kv, seq base.SeqNum, lower, upper []byte) (keys, values []string) {
	newest := map[string]kv{}
	for _, e := range history {
		uk := string(e.key.UserKey)
		if e.key.SeqNum() > seq || (lower != nil && uk < string(lower)) || (upper != nil && uk >= string(upper)) {
			continue
		}
		if old, ok := newest[uk]; !ok || e.key.SeqNum() > old.key.SeqNum() {
			newest[uk] = e
		}
	}
	for uk, e := range newest {
		if e.key.Kind() == base.KindSet {
			keys = append(keys, uk)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		values = append(values, string(newest[k].value))
	}
	return keys, values
}

// randomInner spreads sorted history over one of the shapes the engine
// builds: a single source, a merge of overlapping sources, a level of
// files, or a merge of a level and sources.
func randomInner(rng *rand.Rand, history []kv) base.InternalIterator {
	split := func(n int) [][]kv {
		parts := make([][]kv, n)
		for _, e := range history {
			i := rng.IntN(n)
			parts[i] = append(parts[i], e)
		}
		return parts
	}
	level := func(kvs []kv) base.InternalIterator {
		files, contents := splitFiles(rng, kvs)
		return NewLevel(cmp, files, func(i int) (base.InternalIterator, error) { return newSliceIter(contents[i]), nil })
	}
	switch rng.IntN(4) {
	case 0:
		return newSliceIter(history)
	case 1:
		var its []base.InternalIterator
		for _, p := range split(1 + rng.IntN(4)) {
			its = append(its, newSliceIter(p))
		}
		return NewMerging(cmp, its...)
	case 2:
		return level(history)
	default:
		parts := split(3)
		return NewMerging(cmp, newSliceIter(parts[0]), level(parts[1]), newSliceIter(parts[2]))
	}
}

// A VisibleIter yields, for each user key in bounds, the newest version at
// or below its sequence number, hiding tombstones, in both directions and
// across direction switches — checked against the model over random
// histories, sequence numbers, bounds and op sequences.
func TestVisibleMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for iter := range 600 {
		keySpace := []int{2, 8, 30}[iter%3]
		history := randomVersions(rng, rng.IntN(80), keySpace)
		seq := base.SeqNum(rng.IntN(len(history) + 2))
		bound := func() []byte {
			if rng.IntN(3) == 0 {
				return nil
			}
			return seekKeyGen(rng, keySpace, 0)().UserKey
		}
		lower, upper := bound(), bound()
		keys, values := visibleModel(history, seq, lower, upper)
		v := NewVisible(cmp, randomInner(rng, history), seq, lower, upper)
		desc := fmt.Sprintf("iter %d: seq=%d lower=%q upper=%q want=%v", iter, seq, lower, upper, keys)
		checkVisibleOps(t, rng, v, keys, values, 200, func() []byte { return seekKeyGen(rng, keySpace, 0)().UserKey }, desc)
		require.NoError(t, v.Close())
	}
}

func checkVisibleOps(t *testing.T, rng *rand.Rand, v *VisibleIter, keys, values []string, n int, key func() []byte, desc string) {
	t.Helper()
	pos := -1
	valid := func() bool { return pos >= 0 && pos < len(keys) }
	var trace []string
	for range n {
		o := randomOp(rng, func() base.InternalKey { return base.InternalKey{UserKey: key()} })
		var got bool
		switch o.name {
		case "first":
			got, pos = v.First(), 0
		case "last":
			got, pos = v.Last(), len(keys)-1
		case "seek-ge":
			got, pos = v.SeekGE(o.key.UserKey), sort.SearchStrings(keys, string(o.key.UserKey))
		case "seek-lt":
			got, pos = v.SeekLT(o.key.UserKey), sort.SearchStrings(keys, string(o.key.UserKey))-1
		case "next", "prev":
			if o.name == "next" {
				got = v.Next()
			} else {
				got = v.Prev()
			}
			if valid() {
				pos += map[bool]int{true: 1, false: -1}[o.name == "next"]
			}
		}
		if !valid() {
			pos = -1
		}
		step := o.name
		if o.key.UserKey != nil {
			step += " " + string(o.key.UserKey)
		}
		trace = append(trace, step)
		if len(trace) > 12 {
			trace = trace[1:]
		}
		require.Equal(t, valid(), got, "%s\nops (last 12): %v", desc, trace)
		require.Equal(t, valid(), v.Valid())
		require.NoError(t, v.Error())
		if valid() {
			require.Equal(t, keys[pos]+"="+values[pos], string(v.Key())+"="+string(v.Value()), "%s\nops (last 12): %v", desc, trace)
		} else {
			require.Nil(t, v.Key())
		}
	}
}

// TestVisibleGolden runs testdata/visible: positioning on small,
// hand-written histories. "define" takes one line per source (a memtable
// or a table) of versions key#seq,KIND[=value]; the sources are merged.
// "iter seq=N [lower=L] [upper=U]" runs the ops below it (first, last,
// next, prev, seek-ge K, seek-lt K) on a new VisibleIter and prints, per
// op, the key and value it lands on or "." when it is exhausted.
func TestVisibleGolden(t *testing.T) {
	var sources [][]kv
	runGolden(t, "testdata/visible", func(cmd string, args []string, input []string) string {
		switch cmd {
		case "define":
			sources = sources[:0]
			for _, line := range input {
				var kvs []kv
				for _, f := range strings.Fields(line) {
					e, err := parseKV(f)
					if err != nil {
						return err.Error()
					}
					kvs = append(kvs, e)
				}
				sortKVs(kvs)
				sources = append(sources, kvs)
			}
			return fmt.Sprintf("%d sources", len(sources))
		case "iter":
			seq := base.SeqNumMax
			var lower, upper []byte
			for _, a := range args {
				name, val, _ := strings.Cut(a, "=")
				switch name {
				case "seq":
					n, err := strconv.ParseUint(val, 10, 64)
					if err != nil {
						return err.Error()
					}
					seq = base.SeqNum(n)
				case "lower":
					lower = []byte(val)
				case "upper":
					upper = []byte(val)
				default:
					return "unknown argument " + a
				}
			}
			var its []base.InternalIterator
			for _, s := range sources {
				its = append(its, newSliceIter(s))
			}
			v := NewVisible(cmp, NewMerging(cmp, its...), seq, lower, upper)
			var out []string
			for _, line := range input {
				f := strings.Fields(line)
				var ok bool
				switch f[0] {
				case "first":
					ok = v.First()
				case "last":
					ok = v.Last()
				case "next":
					ok = v.Next()
				case "prev":
					ok = v.Prev()
				case "seek-ge":
					ok = v.SeekGE([]byte(f[1]))
				case "seek-lt":
					ok = v.SeekLT([]byte(f[1]))
				default:
					return "unknown op " + line
				}
				res := "."
				if ok {
					res = fmt.Sprintf("%s=%s", v.Key(), v.Value())
				} else if err := v.Error(); err != nil {
					res = "error: " + err.Error()
				}
				out = append(out, fmt.Sprintf("%s: %s", line, res))
			}
			if err := v.Close(); err != nil {
				out = append(out, "close: "+err.Error())
			}
			return strings.Join(out, "\n")
		}
		return "unknown command " + cmd
	})
}

// An error from the inner iterator ends the iteration, in either
// direction, and Close returns it.
func TestVisibleErrors(t *testing.T) {
	history := randomVersions(rand.New(rand.NewPCG(7, 7)), 60, 10)
	for _, last := range []bool{false, true} {
		for failAt := 1; failAt < 40; failAt++ {
			s := newSliceIter(history)
			s.failAt = failAt
			v := NewVisible(cmp, s, base.SeqNumMax, nil, nil)
			n := 0
			move, start := v.Next, v.First
			if last {
				move, start = v.Prev, v.Last
			}
			for ok := start(); ok; ok = move() {
				n++
			}
			require.ErrorIs(t, v.Error(), s.err, "failAt=%d", failAt)
			require.False(t, v.Valid())
			require.False(t, v.First(), "failures are final")
			require.False(t, v.SeekLT([]byte("z")))
			require.ErrorIs(t, v.Close(), s.err)
		}
	}
}

// An entry of a kind the iterator does not know is an error, not data.
func TestVisibleUnknownKind(t *testing.T) {
	bad := base.MakeInternalKey([]byte("b"), 2, base.Kind(7))
	for _, reverse := range []bool{false, true} {
		s := newSliceIter([]kv{{base.MakeInternalKey([]byte("a"), 1, base.KindSet), nil}, {bad, nil}})
		v := NewVisible(cmp, s, 10, nil, nil)
		if reverse {
			require.False(t, v.Last())
		} else {
			require.True(t, v.First())
			require.False(t, v.Next())
		}
		require.ErrorContains(t, v.Error(), "unknown kind")
		require.Error(t, v.Close())
	}
}

// Moving in a steady state allocates nothing: forward the key and value
// come from the inner iterator, backward the buffers are reused.
func TestVisibleNoAllocs(t *testing.T) {
	s := newSliceIter(randomVersions(rand.New(rand.NewPCG(8, 8)), 1000, 100))
	s.stable = true
	v := NewVisible(cmp, s, 900, nil, nil)
	require.True(t, v.First())
	require.Zero(t, testing.AllocsPerRun(200, func() {
		if !v.Next() {
			v.First()
		}
	}))
	require.True(t, v.Last())
	require.Zero(t, testing.AllocsPerRun(200, func() {
		if !v.Prev() {
			v.Last()
		}
	}))
	require.NoError(t, v.Close())
}
