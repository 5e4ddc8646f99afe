package iterator

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/datadriven"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata (read the diff first)")

var cmp = base.DefaultComparer.Compare

// kv is one entry of a sliceIter.
type kv struct {
	key   base.InternalKey
	value []byte
}

func (e kv) String() string { return fmt.Sprintf("%s=%s", e.key, e.value) }

// sortKVs sorts entries in internal-key order, keeping equal keys in the
// order given.
func sortKVs(kvs []kv) {
	slices.SortStableFunc(kvs, func(a, b kv) int { return base.InternalCompare(cmp, a.key, b.key) })
}

// sliceIter is a base.InternalIterator over sorted entries, for tests.
//
// It holds callers to the interface's contract: unless stable is set, Key
// and Value are copies in buffers that are overwritten with junk on every
// positioning call, so a caller that keeps a key or value past the next
// move reads garbage. With failAt = n > 0, the n-th positioning call fails
// with err; the failure is sticky.
type sliceIter struct {
	kvs    []kv
	pos    int
	valid  bool
	stable bool

	calls  int
	failAt int
	err    error
	failed bool

	keyBuf, valBuf []byte
	closed         bool
	onClose        func()
}

var _ base.InternalIterator = (*sliceIter)(nil)

func newSliceIter(kvs []kv) *sliceIter { return &sliceIter{kvs: kvs, pos: -1} }

// move finishes a positioning call that computed pos.
func (s *sliceIter) move(pos int) bool {
	if s.closed {
		panic("sliceIter: used after Close")
	}
	s.calls++
	if s.failAt > 0 && s.calls >= s.failAt && !s.failed {
		s.failed = true
		if s.err == nil {
			s.err = fmt.Errorf("sliceIter: injected failure at call %d", s.calls)
		}
	}
	if s.failed {
		s.valid = false
		return false
	}
	s.pos = pos
	s.valid = pos >= 0 && pos < len(s.kvs)
	if !s.stable {
		for i := range s.keyBuf {
			s.keyBuf[i] = '!'
		}
		for i := range s.valBuf {
			s.valBuf[i] = '!'
		}
		if s.valid {
			s.keyBuf = append(s.keyBuf[:0], s.kvs[pos].key.UserKey...)
			s.valBuf = append(s.valBuf[:0], s.kvs[pos].value...)
		}
	}
	return s.valid
}

func (s *sliceIter) search(key base.InternalKey) int {
	return sort.Search(len(s.kvs), func(i int) bool { return base.InternalCompare(cmp, s.kvs[i].key, key) >= 0 })
}

func (s *sliceIter) First() bool                      { return s.move(0) }
func (s *sliceIter) Last() bool                       { return s.move(len(s.kvs) - 1) }
func (s *sliceIter) SeekGE(key base.InternalKey) bool { return s.move(s.search(key)) }
func (s *sliceIter) SeekLT(key base.InternalKey) bool { return s.move(s.search(key) - 1) }

func (s *sliceIter) Next() bool {
	if !s.valid {
		return false
	}
	return s.move(s.pos + 1)
}

func (s *sliceIter) Prev() bool {
	if !s.valid {
		return false
	}
	return s.move(s.pos - 1)
}

func (s *sliceIter) Valid() bool { return s.valid }

func (s *sliceIter) Key() base.InternalKey {
	if !s.valid {
		panic("sliceIter: Key on an unpositioned iterator")
	}
	if s.stable {
		return s.kvs[s.pos].key
	}
	return base.InternalKey{UserKey: s.keyBuf, Trailer: s.kvs[s.pos].key.Trailer}
}

func (s *sliceIter) Value() []byte {
	if !s.valid {
		panic("sliceIter: Value on an unpositioned iterator")
	}
	if s.stable {
		return s.kvs[s.pos].value
	}
	return s.valBuf
}

func (s *sliceIter) Error() error {
	if s.failed {
		return s.err
	}
	return nil
}

func (s *sliceIter) Close() error {
	if s.closed {
		panic("sliceIter: closed twice")
	}
	s.closed, s.valid = true, false
	if s.onClose != nil {
		s.onClose()
	}
	return s.Error()
}

// An op is one positioning call, with the key for seeks.
type op struct {
	name string // first, last, seek-ge, seek-lt, next, prev
	key  base.InternalKey
}

func (o op) String() string {
	if o.name == "seek-ge" || o.name == "seek-lt" {
		return fmt.Sprintf("%s(%s)", o.name, o.key)
	}
	return o.name
}

// randomOp draws an op; Next and Prev are the most frequent, so that runs of
// steps alternate with direction switches.
func randomOp(rng *rand.Rand, key func() base.InternalKey) op {
	switch n := rng.IntN(20); {
	case n < 7:
		return op{name: "next"}
	case n < 14:
		return op{name: "prev"}
	case n < 15:
		return op{name: "first"}
	case n < 16:
		return op{name: "last"}
	case n < 18:
		return op{name: "seek-ge", key: key()}
	default:
		return op{name: "seek-lt", key: key()}
	}
}

func apply(it base.InternalIterator, o op) bool {
	switch o.name {
	case "first":
		return it.First()
	case "last":
		return it.Last()
	case "seek-ge":
		return it.SeekGE(o.key)
	case "seek-lt":
		return it.SeekLT(o.key)
	case "next":
		return it.Next()
	case "prev":
		return it.Prev()
	}
	panic(o.name)
}

// model is the expected behaviour of an internal iterator: a position in
// the sorted entries it should yield.
type model struct {
	kvs []kv
	pos int // valid when 0 <= pos < len(kvs)
}

func (m *model) valid() bool { return m.pos >= 0 && m.pos < len(m.kvs) }

func (m *model) apply(o op) bool {
	search := func(k base.InternalKey) int {
		return sort.Search(len(m.kvs), func(i int) bool { return base.InternalCompare(cmp, m.kvs[i].key, k) >= 0 })
	}
	switch o.name {
	case "first":
		m.pos = 0
	case "last":
		m.pos = len(m.kvs) - 1
	case "seek-ge":
		m.pos = search(o.key)
	case "seek-lt":
		m.pos = search(o.key) - 1
	case "next", "prev":
		if !m.valid() {
			return false // Next and Prev need a position: they do nothing
		}
		if o.name == "next" {
			m.pos++
		} else {
			m.pos--
		}
	}
	if !m.valid() {
		m.pos = -1
	}
	return m.valid()
}

// checkOps applies n random ops to it and to a model of want, comparing
// after each one: the result, Valid, and the key and value.
func checkOps(t *testing.T, rng *rand.Rand, it base.InternalIterator, want []kv, n int, key func() base.InternalKey) {
	t.Helper()
	m := &model{kvs: want, pos: -1}
	var trace []string
	for range n {
		o := randomOp(rng, key)
		got, exp := apply(it, o), m.apply(o)
		trace = append(trace, o.String())
		if len(trace) > 12 {
			trace = trace[1:]
		}
		require.Equal(t, exp, got, "ops (last 12): %v", trace)
		require.Equal(t, exp, it.Valid(), "ops: %v", trace)
		require.NoError(t, it.Error())
		if exp {
			require.Equal(t, m.kvs[m.pos].String(), kv{it.Key(), it.Value()}.String(), "ops: %v", trace)
		}
	}
}

// randomKey draws a user key from a small space so that keys collide.
func randomUserKey(rng *rand.Rand, n int) []byte {
	return []byte(fmt.Sprintf("k%02d", rng.IntN(n)))
}

// seekKeyGen draws seek keys: mostly keys of the space, sometimes keys
// between or outside them, with any sequence number and kind.
func seekKeyGen(rng *rand.Rand, n int, maxSeq int) func() base.InternalKey {
	return func() base.InternalKey {
		uk := randomUserKey(rng, n+2)
		switch rng.IntN(8) {
		case 0:
			uk = append(uk, 'x') // between two keys of the space
		case 1:
			uk = []byte("a") // before every key
		case 2:
			uk = []byte("z") // after every key
		}
		kinds := []base.Kind{base.KindDelete, base.KindSet, base.KindMax}
		return base.MakeInternalKey(uk, base.SeqNum(rng.IntN(maxSeq+2)), kinds[rng.IntN(len(kinds))])
	}
}

// parseKV parses key#seq,KIND[=value], the format of base.InternalKey's
// String without quotes.
func parseKV(s string) (kv, error) {
	ks, rest, ok := strings.Cut(s, "#")
	if !ok {
		return kv{}, fmt.Errorf("%q: want key#seq,KIND[=value]", s)
	}
	rest, value, _ := strings.Cut(rest, "=")
	seqs, kinds, ok := strings.Cut(rest, ",")
	if !ok {
		return kv{}, fmt.Errorf("%q: want key#seq,KIND[=value]", s)
	}
	seq, err := strconv.ParseUint(seqs, 10, 64)
	if err != nil {
		return kv{}, fmt.Errorf("%q: %w", s, err)
	}
	var kind base.Kind
	switch kinds {
	case "SET":
		kind = base.KindSet
	case "DEL":
		kind = base.KindDelete
	default:
		return kv{}, fmt.Errorf("%q: unknown kind %q", s, kinds)
	}
	return kv{key: base.MakeInternalKey([]byte(ks), base.SeqNum(seq), kind), value: []byte(value)}, nil
}

// runGolden runs the data-driven test in path (see internal/datadriven);
// -update rewrites it with the actual output.
func runGolden(t *testing.T, path string, run func(cmd string, args []string, input []string) string) {
	datadriven.Run(t, path, *update, run)
}

// The helper itself: it yields its entries, seeks like the model, and
// fails when told to.
func TestSliceIter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var kvs []kv
	for i := range 50 {
		kvs = append(kvs, kv{base.MakeInternalKey(randomUserKey(rng, 20), base.SeqNum(i), base.KindSet), []byte(strconv.Itoa(i))})
	}
	sortKVs(kvs)
	checkOps(t, rng, newSliceIter(kvs), kvs, 2000, seekKeyGen(rng, 20, 50))

	s := newSliceIter(kvs)
	s.failAt = 3
	require.True(t, s.First())
	v := s.Value()
	require.True(t, s.Next())
	require.NotEqual(t, string(kvs[0].value), string(v), "an old value must be clobbered")
	require.False(t, s.Next())
	require.Error(t, s.Error())
	require.False(t, s.First(), "failures are sticky")
	require.True(t, errors.Is(s.Close(), s.err))
}
