package compaction

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/rangedel"
)

// sliceIter is a forward-enough InternalIterator over sorted entries.
type sliceIter struct {
	keys []base.InternalKey
	vals [][]byte
	pos  int
}

func (s *sliceIter) First() bool                  { s.pos = 0; return s.Valid() }
func (s *sliceIter) Last() bool                   { s.pos = len(s.keys) - 1; return s.Valid() }
func (s *sliceIter) SeekGE(base.InternalKey) bool { panic("unused") }
func (s *sliceIter) SeekLT(base.InternalKey) bool { panic("unused") }
func (s *sliceIter) Next() bool                   { s.pos++; return s.Valid() }
func (s *sliceIter) Prev() bool                   { s.pos--; return s.Valid() }
func (s *sliceIter) Valid() bool                  { return s.pos >= 0 && s.pos < len(s.keys) }
func (s *sliceIter) Key() base.InternalKey        { return s.keys[s.pos] }
func (s *sliceIter) Value() []byte                { return s.vals[s.pos] }
func (s *sliceIter) Error() error                 { return nil }
func (s *sliceIter) Close() error                 { return nil }

// parseVersions reads "a#5,SET b#3,DEL ..." into sorted entries.
func parseVersions(t *testing.T, s string) *sliceIter {
	it := &sliceIter{}
	for _, f := range strings.Fields(s) {
		k, rest, _ := strings.Cut(f, "#")
		var seq int
		var kind string
		_, err := fmt.Sscanf(strings.Replace(rest, ",", " ", 1), "%d %s", &seq, &kind)
		require.NoError(t, err)
		kd := base.KindSet
		if kind == "DEL" {
			kd = base.KindDelete
		}
		it.keys = append(it.keys, base.MakeInternalKey([]byte(k), base.SeqNum(seq), kd))
	}
	slices.SortFunc(it.keys, func(a, b base.InternalKey) int { return base.InternalCompare(base.DefaultComparer.Compare, a, b) })
	it.vals = make([][]byte, len(it.keys))
	return it
}

// The compaction iterator keeps, of each key, the newest version of each
// snapshot stripe, and drops tombstones every reader sees when nothing
// below can hold the key.
func TestCompactionIter(t *testing.T) {
	cases := []struct {
		in       string
		snaps    []base.SeqNum
		elidable bool
		want     string
		dels     []rangedel.Tombstone
	}{
		// No snapshots: only the newest version of each key survives.
		{"a#5,SET a#3,SET a#1,SET b#2,SET", nil, false, "a#5,SET b#2,SET", nil},
		// A tombstone with data possibly below stays; with nothing below
		// it goes, and the versions it hid with it.
		{"a#5,DEL a#3,SET b#2,SET", nil, false, "a#5,DEL b#2,SET", nil},
		{"a#5,DEL a#3,SET b#2,SET", nil, true, "b#2,SET", nil},
		// A snapshot at 3 sees a#3: it stays, and so must the tombstone at 5
		// that hides it from current readers.
		{"a#5,DEL a#3,SET a#1,SET", []base.SeqNum{3}, true, "a#5,DEL a#3,SET", nil},
		// Snapshots at 2 and 4: stripes (..2], (2..4], (4..]. Each keeps its
		// newest version of a.
		{"a#6,SET a#5,SET a#4,SET a#3,SET a#2,SET a#1,SET", []base.SeqNum{2, 4}, false, "a#6,SET a#4,SET a#2,SET", nil},
		// A tombstone older than every snapshot, nothing below: dropped.
		{"a#2,DEL a#1,SET c#9,SET", []base.SeqNum{5}, true, "c#9,SET", nil},
		// A tombstone newer than a snapshot stays even with nothing below.
		{"a#7,DEL a#1,SET", []base.SeqNum{5}, true, "a#7,DEL a#1,SET", nil},
		// A range tombstone [b, d)#6 drops the older versions it covers,
		// not the newer ones nor the keys outside it.
		{"a#1,SET b#7,SET b#5,SET c#2,SET d#1,SET", nil, false, "a#1,SET b#7,SET d#1,SET",
			[]rangedel.Tombstone{{Start: []byte("b"), End: []byte("d"), Seq: 6}}},
		// A snapshot at 3 keeps c#2, which it sees without the tombstone;
		// c#4 is in the tombstone's stripe and goes.
		{"c#4,SET c#2,SET c#1,SET", []base.SeqNum{3}, false, "c#2,SET",
			[]rangedel.Tombstone{{Start: []byte("b"), End: []byte("d"), Seq: 6}}},
		// Overlapping tombstones: the oldest newer than a version decides
		// its stripe: [a, z)#3 is below the snapshot at 4, like c#2.
		{"c#2,SET g#5,SET", []base.SeqNum{4}, false, "g#5,SET",
			[]rangedel.Tombstone{{Start: []byte("a"), End: []byte("z"), Seq: 3}, {Start: []byte("b"), End: []byte("f"), Seq: 9}}},
	}
	for _, c := range cases {
		spans := rangedel.Fragment(base.DefaultComparer.Compare, c.dels)
		it := newIter(base.DefaultComparer.Compare, parseVersions(t, c.in), c.snaps, func([]byte) bool { return c.elidable }, spans)
		var got []string
		for ok := it.first(); ok; ok = it.next() {
			got = append(got, it.key().String())
		}
		want := []string{}
		for _, w := range strings.Fields(c.want) {
			k, rest, _ := strings.Cut(w, "#")
			want = append(want, fmt.Sprintf("%q#%s", k, rest))
		}
		require.Equal(t, want, append([]string{}, got...), "in %q snaps %v elidable %v", c.in, c.snaps, c.elidable)
		require.Equal(t, int64(len(strings.Fields(c.in))), it.seen)
		require.Equal(t, it.seen-int64(len(got)), it.dropped)
	}
}
