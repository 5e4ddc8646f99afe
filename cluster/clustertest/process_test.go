package clustertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/client"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/internal/leaktest"
	"github.com/distributedkv/dkv/vfs"
)

// TestMain removes the dkv binary the process tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	RemoveDkvBinary()
	if code == 0 {
		// Every test stops the nodes, stores, transports and clients it
		// started.
		if leaked := leaktest.Leaked(30*time.Second, "google.golang.org/grpc", "dkv/cluster/", "dkv/client."); leaked != "" {
			fmt.Fprintf(os.Stderr, "FAIL: goroutines still run after every test ended:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// The process tests' generous bounds: they wait for outcomes, never for a
// fixed time, and fail only when an outcome does not come at all.
const (
	serveTimeout    = time.Minute // a node's /healthz, a leader
	progressTimeout = time.Minute // the next acknowledged writes
)

// TestProcessKillAndPause runs three `dkv start` processes and, while
// clients read and write through the Go client, SIGKILLs a follower and
// restarts it, SIGKILLs the leader and restarts it, and SIGSTOPs the
// leader for longer than an election timeout before SIGCONT. Contract:
// the cluster goes on acknowledging writes through each fault (a new
// leader is elected while the old one is paused), every restarted node
// serves again from `--dir` alone, the history of every operation is
// linearizable, every acknowledged put of a unique key is read back at
// the end, and every put that failed without being ambiguous is absent.
func TestProcessKillAndPause(t *testing.T) {
	if testing.Short() {
		t.Skip("process tests start real nodes")
	}
	c := StartProcessCluster(t, 3)
	cl := c.Client(3 * time.Second)
	w := &RegisterWorkload{Client: cl, Clients: 4, Keys: 8, OpTimeout: 2 * time.Second, History: NewRealTimeHistory()}
	set := &setWriter{client: cl, opTimeout: 2 * time.Second}
	stop := runInBackground(t, func(ctx context.Context) { w.Run(ctx, 1) }, set.run)
	acked := func() int64 { return w.Acked.Load() + set.acked.Load() }

	var faults []string
	awaitProgress(t, acked, 20, "before any fault")

	lead := c.Leader(serveTimeout)
	f := lead%3 + 1
	c.Node(f).Kill()
	faults = append(faults, fmt.Sprintf("SIGKILL follower %d", f))
	awaitProgress(t, acked, 30, "with a follower killed")
	c.Node(f).Restart(serveTimeout)
	awaitProgress(t, acked, 10, "after the follower restarted")

	lead = c.Leader(serveTimeout)
	c.Node(lead).Kill()
	faults = append(faults, fmt.Sprintf("SIGKILL leader %d", lead))
	next := c.Leader(serveTimeout, lead)
	awaitProgress(t, acked, 30, "with the leader killed")
	c.Node(lead).Restart(serveTimeout)
	faults = append(faults, fmt.Sprintf("leader %d elected", next))
	awaitProgress(t, acked, 10, "after the leader restarted")

	lead = c.Leader(serveTimeout)
	paused := c.Node(lead)
	paused.Pause()
	pausedAt := time.Now()
	faults = append(faults, fmt.Sprintf("SIGSTOP leader %d", lead))
	next = c.Leader(serveTimeout, lead)
	faults = append(faults, fmt.Sprintf("leader %d elected", next))
	awaitProgress(t, acked, 30, "with the leader paused")
	// Longer than an election timeout (1–2 s at the default tick) even
	// when the election above was quick.
	time.Sleep(time.Until(pausedAt.Add(4 * time.Second)))
	paused.Resume()
	faults = append(faults, fmt.Sprintf("SIGCONT node %d after %v", lead, time.Since(pausedAt).Round(100*time.Millisecond)))
	paused.WaitHealthy(serveTimeout)
	awaitProgress(t, acked, 10, "after the paused leader resumed")
	stop()

	for _, p := range c.Nodes {
		require.True(t, p.Running(), "node %d", p.ID)
		p.WaitHealthy(serveTimeout)
	}
	set.check(t, cl)
	require.NoError(t, w.History.CheckLinearizable(2*time.Minute, ReportPath(t, "process-kill-and-pause.html")), "faults: %v", faults)
	t.Logf("faults %v; register workload: %d operations checked (%d writes acknowledged, %d ambiguous, %d failed, %d reads); set: %d puts acknowledged and read back, %d ambiguous, %d failed",
		faults, len(w.History.Operations()), w.Acked.Load(), w.Ambiguous.Load(), w.Failed.Load(), w.Reads.Load(),
		set.acked.Load(), set.ambiguous.Load(), set.failed.Load())
}

// TestProcessSIGTERMDrainsAndExitsZero SIGTERMs the leader of a three-node
// cluster while a client writes. Contract: the process exits with status 0
// (within a generous bound); the two others elect a leader and go on
// acknowledging writes; restarted with `--dir` alone, the node rejoins —
// with one of the two others then SIGKILLed, writes go on only because
// the restarted node is part of the quorum; and every acknowledged write
// is read back.
func TestProcessSIGTERMDrainsAndExitsZero(t *testing.T) {
	if testing.Short() {
		t.Skip("process tests start real nodes")
	}
	c := StartProcessCluster(t, 3)
	cl := c.Client(5 * time.Second)
	set := &setWriter{client: cl, opTimeout: 3 * time.Second}
	stop := runInBackground(t, set.run)
	acked := set.acked.Load
	awaitProgress(t, acked, 10, "before SIGTERM")

	lead := c.Leader(serveTimeout)
	p := c.Node(lead)
	p.Terminate()
	st, err := p.Wait(time.Minute)
	require.NoError(t, err, "SIGTERM must end the node")
	require.Equal(t, 0, st.ExitCode(), "exit status after SIGTERM: %v", st)
	require.Contains(t, p.LogTail(1<<20), "draining")

	next := c.Leader(serveTimeout, lead)
	awaitProgress(t, acked, 10, fmt.Sprintf("with node %d stopped (leader %d)", lead, next))

	p.Restart(serveTimeout)
	awaitProgress(t, acked, 5, "after the restart")
	victim := c.Leader(serveTimeout)
	if victim == lead {
		victim = lead%3 + 1
	}
	c.Node(victim).Kill()
	awaitProgress(t, acked, 10, fmt.Sprintf("with node %d killed: the quorum needs the restarted node %d", victim, lead))
	stop()
	set.check(t, cl)
	t.Logf("SIGTERM node %d (exit 0), restarted, SIGKILL node %d; %d puts acknowledged and read back, %d ambiguous, %d failed",
		lead, victim, set.acked.Load(), set.ambiguous.Load(), set.failed.Load())
}

// TestProcessStartRefusesBadDirsAndFlags runs `dkv start` with flags that
// contradict its directory or each other. Contract: each is refused with
// exit status 2 for a usage error (flags that are wrong whatever the
// directory holds) or 1 for the rest, a message on standard error naming
// the problem, and the directory exactly as it was (an existing node's
// files byte for byte; a new directory still empty). Repeating the first
// start's flags on a restart is allowed.
func TestProcessStartRefusesBadDirsAndFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("process tests start real nodes")
	}
	root := t.TempDir()
	addrs := FreeAddrs(t, 4)
	addr, httpAddr, other, other2 := addrs[0], addrs[1], addrs[2], addrs[3]
	dir := filepath.Join(root, "n1")
	members := "1=" + addr
	first := []string{"--id", "1", "--dir", dir, "--addr", addr, "--http", httpAddr, "--cluster", members}
	p := NewProcess(t, 1, dir, addr, httpAddr)
	p.Start(first...)
	p.WaitHealthy(serveTimeout)

	for _, args := range [][]string{{"--dir", dir}, first} {
		code, _, stderr := RunDkv(t, time.Minute, append([]string{"start"}, args...)...)
		require.Equal(t, 1, code, "a second start on a directory in use (%v): %s", args, stderr)
		require.Contains(t, stderr, "locked")
	}
	p.Terminate()
	st, err := p.Wait(time.Minute)
	require.NoError(t, err)
	require.Equal(t, 0, st.ExitCode())

	type refusal struct {
		name string
		args []string
		code int
		msg  string
	}
	before := dirSnapshot(t, dir)
	for _, r := range []refusal{
		{"--id contradicts the directory", []string{"--dir", dir, "--id", "2"}, 1, "--id 2 contradicts"},
		{"--addr contradicts the directory", []string{"--dir", dir, "--addr", other}, 1, "--addr " + other + " contradicts"},
		{"--http contradicts the directory", []string{"--dir", dir, "--http", other}, 1, "--http " + other + " contradicts"},
		{"--advertise-addr contradicts the directory", []string{"--dir", dir, "--advertise-addr", other}, 1, "contradicts"},
		{"another cluster's --cluster", []string{"--dir", dir, "--id", "1", "--addr", addr, "--cluster", members + ",2=" + other}, 1, "another cluster"},
		{"--join on a member's directory", []string{"--dir", dir, "--join", other}, 1, "already belongs"},
		{"--id not in --cluster", []string{"--dir", dir, "--id", "2", "--cluster", members}, 2, "not among"},
	} {
		code, _, stderr := RunDkv(t, time.Minute, append([]string{"start"}, r.args...)...)
		require.Equal(t, r.code, code, "%s: %s", r.name, stderr)
		require.Contains(t, stderr, r.msg, r.name)
		require.Equal(t, before, dirSnapshot(t, dir), "%s changed the directory", r.name)
	}
	lock, err := vfs.Default.Lock(filepath.Join(dir, "engine", "LOCK"))
	require.NoError(t, err)
	code, _, stderr := RunDkv(t, time.Minute, "start", "--dir", dir)
	require.NoError(t, lock.Close())
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "locked")
	require.Equal(t, before, dirSnapshot(t, dir), "a refused start on a locked directory changed it")

	for i, r := range []refusal{
		{"neither --cluster nor --join", []string{"--addr", addr}, 1, "give --cluster to bootstrap"},
		{"no --addr", []string{"--id", "1", "--cluster", members}, 1, "needs --addr"},
		{"--cluster and --join", []string{"--id", "1", "--addr", addr, "--cluster", members, "--join", other}, 2, "exclude each other"},
		{"--id not in --cluster", []string{"--id", "4", "--addr", addr, "--cluster", members}, 2, "--id 4 is not among"},
		{"--cluster without --id", []string{"--addr", addr, "--cluster", members}, 2, "needs --id"},
		{"--cluster lists the node elsewhere", []string{"--id", "1", "--addr", other, "--cluster", members}, 1, "--cluster lists node 1 at " + addr},
		{"--addr not loopback", []string{"--id", "1", "--addr", "10.1.2.3:7001", "--cluster", "1=10.1.2.3:7001"}, 2, "not a loopback address"},
		{"--addr on every interface", []string{"--id", "1", "--addr", "0.0.0.0:7001", "--cluster", "1=0.0.0.0:7001"}, 2, "not a loopback address"},
		{"--http not loopback", []string{"--id", "1", "--addr", addr, "--http", "192.168.1.1:8001", "--cluster", members}, 2, "not a loopback address"},
		{"--cluster without a port", []string{"--id", "1", "--addr", addr, "--cluster", "1=127.0.0.1"}, 2, "--cluster"},
		{"--cluster with a bad ID", []string{"--id", "1", "--addr", addr, "--cluster", "one=" + addr}, 2, "--cluster"},
		{"--cluster with ID 0", []string{"--id", "1", "--addr", addr, "--cluster", "0=" + other + "," + members}, 2, "--cluster"},
		{"--cluster with a node twice", []string{"--id", "1", "--addr", addr, "--cluster", members + ",1=" + other2}, 2, "listed twice"},
		{"--cluster not ID=HOST:PORT", []string{"--id", "1", "--addr", addr, "--cluster", "1:" + addr}, 2, "--cluster"},
		{"--addr not HOST:PORT", []string{"--id", "1", "--addr", "localhost", "--cluster", members}, 2, "want HOST:PORT"},
	} {
		d := filepath.Join(root, fmt.Sprintf("new%d", i))
		require.NoError(t, os.Mkdir(d, 0o755))
		code, _, stderr := RunDkv(t, time.Minute, append([]string{"start", "--dir", d}, r.args...)...)
		require.Equal(t, r.code, code, "%s: %s", r.name, stderr)
		require.Contains(t, stderr, r.msg, r.name)
		require.True(t, strings.HasPrefix(stderr, "dkv: "), "%s: %s", r.name, stderr)
		if code == 2 {
			require.Contains(t, stderr, "dkv start --help", r.name)
		}
		ents, err := os.ReadDir(d)
		require.NoError(t, err)
		require.Empty(t, ents, "%s wrote into a new directory", r.name)
	}

	// The first start's flags, repeated, restart the node.
	p.Start(first...)
	p.WaitHealthy(serveTimeout)
	p.Terminate()
	st, err = p.Wait(time.Minute)
	require.NoError(t, err)
	require.Equal(t, 0, st.ExitCode())

	// A directory of an older key layout (format version 1 had no
	// version in the identity) is refused, and left as it was.
	db, err := dkv.Open(filepath.Join(dir, "engine"), nil)
	require.NoError(t, err)
	v, err := db.Get(keys.StoreIdent)
	require.NoError(t, err)
	ident := &kvpb.StoreIdent{}
	require.NoError(t, proto.Unmarshal(v, ident))
	ident.FormatVersion = 0
	v, err = proto.Marshal(ident)
	require.NoError(t, err)
	require.NoError(t, db.Put(keys.StoreIdent, v))
	require.NoError(t, db.Close())
	before = dirSnapshot(t, dir)
	code, _, stderr = RunDkv(t, time.Minute, "start", "--dir", dir)
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "format version 1")
	require.Equal(t, before, dirSnapshot(t, dir), "a refused start on an old directory changed it")
}

// TestProcessBadRequests sends requests over raw gRPC to a three-process
// cluster. Contract: an empty key, a key over keys.MaxKeySize and a value
// over keys.MaxValueSize (in every write that carries one) are refused
// with codes.InvalidArgument and a message, by every node, and write
// nothing; a scan whose start is after its end is InvalidArgument; a
// write or read sent to a node that holds the range but does not lead it
// answers NotLeader with the leader's address; and clients that cancel
// their puts right after sending them leave the node healthy, later
// requests served, and each of those keys either absent or whole.
func TestProcessBadRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("process tests start real nodes")
	}
	c := StartProcessCluster(t, 3)
	kvs := map[uint64]kvpb.KVClient{}
	for _, p := range c.Nodes {
		conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		kvs[p.ID] = kvpb.NewKVClient(conn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	long := bytes.Repeat([]byte("k"), keys.MaxKeySize+1)
	big := bytes.Repeat([]byte("v"), keys.MaxValueSize+1)
	type call struct {
		name string
		do   func(kvpb.KVClient) error
	}
	for _, bad := range []call{
		{"put of an empty key", func(kv kvpb.KVClient) error {
			_, err := kv.Put(ctx, &kvpb.PutRequest{Key: nil, Value: []byte("v")})
			return err
		}},
		{"put of a key over the limit", func(kv kvpb.KVClient) error {
			_, err := kv.Put(ctx, &kvpb.PutRequest{Key: long, Value: []byte("v")})
			return err
		}},
		{"put of a value over the limit", func(kv kvpb.KVClient) error {
			_, err := kv.Put(ctx, &kvpb.PutRequest{Key: []byte("big"), Value: big})
			return err
		}},
		{"cas to a value over the limit", func(kv kvpb.KVClient) error {
			_, err := kv.CompareAndSwap(ctx, &kvpb.CompareAndSwapRequest{Key: []byte("big"), New: big})
			return err
		}},
		{"cas of an empty key", func(kv kvpb.KVClient) error {
			_, err := kv.CompareAndSwap(ctx, &kvpb.CompareAndSwapRequest{Key: []byte{}, New: []byte("v")})
			return err
		}},
		{"delete of an empty key", func(kv kvpb.KVClient) error {
			_, err := kv.Delete(ctx, &kvpb.DeleteRequest{Key: []byte{}})
			return err
		}},
		{"get of a key over the limit", func(kv kvpb.KVClient) error {
			_, err := kv.Get(ctx, &kvpb.GetRequest{Key: long})
			return err
		}},
		{"scan with start after end", func(kv kvpb.KVClient) error {
			_, err := kv.Scan(ctx, &kvpb.ScanRequest{Start: []byte("b"), End: []byte("a")})
			return err
		}},
	} {
		for id, kv := range kvs {
			err := bad.do(kv)
			require.Equal(t, codes.InvalidArgument, status.Code(err), "%s on node %d: %v", bad.name, id, err)
			require.NotEmpty(t, status.Convert(err).Message(), bad.name)
		}
	}
	cl := c.Client(10 * time.Second)
	all, err := cl.Scan(ctx, nil, nil, 0)
	require.NoError(t, err)
	require.Empty(t, all, "a refused request wrote something")
	_, err = cl.Get(ctx, []byte("big"))
	require.ErrorIs(t, err, client.ErrNotFound)

	// A node with the range that does not lead it names the leader.
	deadline := time.Now().Add(serveTimeout)
	for op, checked := 0, 0; checked < 2; op++ {
		require.True(t, time.Now().Before(deadline), "no NotLeader with a leader address within %v", serveTimeout)
		lead := c.Leader(serveTimeout)
		f := lead%3 + 1
		var h *kvpb.ResponseHeader
		if op%2 == 0 {
			resp, err := kvs[f].Put(ctx, &kvpb.PutRequest{Key: []byte("notleader"), Value: []byte("v")})
			require.NoError(t, err)
			h = resp.GetHeader()
		} else {
			resp, err := kvs[f].Get(ctx, &kvpb.GetRequest{Key: []byte("notleader")})
			require.NoError(t, err)
			h = resp.GetHeader()
		}
		nl := h.GetError().GetNotLeader()
		if nl == nil || nl.GetLeaderAddr() == "" {
			time.Sleep(100 * time.Millisecond) // leadership moved, or the follower knows no leader yet
			continue
		}
		require.NotEmpty(t, h.GetError().GetMessage())
		require.Contains(t, c.Endpoints(), nl.GetLeaderAddr())
		require.NotEqual(t, c.Node(f).Addr, nl.GetLeaderAddr(), "node %d names itself leader", f)
		require.Equal(t, c.Node(nl.GetLeaderNodeId()).Addr, nl.GetLeaderAddr())
		checked++
	}

	// Puts cancelled right after they were sent, at a range of moments.
	lead := c.Leader(serveTimeout)
	value := bytes.Repeat([]byte("c"), 256<<10)
	var wg sync.WaitGroup
	var unexpected atomic.Value
	for i := range 40 {
		cctx, ccancel := context.WithCancel(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := kvs[lead].Put(cctx, &kvpb.PutRequest{Key: []byte(fmt.Sprintf("cancel/%02d", i)), Value: value})
			if code := status.Code(err); err != nil && code != codes.Canceled {
				unexpected.Store(fmt.Sprintf("put %d: %v", i, err))
			}
		}()
		time.Sleep(time.Duration(i%8) * time.Millisecond)
		ccancel()
	}
	wg.Wait()
	require.Nil(t, unexpected.Load(), "a cancelled put failed otherwise than Canceled")
	for _, p := range c.Nodes {
		p.WaitHealthy(serveTimeout)
	}
	require.NoError(t, cl.Put(ctx, []byte("after"), []byte("ok")))
	got, err := cl.Get(ctx, []byte("after"))
	require.NoError(t, err)
	require.Equal(t, "ok", string(got))
	present := 0
	for i := range 40 {
		v, err := cl.Get(ctx, []byte(fmt.Sprintf("cancel/%02d", i)))
		if errors.Is(err, client.ErrNotFound) {
			continue
		}
		require.NoError(t, err)
		require.True(t, bytes.Equal(value, v), "cancel/%02d holds %d bytes, not the whole value", i, len(v))
		present++
	}
	t.Logf("40 puts cancelled right after sending: %d applied, %d not", present, 40-present)
}

// setWriter puts unique keys set/NNNNNN (the value is the key) one after
// another and remembers each one's outcome.
type setWriter struct {
	client    *client.Client
	opTimeout time.Duration

	acked, ambiguous, failed atomic.Int64
	mu                       sync.Mutex
	outcome                  map[string]string // key → "acked", "ambiguous" or "failed: " and the error
}

func (s *setWriter) run(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		key := fmt.Sprintf("set/%06d", i)
		octx, cancel := context.WithTimeout(context.Background(), s.opTimeout)
		err := s.client.Put(octx, []byte(key), []byte(key))
		cancel()
		out := "acked"
		switch {
		case err == nil:
			s.acked.Add(1)
		case errors.Is(err, client.ErrAmbiguous):
			out = "ambiguous"
			s.ambiguous.Add(1)
		default:
			out = "failed: " + err.Error()
			s.failed.Add(1)
		}
		s.mu.Lock()
		if s.outcome == nil {
			s.outcome = map[string]string{}
		}
		s.outcome[key] = out
		s.mu.Unlock()
	}
}

// check reads the set back (retrying until the cluster answers): every
// acknowledged key is present with its value, every failed one absent,
// and nothing else is there.
func (s *setWriter) check(t *testing.T, cl *client.Client) {
	t.Helper()
	var got []client.KeyValue
	var err error
	deadline := time.Now().Add(serveTimeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err = cl.Scan(ctx, []byte("set/"), []byte("set0"), 0)
		cancel()
		if err == nil {
			break
		}
	}
	require.NoError(t, err, "reading the set back")
	present := map[string]bool{}
	for _, kv := range got {
		require.Equal(t, string(kv.Key), string(kv.Value))
		present[string(kv.Key)] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var lost, resurrected, unknown []string
	for k, out := range s.outcome {
		switch {
		case out == "acked" && !present[k]:
			lost = append(lost, k)
		case strings.HasPrefix(out, "failed") && present[k]:
			resurrected = append(resurrected, k+" ("+out+")")
		}
	}
	for k := range present {
		if _, ok := s.outcome[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(lost)
	sort.Strings(resurrected)
	require.Empty(t, lost, "acknowledged puts missing at the end")
	require.Empty(t, resurrected, "puts that failed (not ambiguous) were applied")
	require.Empty(t, unknown, "keys never written are present")
	require.Positive(t, s.acked.Load())
}

// runInBackground runs each fn until the returned stop is called (or the
// test ends) and waits for them.
func runInBackground(t *testing.T, fns ...func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(ctx)
		}()
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// awaitProgress waits until acked() has grown by n, failing the test when
// it does not within progressTimeout.
func awaitProgress(t *testing.T, acked func() int64, n int64, what string) {
	t.Helper()
	start := acked()
	t0 := time.Now()
	for acked() < start+n {
		if time.Since(t0) > progressTimeout {
			t.Fatalf("%s: %d writes acknowledged in %v, want %d", what, acked()-start, progressTimeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%s: %d writes acknowledged in %v", what, acked()-start, time.Since(t0).Round(time.Millisecond))
}

// dirSnapshot returns every file under dir with its size, mode and hash.
func dirSnapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		line := rel + " " + info.Mode().String()
		if !d.IsDir() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			line += " " + strconv.Itoa(len(b)) + " " + fmt.Sprintf("%x", sha256.Sum256(b))
		}
		out = append(out, line)
		return nil
	})
	require.NoError(t, err)
	return out
}
