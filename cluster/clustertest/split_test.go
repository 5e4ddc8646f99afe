package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/distributedkv/dkv/client"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/server"
)

// splitAt asks the cluster (through node via) to split the range holding
// key at key, sending the request to the range's leader. It returns the
// error the leader answered, if any.
func splitAt(ctx context.Context, c *Cluster, via uint64, key []byte) error {
	ac, done := adminClient(c, via)
	defer done()
	st, err := ac.ClusterStatus(ctx, &kvpb.ClusterStatusRequest{Cluster: true})
	if err != nil {
		return err
	}
	for _, rs := range st.GetRanges() {
		d := rs.GetRange()
		if d.GetPlacement() || bytes.Compare(key, d.GetStartKey()) < 0 || (len(d.GetEndKey()) > 0 && bytes.Compare(key, d.GetEndKey()) >= 0) {
			continue
		}
		if rs.GetLeaderNodeId() == 0 {
			return fmt.Errorf("range %d has no leader", d.GetRangeId())
		}
		lc, ldone := adminClient(c, rs.GetLeaderNodeId())
		defer ldone()
		resp, err := lc.Split(ctx, &kvpb.SplitRequest{Header: &kvpb.RequestHeader{RangeId: d.GetRangeId(), Epoch: d.GetEpoch()}, SplitKey: key})
		if err != nil {
			return err
		}
		if e := resp.GetHeader().GetError(); e != nil {
			return fmt.Errorf("%s", e.GetMessage())
		}
		return nil
	}
	return fmt.Errorf("no range holds %q", key)
}

func adminClient(c *Cluster, id uint64) (kvpb.AdminClient, func()) {
	conn, err := grpc.NewClient(c.Endpoints()[id-1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	return kvpb.NewAdminClient(conn), func() { _ = conn.Close() }
}

// ranges reads GET /api/v1/ranges from node id.
func ranges(t *testing.T, c *Cluster, id uint64) []server.RangeJSON {
	resp, err := http.Get("http://" + c.HTTPAddr(id) + "/api/v1/ranges")
	require.NoError(t, err)
	defer resp.Body.Close()
	var out []server.RangeJSON
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

// requireTiled asserts that ranges tile the key space in order.
func requireTiled(t *testing.T, rs []server.RangeJSON) {
	t.Helper()
	require.NotEmpty(t, rs)
	require.Empty(t, rs[0].StartKey, "the first range starts the key space")
	for i := 1; i < len(rs); i++ {
		require.Equal(t, string(rs[i-1].EndKey), string(rs[i].StartKey), "range %d ends where range %d starts", rs[i-1].ID, rs[i].ID)
		require.NotEmpty(t, rs[i].StartKey)
	}
	require.Empty(t, rs[len(rs)-1].EndKey, "the last range runs to the end of the key space")
}

// TestSplitsUnderTrafficAndFaults splits ranges through the Admin service
// while the register and set workloads run through the routing client and
// a nemesis partitions, crashes and restarts nodes. The register history
// must be linearizable, every acknowledged insert must come back from a
// Scan across the ranges, and the ranges must tile the key space.
func TestSplitsUnderTrafficAndFaults(t *testing.T) {
	seed := uint64(31)
	if v := os.Getenv("DKV_SEED_BASE"); v != "" {
		fmt.Sscan(v, &seed)
	}
	c := NewCluster(t, ClusterConfig{Nodes: 3, Seed: int64(seed), LogTailEntries: 50})
	_, err := c.Leader(20 * time.Second)
	require.NoError(t, err)
	run, cancel := startRun(c, seed, 6*time.Second)
	defer cancel()
	w, ctx := run.w, run.ctx
	rng := rand.New(rand.NewPCG(seed, 5))
	splits, failed := 0, 0
	var log []string
	for ctx.Err() == nil {
		time.Sleep(200*time.Millisecond + time.Duration(rng.IntN(300))*time.Millisecond)
		// A split at a register key or among the set's keys.
		var key string
		if rng.IntN(2) == 0 {
			key = fmt.Sprintf("r%d", 1+rng.IntN(3))
		} else {
			key = fmt.Sprintf("set/%08d", rng.IntN(400))
		}
		sctx, scancel := context.WithTimeout(context.Background(), 3*time.Second)
		if err := splitAt(sctx, c, uint64(rng.IntN(3)+1), []byte(key)); err != nil {
			failed++
		} else {
			splits++
			log = append(log, "split "+key)
		}
		scancel()
		switch rng.IntN(5) {
		case 0:
			n := uint64(rng.IntN(3) + 1)
			c.Crash(n)
			log = append(log, fmt.Sprintf("crash %d", n))
		case 1:
			c.Faults.Heal()
			if l, err := c.Leader(time.Second); err == nil {
				c.Faults.Isolate(l)
				log = append(log, fmt.Sprintf("isolate %d", l))
			}
		default:
			c.Faults.Heal()
			for id := uint64(1); id <= 3; id++ {
				require.NoError(t, c.Restart(id))
			}
		}
	}
	acked := run.finish(t, "split", log)
	require.Greater(t, splits, 0, "no split succeeded (%d failed)", failed)
	var rs []server.RangeJSON
	require.Eventually(t, func() bool {
		rs = ranges(t, c, 1)
		return len(rs) == splits+1
	}, 20*time.Second, 50*time.Millisecond, "every split's range is listed")
	requireTiled(t, rs)
	t.Logf("seed %d: %d splits (%d refused or failed), %d ranges; %d writes acknowledged, %d ambiguous; %d inserts acknowledged, all present; events %v",
		seed, splits, failed, len(rs), w.Acked.Load(), w.Ambiguous.Load(), acked, log)
}

// TestSplitBySize: with a small --range-max-bytes, writing through the
// client makes the leaders split their ranges by themselves, at keys that
// halve them; afterwards every range is below the limit or about to
// split, the ranges tile the key space, and a Scan across all of them
// returns every key once, in order.
func TestSplitBySize(t *testing.T) {
	const maxBytes = 16 << 10
	c := NewCluster(t, ClusterConfig{Nodes: 3, RangeMaxBytes: maxBytes})
	_, err := c.Leader(20 * time.Second)
	require.NoError(t, err)
	cl := c.Client(10 * time.Second)
	ctx := context.Background()
	val := bytes.Repeat([]byte("v"), 200)
	const n = 600 // ~130 KiB: several splits
	for i := range n {
		require.NoError(t, cl.Put(ctx, []byte(fmt.Sprintf("key%05d", i)), val))
	}
	var rs []server.RangeJSON
	require.Eventually(t, func() bool {
		rs = ranges(t, c, 2)
		if len(rs) < 4 {
			return false
		}
		for _, r := range rs {
			if r.ApproxBytes > maxBytes {
				return false
			}
		}
		return true
	}, 60*time.Second, 100*time.Millisecond, "ranges split until each is below the limit: %+v", &rs)
	requireTiled(t, rs)
	var total int64
	for _, r := range rs {
		total += r.Keys
	}
	require.EqualValues(t, n, total, "the ranges' key counts add up")
	kvs, err := cl.Scan(ctx, nil, nil, 0)
	require.NoError(t, err)
	require.Len(t, kvs, n)
	for i, kv := range kvs {
		require.Equal(t, fmt.Sprintf("key%05d", i), string(kv.Key))
	}
	t.Logf("%d ranges after writing %d keys of %d bytes with a %d-byte limit", len(rs), n, len(val), maxBytes)
}

// TestRoutingErrorsAfterSplit sends requests routed the way a client with
// a stale or wrong cache would, after range 2 split at "m": each gets the
// error that tells the client what to do, with the current descriptor
// where there is one, and nothing is written.
func TestRoutingErrorsAfterSplit(t *testing.T) {
	c := NewCluster(t, ClusterConfig{Nodes: 3})
	_, err := c.Leader(20 * time.Second)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var old *kvpb.RangeDescriptor
	require.Eventually(t, func() bool {
		rs := ranges(t, c, 1)
		return len(rs) == 1 && rs[0].LeaderNodeID != 0
	}, 20*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return splitAt(ctx, c, 1, []byte("m")) == nil }, 20*time.Second, 100*time.Millisecond)
	var leftLeader, rightLeader uint64
	require.Eventually(t, func() bool {
		rs := ranges(t, c, 1)
		if len(rs) != 2 || rs[0].LeaderNodeID == 0 || rs[1].LeaderNodeID == 0 {
			return false
		}
		leftLeader, rightLeader = rs[0].LeaderNodeID, rs[1].LeaderNodeID
		old = &kvpb.RangeDescriptor{RangeId: rs[0].ID, Epoch: &kvpb.RangeEpoch{ConfVer: rs[0].Epoch.ConfVer, Version: rs[0].Epoch.Version - 1}}
		return true
	}, 20*time.Second, 20*time.Millisecond)
	kv := func(node uint64) kvpb.KVClient {
		conn, err := grpc.NewClient(c.Endpoints()[node-1], grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		return kvpb.NewKVClient(conn)
	}
	put := func(node uint64, h *kvpb.RequestHeader, key string) *kvpb.Error {
		resp, err := kv(node).Put(ctx, &kvpb.PutRequest{Header: h, Key: []byte(key), Value: []byte("v")})
		require.NoError(t, err)
		return resp.GetHeader().GetError()
	}

	// The epoch the client routed with is older than the range's.
	e := put(leftLeader, &kvpb.RequestHeader{RangeId: 2, Epoch: old.GetEpoch()}, "a")
	require.NotNil(t, e.GetEpochNotMatch(), "%v", e)
	require.Equal(t, "m", string(e.GetEpochNotMatch().GetCurrent()[0].GetEndKey()))

	// The range the client named no longer holds the key.
	e = put(leftLeader, &kvpb.RequestHeader{RangeId: 2}, "q")
	require.NotNil(t, e.GetKeyNotInRange(), "%v", e)
	require.Equal(t, "m", string(e.GetKeyNotInRange().GetRange().GetEndKey()))

	// A range that does not exist.
	e = put(leftLeader, &kvpb.RequestHeader{RangeId: 999}, "a")
	require.NotNil(t, e.GetRangeNotFound(), "%v", e)

	// A node that does not lead the key's range names the one that does.
	follower := rightLeader%3 + 1
	e = put(follower, nil, "q")
	require.NotNil(t, e.GetNotLeader(), "%v", e)
	require.Equal(t, c.Endpoints()[rightLeader-1], e.GetNotLeader().GetLeaderAddr())

	// None of them wrote anything; a request routed right does, and says
	// which range answered.
	cl := c.Client(10 * time.Second)
	for _, k := range []string{"a", "q"} {
		_, err := cl.Get(ctx, []byte(k))
		require.ErrorIs(t, err, client.ErrNotFound, k)
	}
	resp, err := kv(rightLeader).Put(ctx, &kvpb.PutRequest{Key: []byte("q"), Value: []byte("v")})
	require.NoError(t, err)
	require.Nil(t, resp.GetHeader().GetError())
	require.Equal(t, "m", string(resp.GetHeader().GetRange().GetStartKey()))

	// A node that is down (one that leads neither range: a leader that
	// crashes with a write in flight leaves it ambiguous): the client
	// goes elsewhere.
	down := uint64(1)
	for down == leftLeader || down == rightLeader {
		down++
	}
	c.Crash(down)
	require.NoError(t, cl.Put(ctx, []byte("b"), []byte("v")))
	require.NoError(t, cl.Put(ctx, []byte("r"), []byte("v")))
}

// TestSplitByLoad: a range whose traffic passes --range-max-qps is split at
// the median of its sampled request keys, so that both halves take part
// of the load; traffic on one hot key, which no split can divide, splits
// nothing.
func TestSplitByLoad(t *testing.T) {
	c := NewCluster(t, ClusterConfig{Nodes: 3, RangeMaxQPS: 40, SplitCheckInterval: 200 * time.Millisecond})
	_, err := c.Leader(20 * time.Second)
	require.NoError(t, err)
	cl := c.Client(10 * time.Second)
	ctx := context.Background()
	hammer := func(d time.Duration, key func(i int) string) {
		done := make(chan struct{})
		time.AfterFunc(d, func() { close(done) })
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; ; i += 4 {
					select {
					case <-done:
						return
					default:
					}
					_, _ = cl.Get(ctx, []byte(key(i)))
				}
			}()
		}
		wg.Wait()
	}
	hammer(2*time.Second, func(int) string { return "hot" })
	require.Len(t, ranges(t, c, 1), 1, "one hot key is not split")

	hammer(4*time.Second, func(i int) string { return fmt.Sprintf("load/%03d", i%100) })
	var rs []server.RangeJSON
	require.Eventually(t, func() bool { rs = ranges(t, c, 1); return len(rs) >= 2 }, 20*time.Second, 100*time.Millisecond)
	requireTiled(t, rs)
	inside := false
	for _, r := range rs[1:] {
		k := string(r.StartKey)
		inside = inside || (k > "load/005" && k < "load/095")
	}
	require.True(t, inside, "a split key near the middle of the loaded keys: %+v", rs)
	t.Logf("%d ranges after the load: %+v", len(rs), rs)
}

// TestScanWhileSplitting: Scans across the whole key space, run while the
// ranges under them split again and again, return every key once, in
// order.
func TestScanWhileSplitting(t *testing.T) {
	c := NewCluster(t, ClusterConfig{Nodes: 3})
	_, err := c.Leader(20 * time.Second)
	require.NoError(t, err)
	cl := c.Client(20 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 500
	for i := range n {
		require.NoError(t, cl.Put(ctx, []byte(fmt.Sprintf("s%04d", i)), []byte("v")))
	}
	stop := make(chan struct{})
	splits := 0
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if splitAt(ctx, c, uint64(i%3+1), []byte(fmt.Sprintf("s%04d", (i*37)%n))) == nil {
				splits++
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	scans := 0
	for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline); scans++ {
		kvs, err := cl.Scan(ctx, nil, nil, 0)
		require.NoError(t, err)
		require.Len(t, kvs, n, "scan %d", scans)
		for i, kv := range kvs {
			require.Equal(t, fmt.Sprintf("s%04d", i), string(kv.Key), "scan %d", scans)
		}
	}
	close(stop)
	wg.Wait()
	require.Greater(t, splits, 3)
	t.Logf("%d scans of %d keys, each whole and in order, while %d splits happened", scans, n, splits)
}
