package clustertest

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/store"
)

// changeReplicas calls Admin.ChangeReplicas on the leader of the user range,
// retrying while the range is busy with another change.
func changeReplicas(t *testing.T, c *Cluster, changes ...*kvpb.ReplicaChange) *kvpb.RangeDescriptor {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		leader, err := c.Leader(20 * time.Second)
		require.NoError(t, err)
		conn, err := grpc.NewClient(c.nodes[leader-1].addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := kvpb.NewAdminClient(conn).ChangeReplicas(ctx, &kvpb.ChangeReplicasRequest{
			Header: &kvpb.RequestHeader{RangeId: store.FirstUserRangeID}, Changes: changes})
		cancel()
		conn.Close()
		require.NoError(t, err)
		if resp.GetHeader().GetError() == nil {
			return resp.GetRange()
		}
		require.True(t, time.Now().Before(deadline), "change replicas: %v", resp.GetHeader().GetError())
		time.Sleep(100 * time.Millisecond)
	}
}

// waitDescriptor waits until the leader's descriptor of the user range satisfies
// ok, and returns it.
func waitDescriptor(t *testing.T, c *Cluster, ok func(*kvpb.RangeDescriptor) bool) *kvpb.RangeDescriptor {
	t.Helper()
	var d *kvpb.RangeDescriptor
	require.Eventually(t, func() bool {
		leader, err := c.Leader(5 * time.Second)
		if err != nil {
			return false
		}
		d = c.Node(leader).Store().Replica(store.FirstUserRangeID).Descriptor()
		return d != nil && ok(d)
	}, 30*time.Second, 20*time.Millisecond, "descriptor: %v", d)
	return d
}

func roleOf(d *kvpb.RangeDescriptor, node uint64) (kvpb.ReplicaRole, bool) {
	for _, r := range d.GetReplicas() {
		if r.GetNodeId() == node {
			return r.GetRole(), true
		}
	}
	return 0, false
}

func userData(t *testing.T, db *dkv.DB) map[string]string {
	lo, hi := keys.UserSpan(nil, nil)
	it, err := db.NewIter(&dkv.IterOptions{LowerBound: lo, UpperBound: hi})
	require.NoError(t, err)
	defer it.Close()
	out := map[string]string{}
	for ok := it.First(); ok; ok = it.Next() {
		out[string(it.Key()[1:])] = string(it.Value())
	}
	require.NoError(t, it.Error())
	return out
}

// TestMembershipJoinLearnerPromoteRemove: a fourth node joins (it gets the
// next node ID), is added as a learner and catches up by snapshot (the log
// was truncated past its start), is promoted through a joint
// configuration that raft leaves by itself, and then an original voter is
// removed; its replica is deleted and a tombstone keeps it out. Another
// voter is demoted to a learner, then removed. Writes succeed throughout,
// and every member ends with the same data.
func TestMembershipJoinLearnerPromoteRemove(t *testing.T) {
	c := NewCluster(t, ClusterConfig{LogTailEntries: 20})
	cl := c.Client(10 * time.Second)
	ctx := context.Background()
	for i := range 200 {
		require.NoError(t, cl.Put(ctx, []byte(fmt.Sprintf("k%03d", i)), []byte("v")))
	}
	id, err := c.Join(2)
	require.NoError(t, err)
	require.Equal(t, uint64(4), id)

	d := changeReplicas(t, c, &kvpb.ReplicaChange{Type: kvpb.ReplicaChangeType_ADD_LEARNER, NodeId: 4})
	role, ok := roleOf(d, 4)
	require.True(t, ok)
	require.Equal(t, kvpb.ReplicaRole_LEARNER, role)
	confVer := d.GetEpoch().GetConfVer()

	// The learner catches up: by snapshot, since the log no longer holds
	// its first entries.
	require.Eventually(t, func() bool {
		r := c.Node(4).Store().Replica(store.FirstUserRangeID)
		return r != nil && r.Status().Applied > 0 && len(userData(t, c.Node(4).Store().DB())) == 200
	}, 30*time.Second, 20*time.Millisecond)
	sent := uint64(0)
	for i := uint64(1); i <= 3; i++ {
		sent += c.Node(i).Transport().Stats().SnapshotsSent
	}
	require.NotZero(t, sent, "the learner should have caught up by snapshot")

	d = changeReplicas(t, c, &kvpb.ReplicaChange{Type: kvpb.ReplicaChangeType_PROMOTE_LEARNER, NodeId: 4})
	d = waitDescriptor(t, c, func(d *kvpb.RangeDescriptor) bool {
		r, _ := roleOf(d, 4)
		return r == kvpb.ReplicaRole_VOTER && len(d.GetReplicas()) == 4
	})
	require.Equal(t, confVer+2, d.GetEpoch().GetConfVer(), "entering and leaving the joint configuration")
	require.NoError(t, cl.Put(ctx, []byte("after-promote"), []byte("v")))

	changeReplicas(t, c, &kvpb.ReplicaChange{Type: kvpb.ReplicaChangeType_REMOVE_REPLICA, NodeId: 1})
	d = waitDescriptor(t, c, func(d *kvpb.RangeDescriptor) bool {
		_, has := roleOf(d, 1)
		return !has && len(d.GetReplicas()) == 3
	})
	for _, r := range d.GetReplicas() {
		require.Equal(t, kvpb.ReplicaRole_VOTER, r.GetRole())
	}
	require.Eventually(t, func() bool { return c.Node(1).Store().Replica(store.FirstUserRangeID) == nil }, 30*time.Second, 20*time.Millisecond,
		"the removed replica is deleted")
	require.NoError(t, cl.Put(ctx, []byte("after-remove"), []byte("v")))
	v, err := cl.Get(ctx, []byte("after-remove"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))

	// The remaining members converge.
	var want map[string]string
	require.Eventually(t, func() bool {
		for _, id := range []uint64{2, 3, 4} {
			got := userData(t, c.Node(id).Store().DB())
			if want == nil {
				want = got
			}
			if !maps.Equal(want, got) || len(got) != 202 {
				want = nil
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond)
	require.Empty(t, userData(t, c.Node(1).Store().DB()), "the removed node's copy is deleted")
	tomb, err := c.Node(1).Store().DB().Get(keys.ReplicaTombstone(store.FirstUserRangeID))
	require.NoError(t, err, "a tombstone keeps the removed replica out")
	require.NotEmpty(t, tomb)

	// Demote a voter to a learner (through a joint configuration), then
	// remove the learner (a simple change): two voters remain, and take
	// writes.
	changeReplicas(t, c, &kvpb.ReplicaChange{Type: kvpb.ReplicaChangeType_DEMOTE_VOTER, NodeId: 2})
	waitDescriptor(t, c, func(d *kvpb.RangeDescriptor) bool {
		r, _ := roleOf(d, 2)
		return r == kvpb.ReplicaRole_LEARNER
	})
	changeReplicas(t, c, &kvpb.ReplicaChange{Type: kvpb.ReplicaChangeType_REMOVE_REPLICA, NodeId: 2})
	d = waitDescriptor(t, c, func(d *kvpb.RangeDescriptor) bool { return len(d.GetReplicas()) == 2 })
	for _, r := range d.GetReplicas() {
		require.Equal(t, kvpb.ReplicaRole_VOTER, r.GetRole())
		require.Contains(t, []uint64{3, 4}, r.GetNodeId())
	}
	require.NoError(t, cl.Put(ctx, []byte("two-voters"), []byte("v")))
	require.Eventually(t, func() bool { return c.Node(2).Store().Replica(store.FirstUserRangeID) == nil }, 30*time.Second, 20*time.Millisecond)
}
