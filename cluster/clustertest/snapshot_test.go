package clustertest

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/cluster/store"
)

// TestFollowerBehindTruncationCatchesUpBySnapshot cuts a follower off while
// the leader writes far past its log tail (so the entries the follower
// needs are truncated), then heals: the follower must catch up through a
// streamed snapshot and end with exactly the leader's data.
func TestFollowerBehindTruncationCatchesUpBySnapshot(t *testing.T) {
	c := NewCluster(t, ClusterConfig{LogTailEntries: 20})
	leader, err := c.Leader(20 * time.Second)
	require.NoError(t, err)
	follower := leader%3 + 1
	cl := c.Client(10 * time.Second)
	ctx := context.Background()
	require.NoError(t, cl.Put(ctx, []byte("first"), []byte("v")))
	c.Faults.Isolate(follower)
	for i := range 300 {
		require.NoError(t, cl.Put(ctx, []byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprint(i))))
	}
	lr := c.Node(leader).Store().Replica(store.FirstUserRangeID)
	require.Greater(t, lr.Status().FirstIndex, c.Node(follower).Store().Replica(store.FirstUserRangeID).Status().Applied+1,
		"the leader's log must no longer hold what the follower needs")
	// Counted on every node: leadership may move meanwhile (a loaded
	// machine), and then the new leader sends the snapshot.
	snapshotsSent := func() (n uint64) {
		for id := uint64(1); id <= 3; id++ {
			n += c.Node(id).Transport().Stats().SnapshotsSent
		}
		return n
	}
	before := snapshotsSent()
	c.Faults.Heal()
	require.Eventually(t, func() bool {
		want := userData(t, c.Node(leader).Store().DB())
		got := userData(t, c.Node(follower).Store().DB())
		return len(want) == 301 && maps.Equal(want, got)
	}, 30*time.Second, 20*time.Millisecond)
	require.Greater(t, snapshotsSent(), before, "caught up by snapshot")
	// And it keeps up by the log afterwards.
	require.NoError(t, cl.Put(ctx, []byte("after"), []byte("v")))
	require.Eventually(t, func() bool {
		return userData(t, c.Node(follower).Store().DB())["after"] == "v"
	}, 30*time.Second, 20*time.Millisecond)
}
