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

func desc(id uint64, start, end string, confVer, version uint64) *kvpb.RangeDescriptor {
	return &kvpb.RangeDescriptor{RangeId: id, StartKey: []byte(start), EndKey: []byte(end),
		Epoch: &kvpb.RangeEpoch{ConfVer: confVer, Version: version}}
}

// TestRangeCacheIgnoresOlderDescriptors: a lagging replica answers with a
// descriptor older than the cached ones (the range before a split, or the
// same range before a membership change); the cache keeps the newer ones.
// Requests carry the cached range ID and epoch; forget drops an entry.
func TestRangeCacheIgnoresOlderDescriptors(t *testing.T) {
	var rc rangeCache
	rc.update(desc(2, "", "", 1, 1))
	require.Equal(t, &kvpb.RequestHeader{RangeId: 2, Epoch: &kvpb.RangeEpoch{ConfVer: 1, Version: 1}}, rc.header([]byte("k")))

	// Range 2 splits at "m" into 2 [∅, m) and 3 [m, ∅), both version 2.
	rc.update(desc(2, "", "m", 1, 2))
	rc.update(desc(3, "m", "", 1, 2))
	require.EqualValues(t, 3, rc.header([]byte("q")).GetRangeId())

	// A lagging replica's pre-split descriptor overlaps both: ignored.
	rc.update(desc(2, "", "", 1, 1))
	require.Len(t, rc.entries, 2)
	require.EqualValues(t, 3, rc.header([]byte("q")).GetRangeId())
	require.EqualValues(t, 2, rc.header([]byte("a")).GetEpoch().GetVersion())

	// A membership change of range 3 (conf_ver 2) replaces it; the older
	// conf_ver is then ignored, and the leader is kept for the same bounds.
	rc.update(desc(3, "m", "", 2, 2))
	rc.setLeader([]byte("q"), "n2:1")
	rc.update(desc(3, "m", "", 1, 2))
	require.EqualValues(t, 2, rc.header([]byte("q")).GetEpoch().GetConfVer())
	require.Equal(t, "n2:1", rc.leader([]byte("q")))

	// A newer split of range 3 at "t" replaces it.
	rc.update(desc(3, "m", "t", 2, 3))
	require.Equal(t, "", rc.leader([]byte("q")))
	require.Nil(t, rc.header([]byte("u")), "nothing known past t: routed by key")

	// The placement group's descriptor is never cached.
	rc.update(&kvpb.RangeDescriptor{RangeId: 1, Placement: true, Epoch: &kvpb.RangeEpoch{ConfVer: 9, Version: 9}})
	require.EqualValues(t, 2, rc.header([]byte("a")).GetRangeId())

	rc.forget([]byte("a"))
	require.Nil(t, rc.header([]byte("a")))
	require.EqualValues(t, 3, rc.header([]byte("q")).GetRangeId())
}
