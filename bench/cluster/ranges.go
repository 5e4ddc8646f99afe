package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// splitInto cuts a fresh dkv cluster's user key space into n ranges at
// evenly spaced keys of the benchmark's key space, each split through the
// leader of the range holding its key (splitOnce), tried again while that
// range elects (a new range's first election follows its split).
func splitInto(ctx context.Context, nodes []*node, n, keys int) error {
	cc, err := grpc.NewClient(nodes[0].addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	a := kvpb.NewAdminClient(cc)
	addrOf := nodeAddrs(nodes)
	for i := 1; i < n; i++ {
		var k [keyLen]byte
		putKey(&k, i*keys/n)
		for attempt := 0; ; attempt++ {
			err := splitOnce(ctx, a, addrOf, k[:])
			if err == nil {
				break
			}
			if attempt == 500 || ctx.Err() != nil {
				return fmt.Errorf("split %d of %d at %q: %w", i, n-1, k[:], err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// nodeAddrs maps node IDs to their gRPC addresses.
func nodeAddrs(nodes []*node) map[uint64]string {
	m := map[uint64]string{}
	for _, nd := range nodes {
		m[uint64(nd.id)] = nd.addr
	}
	return m
}

// measureIdle splits a dkv cluster into cfg.idleRanges ranges, waits for
// them to settle, and reports the nodes' CPU while nothing happens.
func measureIdle(ctx context.Context, cfg config, s *system, stdout io.Writer) error {
	start := time.Now()
	if err := splitInto(ctx, s.nodes, cfg.idleRanges, cfg.keys); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "dkv: %d ranges made in %.1fs; settling 10s\n", cfg.idleRanges, time.Since(start).Seconds())
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
	}
	before, t0, err := snapshotCPU(ctx, time.Now(), s.nodes)
	if err != nil {
		return err
	}
	after, t1, err := snapshotCPU(ctx, t0.Add(cfg.idleFor), s.nodes)
	if err != nil {
		return err
	}
	secs := t1.Sub(t0).Seconds()
	var total float64
	for i, nd := range s.nodes {
		pct := 100 * (after.nodes[i] - before.nodes[i]).Seconds() / secs
		total += pct
		fmt.Fprintf(stdout, "%v: %.1f%% of a core\n", nd, pct)
	}
	fmt.Fprintf(stdout, "%d idle ranges (flags %q): %.1f%% of a core per node on average, over %.0fs\n",
		cfg.idleRanges, cfg.dkvFlags, total/float64(len(s.nodes)), secs)
	return checkRunning(s.nodes)
}

// startSplitter splits, every cfg.splitEvery until the returned stop is
// called, the range holding a random preloaded key at that key (through
// the range's leader, found from node 1's cluster view), and returns the
// durations of the splits that succeeded.
func startSplitter(ctx context.Context, nodes []*node, cfg config) (stop func() []time.Duration) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan []time.Duration, 1)
	go func() {
		var took []time.Duration
		defer func() { done <- took }()
		cc, err := grpc.NewClient(nodes[0].addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return
		}
		defer cc.Close()
		addrOf := nodeAddrs(nodes)
		rng := rand.New(rand.NewPCG(cfg.seed, 77))
		t := time.NewTicker(cfg.splitEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			var k [keyLen]byte
			putKey(&k, rng.IntN(cfg.keys))
			start := time.Now()
			if splitOnce(ctx, kvpb.NewAdminClient(cc), addrOf, k[:]) == nil {
				took = append(took, time.Since(start))
			}
		}
	}()
	return func() []time.Duration {
		cancel()
		return <-done
	}
}

// splitOnce splits the range holding key at key, through its leader.
func splitOnce(ctx context.Context, a kvpb.AdminClient, addrOf map[uint64]string, key []byte) error {
	st, err := a.ClusterStatus(ctx, &kvpb.ClusterStatusRequest{Cluster: true})
	if err != nil {
		return err
	}
	for _, rs := range st.GetRanges() {
		d := rs.GetRange()
		if d.GetPlacement() || bytes.Compare(key, d.GetStartKey()) <= 0 || (len(d.GetEndKey()) > 0 && bytes.Compare(key, d.GetEndKey()) >= 0) {
			continue
		}
		cc, err := grpc.NewClient(addrOf[rs.GetLeaderNodeId()], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer cc.Close()
		resp, err := kvpb.NewAdminClient(cc).Split(ctx, &kvpb.SplitRequest{Header: &kvpb.RequestHeader{RangeId: d.GetRangeId(), Epoch: d.GetEpoch()}, SplitKey: key})
		if err == nil && resp.GetHeader().GetError() != nil {
			err = fmt.Errorf("%s", resp.GetHeader().GetError().GetMessage())
		}
		return err
	}
	return fmt.Errorf("no range to split at %q", key)
}

// splitStats returns how many splits took, and their median and longest
// durations in milliseconds.
func splitStats(took []time.Duration) (n int, p50, maxMs float64) {
	if len(took) == 0 {
		return 0, 0, 0
	}
	slices.Sort(took)
	return len(took), float64(took[len(took)/2]) / 1e6, float64(took[len(took)-1]) / 1e6
}
