package client

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// TestRangeCache: the first leader learned covers the whole key space;
// descriptors cut it into ranges, replacing what they overlap; a leader is
// kept only for the same range with the same bounds; forgetting a leader
// forgets it only if it is still the one recorded.
func TestRangeCache(t *testing.T) {
	var rc rangeCache
	require.Equal(t, "", rc.leader([]byte("k")))

	rc.setLeader([]byte("k"), "a:1")
	for _, k := range []string{"", "a", "k", "zzz"} {
		require.Equal(t, "a:1", rc.leader([]byte(k)), k)
	}
	rc.clearLeader([]byte("x"), "b:1") // not the recorded one
	require.Equal(t, "a:1", rc.leader([]byte("k")))
	rc.clearLeader([]byte("x"), "a:1")
	require.Equal(t, "", rc.leader([]byte("k")))
	rc.setLeader([]byte("k"), "a:1")

	// Range 1 split at "m": [∅, m) is range 1, [m, ∅) range 2.
	rc.update(&kvpb.RangeDescriptor{RangeId: 2, StartKey: []byte("m")})
	require.Equal(t, "", rc.leader([]byte("k")), "the whole-space entry overlapped")
	require.Equal(t, "", rc.leader([]byte("m")))
	rc.setLeader([]byte("k"), "a:1") // bounds of k's range unknown: nothing recorded
	require.Equal(t, "", rc.leader([]byte("k")))
	rc.update(&kvpb.RangeDescriptor{RangeId: 1, EndKey: []byte("m")})
	rc.setLeader([]byte("k"), "a:1")
	rc.setLeader([]byte("q"), "b:1")
	require.Equal(t, "a:1", rc.leader([]byte("")))
	require.Equal(t, "a:1", rc.leader([]byte("l\xff")))
	require.Equal(t, "b:1", rc.leader([]byte("m")))
	require.Equal(t, "b:1", rc.leader([]byte("\xff")))

	// The same descriptor again keeps its leader; a split of range 2 at
	// "t" replaces it.
	rc.update(&kvpb.RangeDescriptor{RangeId: 2, StartKey: []byte("m")})
	require.Equal(t, "b:1", rc.leader([]byte("q")))
	rc.update(&kvpb.RangeDescriptor{RangeId: 2, StartKey: []byte("m"), EndKey: []byte("t")})
	require.Equal(t, "", rc.leader([]byte("q")))
	require.Equal(t, "", rc.leader([]byte("u")), "nothing known past t")
	require.Equal(t, "a:1", rc.leader([]byte("k")), "range 1 untouched")
	require.Len(t, rc.entries, 2)
	rc.update(nil)
	require.Len(t, rc.entries, 2)
}
