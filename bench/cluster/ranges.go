package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// splitInto cuts a fresh dkv cluster's user key space into n ranges at
// evenly spaced keys of the benchmark's key space. It splits in key
// order, so each key lies in the newest range, whose leader is on the
// node that led the range it came from (a split campaigns the new range
// there); a NotLeader answer's hint is followed.
func splitInto(ctx context.Context, nodes []*node, n, keys int) error {
	conns := map[string]kvpb.AdminClient{}
	var closers []*grpc.ClientConn
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	admin := func(addr string) (kvpb.AdminClient, error) {
		if a, ok := conns[addr]; ok {
			return a, nil
		}
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		closers = append(closers, cc)
		conns[addr] = kvpb.NewAdminClient(cc)
		return conns[addr], nil
	}
	addrOf := map[uint64]string{}
	for _, nd := range nodes {
		addrOf[uint64(nd.id)] = nd.addr
	}
	// The user key space starts as range 2; find its leader.
	rangeID, leader := uint64(2), ""
	a, err := admin(nodes[0].addr)
	if err != nil {
		return err
	}
	st, err := a.ClusterStatus(ctx, &kvpb.ClusterStatusRequest{Cluster: true})
	if err != nil {
		return err
	}
	for _, rs := range st.GetRanges() {
		if rs.GetRange().GetRangeId() == rangeID {
			leader = addrOf[rs.GetLeaderNodeId()]
		}
	}
	if leader == "" {
		leader = nodes[0].addr
	}
	for i := 1; i < n; i++ {
		var k [keyLen]byte
		putKey(&k, i*keys/n)
		for attempt := 0; ; attempt++ {
			if attempt == 500 {
				return fmt.Errorf("split %d of %d at %q: gave up", i, n-1, k[:])
			}
			a, err := admin(leader)
			if err != nil {
				return err
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			resp, err := a.Split(cctx, &kvpb.SplitRequest{Header: &kvpb.RequestHeader{RangeId: rangeID}, SplitKey: k[:]})
			cancel()
			if err != nil {
				return fmt.Errorf("split at %q: %w", k[:], err)
			}
			if e := resp.GetHeader().GetError(); e != nil {
				if hint := e.GetNotLeader().GetLeaderAddr(); hint != "" {
					leader = hint
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			rangeID = resp.GetRight().GetRangeId()
			break
		}
	}
	return nil
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
