package clustertest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clusterRun is the register workload (6 clients on 4 keys) and the set
// workload running against an in-process cluster while a test injects
// faults.
type clusterRun struct {
	c    *Cluster
	seed uint64
	w    *RegisterWorkload
	set  *SetWorkload
	ctx  context.Context
	wg   sync.WaitGroup
}

// startRun starts both workloads for dur; run.ctx ends with them.
func startRun(c *Cluster, seed uint64, dur time.Duration) (*clusterRun, context.CancelFunc) {
	w := &RegisterWorkload{Client: c.Client(5 * time.Second), Clients: 6, Keys: 4, OpTimeout: 2 * time.Second, History: NewRealTimeHistory()}
	run := &clusterRun{c: c, seed: seed, w: w, set: &SetWorkload{Client: w.Client, Prefix: "set/", OpTimeout: 2 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	run.ctx = ctx
	run.wg.Add(2)
	go func() {
		defer run.wg.Done()
		run.set.Run(ctx)
	}()
	go func() {
		defer run.wg.Done()
		w.Run(ctx, seed)
	}()
	return run, cancel
}

// finish waits for both workloads, heals the network and restarts every
// node, then requires the register history to be linearizable (written to
// ReportPath(report) for a look) and every acknowledged insert of the set
// to be read back by a Scan. It returns how many inserts were checked.
func (run *clusterRun) finish(t *testing.T, report string, events []string) (acked int) {
	t.Helper()
	run.wg.Wait()
	c := run.c
	c.Faults.Heal()
	c.Faults.SetDrop(0, 0, 0)
	c.Faults.SetDelay(0, 0, 0, 0)
	for id := uint64(1); id <= 3; id++ {
		require.NoError(t, c.Restart(id))
	}
	require.NoError(t, run.w.History.CheckLinearizable(time.Minute, ReportPath(t, fmt.Sprintf("%s-seed-%d.html", report, run.seed))), "events: %v", events)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acked, missing, err := run.set.Check(ctx)
	require.NoError(t, err)
	require.Empty(t, missing, "acknowledged inserts lost (events: %v)", events)
	require.Greater(t, run.w.Acked.Load(), int64(20))
	return acked
}
