package clustertest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestClusterLinearizableUnderFaults runs the register workload through
// the real client and gRPC while a nemesis partitions (halves, the leader
// isolated, one way), drops and delays messages, and crashes nodes (their
// unsynced writes lost) and restarts them; a follower is kept behind the
// log truncation point so that it must catch up by snapshot. The history
// must be linearizable.
func TestClusterLinearizableUnderFaults(t *testing.T) {
	seeds := 2
	if testing.Short() {
		seeds = 1
	}
	if v := os.Getenv("DKV_CLUSTER_SEEDS"); v != "" {
		fmt.Sscan(v, &seeds)
	}
	dur := 6 * time.Second
	if v := os.Getenv("DKV_CLUSTER_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err)
		dur = d
	}
	base := uint64(7)
	if v := os.Getenv("DKV_SEED_BASE"); v != "" {
		fmt.Sscan(v, &base)
	}
	for i := range seeds {
		seed := base + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runClusterFaults(t, seed, dur)
		})
	}
}

func runClusterFaults(t *testing.T, seed uint64, dur time.Duration) {
	c := NewCluster(t, ClusterConfig{Nodes: 3, Seed: int64(seed), LogTailEntries: 50})
	_, err := c.Leader(20 * time.Second)
	require.NoError(t, err)
	run, cancel := startRun(c, seed, dur)
	defer cancel()
	w, set, ctx := run.w, run.set, run.ctx
	rng := rand.New(rand.NewPCG(seed, 99))
	var log []string
	step := 0
	for ctx.Err() == nil {
		// Each fault lasts from under one election timeout to several.
		time.Sleep(300*time.Millisecond + time.Duration(rng.IntN(1200))*time.Millisecond)
		step++
		c.Faults.Heal()
		switch rng.IntN(7) {
		case 0:
			log = append(log, "heal")
		case 1:
			if l, err := c.Leader(time.Second); err == nil {
				c.Faults.Isolate(l)
				log = append(log, fmt.Sprintf("isolate leader %d", l))
			}
		case 2:
			a := uint64(rng.IntN(3) + 1)
			b := a%3 + 1
			c.Faults.Partition(a, b)
			log = append(log, fmt.Sprintf("cut %d→%d", a, b))
		case 3:
			n := uint64(rng.IntN(3) + 1)
			c.Crash(n)
			log = append(log, fmt.Sprintf("crash %d", n))
		case 4, 5:
			for id := uint64(1); id <= 3; id++ {
				require.NoError(t, c.Restart(id))
			}
			log = append(log, "restart all")
		case 6:
			c.Faults.SetDrop(0, 0, 0.2)
			c.Faults.SetDelay(0, 0, 0, 30*time.Millisecond)
			log = append(log, "drop 20%, delay ≤30ms")
		}
	}
	acked := run.finish(t, "cluster", log)
	t.Logf("set: %d acknowledged inserts, all present; %d ambiguous", acked, set.ambiguous)
	t.Logf("seed %d: faults %v; %d writes acknowledged, %d ambiguous, %d failed, %d reads", seed, log, w.Acked.Load(), w.Ambiguous.Load(), w.Failed.Load(), w.Reads.Load())
	t.Logf("soak-count: cluster-runs=1")
	t.Logf("soak-count: cluster-faults=%d", len(log))
	t.Logf("soak-count: cluster-ops-checked=%d", len(w.History.Operations()))
}
