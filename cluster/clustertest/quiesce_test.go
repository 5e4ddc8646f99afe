package clustertest

import (
	"testing"
	"testing/cryptotest"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/store"
)

// TestSimIdleRangesQuiesce: after traffic stops, every replica of every
// range quiesces and the ranges send no messages at all (only the nodes'
// pings flow); when the node leading a range crashes, its followers notice
// through the pings, wake, elect a new leader, and take writes again.
func TestSimIdleRangesQuiesce(t *testing.T) {
	const seed = 77
	cryptotest.SetGlobalRandom(t, seed)
	s, err := NewSim(SimConfig{Seed: seed, Nodes: 3})
	require.NoError(t, err)
	defer s.Close()
	w := NewSimWorkload(s, 3, 5)
	for range 200 {
		w.Issue(0.5)
		s.Step()
		w.Collect()
	}
	w.Split("k3")
	require.True(t, runUntil(s, 300, func() bool { w.Collect(); return w.split == nil }))
	require.Equal(t, 1, w.Splits)
	w.Drain(300)

	allQuiesced := func() bool {
		n := 0
		for _, nd := range s.Nodes {
			if !nd.Up {
				continue
			}
			for _, r := range nd.Store.Replicas() {
				if !r.Quiesced() {
					return false
				}
				n++
			}
		}
		return n > 0
	}
	require.True(t, runUntil(s, 200, allQuiesced), "every replica quiesces: %s", simStatus(s))
	before := s.Stats.RaftMessages
	for range 100 {
		s.Step()
	}
	require.Equal(t, before, s.Stats.RaftMessages, "quiesced ranges send nothing")
	require.True(t, allQuiesced())

	// The leader of the right-hand range crashes.
	lead, _ := s.LeaderFor([]byte("k4"))
	require.NotNil(t, lead)
	s.Crash(lead.ID)
	require.True(t, runUntil(s, 400, func() bool {
		n, _ := s.LeaderFor([]byte("k4"))
		return n != nil && n.ID != lead.ID
	}), "the followers wake and elect a leader: %s", simStatus(s))
	n, r := s.LeaderFor([]byte("k4"))
	f := r.ProposeAsync(&kvpb.Command{Op: &kvpb.Command_Put{Put: &kvpb.PutOp{Key: []byte("k4"), Value: []byte("after")}}})
	require.True(t, runUntil(s, 200, func() bool {
		select {
		case <-f.Done():
			return true
		default:
			return false
		}
	}))
	_, err = f.Result()
	require.NoError(t, err, "a write on node %d after the crash", n.ID)
	require.NoError(t, s.Restart(lead.ID))
	require.True(t, runUntil(s, 600, allQuiesced), "quiesced again after the restart: %s", simStatus(s))
	require.NotNil(t, n.Store.Replica(store.FirstUserRangeID))
	require.NoError(t, s.Err())
}
