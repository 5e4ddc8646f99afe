package clustertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/store"
)

// lookup asks the placement group (through node via, following one
// NotLeader hint) for the record of key's range.
func lookup(ctx context.Context, c *Cluster, via uint64, key string) (*kvpb.LookupRangeResponse, error) {
	ac, done := adminClient(c, via)
	defer done()
	resp, err := ac.LookupRange(ctx, &kvpb.LookupRangeRequest{Key: []byte(key)})
	if err != nil {
		return nil, err
	}
	if e := resp.GetHeader().GetError(); e != nil {
		lead := e.GetNotLeader().GetLeaderNodeId()
		if lead == 0 {
			return nil, fmt.Errorf("%s", e.GetMessage())
		}
		lc, ldone := adminClient(c, lead)
		defer ldone()
		if resp, err = lc.LookupRange(ctx, &kvpb.LookupRangeRequest{Key: []byte(key)}); err != nil {
			return nil, err
		}
		if e := resp.GetHeader().GetError(); e != nil {
			return nil, fmt.Errorf("%s", e.GetMessage())
		}
	}
	return resp, nil
}

// TestPlacementGroupTracksRangesAndNodes: nodes report their heartbeats and
// the ranges they lead to the placement group; after splits its records
// converge to the ranges' own descriptors (newest epoch, leader, size), a
// lookup of any key names its range and leader, and the records survive
// the loss of the placement group's leader.
func TestPlacementGroupTracksRangesAndNodes(t *testing.T) {
	c := NewCluster(t, ClusterConfig{Nodes: 3, ReportInterval: 100 * time.Millisecond})
	_, err := c.Leader(20 * time.Second)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := c.Client(10 * time.Second)
	for _, k := range []string{"a", "k2", "k4", "z"} {
		require.NoError(t, cl.Put(ctx, []byte(k), []byte("v")))
	}
	for _, k := range []string{"k1", "k3"} {
		require.Eventually(t, func() bool { return splitAt(ctx, c, 1, []byte(k)) == nil }, 20*time.Second, 50*time.Millisecond)
	}

	other := uint64(2)
	converged := func(want int) error {
		rs := ranges(t, c, other)
		if len(rs) != want {
			return fmt.Errorf("%d ranges", len(rs))
		}
		for _, r := range rs {
			key := string(r.StartKey)
			resp, err := lookup(ctx, c, other, key)
			if err != nil {
				return err
			}
			d := resp.GetRange().GetRange()
			if d.GetRangeId() != r.ID || d.GetEpoch().GetVersion() != r.Epoch.Version || d.GetEpoch().GetConfVer() != r.Epoch.ConfVer ||
				string(d.GetEndKey()) != string(r.EndKey) {
				return fmt.Errorf("key %q: placement says range %d [%q, %q) epoch %v; the range says %d [%q, %q) %+v",
					key, d.GetRangeId(), d.GetStartKey(), d.GetEndKey(), d.GetEpoch(), r.ID, r.StartKey, r.EndKey, r.Epoch)
			}
			if resp.GetRange().GetLeaderNodeId() != r.LeaderNodeID || resp.GetLeaderAddr() != c.Endpoints()[r.LeaderNodeID-1] {
				return fmt.Errorf("range %d: placement says leader %d (%s), the range %d", r.ID, resp.GetRange().GetLeaderNodeId(), resp.GetLeaderAddr(), r.LeaderNodeID)
			}
			if resp.GetRange().GetKeys() != r.Keys {
				return fmt.Errorf("range %d: placement says %d keys, the range %d", r.ID, resp.GetRange().GetKeys(), r.Keys)
			}
		}
		return nil
	}
	require.Eventually(t, func() bool { return converged(3) == nil }, 30*time.Second, 100*time.Millisecond,
		"the placement group's records converge to the ranges' own")

	// Every node's heartbeat is recorded.
	ac, done := adminClient(c, 3)
	st, err := ac.ClusterStatus(ctx, &kvpb.ClusterStatusRequest{Cluster: true})
	done()
	require.NoError(t, err)
	require.Len(t, st.GetNodes(), 3)
	for _, n := range st.GetNodes() {
		require.Positive(t, n.GetHeartbeatUnixMs(), "node %d", n.GetNodeId())
		require.Positive(t, n.GetReplicas(), "node %d", n.GetNodeId())
	}

	// The placement group's leader crashes: another takes over with the
	// same records, and the records follow a new split.
	var plead uint64
	for id := uint64(1); id <= 3; id++ {
		if r := c.Node(id).Store().Replica(store.PlacementRangeID); r != nil && r.Status().RaftState == "StateLeader" {
			plead = id
		}
	}
	require.NotZero(t, plead)
	before, err := c.Node(plead).Store().RangeRecords()
	require.NoError(t, err)
	c.Crash(plead)
	other = plead%3 + 1
	require.Eventually(t, func() bool {
		resp, err := lookup(ctx, c, other, "k2")
		return err == nil && resp.GetRange().GetRange().GetStartKey() != nil
	}, 30*time.Second, 100*time.Millisecond, "a new placement leader answers")
	after, err := c.Node(other).Store().RangeRecords()
	require.NoError(t, err)
	require.Len(t, after, len(before))
	for i := range before {
		require.True(t, proto.Equal(before[i].GetRange(), after[i].GetRange()), "record %d", i)
	}
	require.NoError(t, c.Restart(plead))
	require.Eventually(t, func() bool { return splitAt(ctx, c, other, []byte("k2")) == nil }, 20*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool { err = converged(4); return err == nil }, 30*time.Second, 100*time.Millisecond,
		"the records follow the new split: %v", &err)
}
