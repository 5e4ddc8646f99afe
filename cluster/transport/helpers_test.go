package transport

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// waitFor is the generous deadline of every eventually-true condition: the
// tests assert outcomes, never durations.
const waitFor = 30 * time.Second

// eventually polls cond until it holds, failing the test at the deadline.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkLeaks fails the test if goroutines started during it are still
// running once its cleanups (registered later, so run earlier) are done:
// goleak's check, by goroutine ID, without the dependency.
func checkLeaks(t *testing.T) {
	before := goroutines()
	t.Cleanup(func() {
		deadline := time.Now().Add(waitFor)
		for {
			var leaked []string
			for id, stack := range goroutines() {
				if _, ok := before[id]; !ok {
					leaked = append(leaked, stack)
				}
			}
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// goroutines returns the stacks of all goroutines but the caller's, by ID.
func goroutines() map[uint64]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := make(map[uint64]string)
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // this goroutine
		}
		head, _, _ := strings.Cut(g, " [")
		id, err := strconv.ParseUint(strings.TrimPrefix(head, "goroutine "), 10, 64)
		if err == nil {
			out[id] = g
		}
	}
	return out
}

// gateListener refuses connections (accepts and closes them at once)
// until opened: a node that is down, then comes up, on the same address.
type gateListener struct {
	net.Listener
	open atomic.Bool
}

func (l *gateListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || l.open.Load() {
			return c, err
		}
		c.Close()
	}
}

// recorder is a Handler that keeps every message's payload by sender.
type recorder struct {
	mu       sync.Mutex
	got      map[uint64][]string // by from_node_id
	batches  int
	snapshot func(ctx context.Context, h *kvpb.SnapshotHeader, next func() (*kvpb.SnapshotChunk, error)) error
}

func (r *recorder) HandleRaftBatch(b *kvpb.RaftMessageBatch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got == nil {
		r.got = make(map[uint64][]string)
	}
	r.batches++
	for _, m := range b.Messages {
		r.got[b.FromNodeId] = append(r.got[b.FromNodeId], string(m.Message))
	}
}

func (r *recorder) HandleSnapshot(ctx context.Context, h *kvpb.SnapshotHeader, next func() (*kvpb.SnapshotChunk, error)) error {
	r.mu.Lock()
	f := r.snapshot
	r.mu.Unlock()
	if f == nil {
		return fmt.Errorf("test: no snapshot handler")
	}
	return f(ctx, h, next)
}

func (r *recorder) from(id uint64) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got[id])
}

func (r *recorder) setSnapshot(f func(ctx context.Context, h *kvpb.SnapshotHeader, next func() (*kvpb.SnapshotChunk, error)) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snapshot = f
}

// node is one transport with its server and listener.
type node struct {
	id          uint64
	addr        string
	tr          *Transport
	rec         *recorder
	lis         *gateListener
	srv         *grpc.Server
	served      chan struct{}
	unreachable sync.Map // node ID → *atomic.Int64
}

func (n *node) unreachableCount(id uint64) int64 {
	v, ok := n.unreachable.Load(id)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

// testCluster is a set of in-process nodes on 127.0.0.1 that resolve each
// other's addresses, sharing one Faults.
type testCluster struct {
	t         *testing.T
	clusterID uint64
	faults    *Faults
	mu        sync.Mutex
	addrs     map[uint64]string
	nodes     map[uint64]*node
}

func newCluster(t *testing.T, ids ...uint64) *testCluster {
	c := &testCluster{t: t, clusterID: 7, faults: NewFaults(1), addrs: map[uint64]string{}, nodes: map[uint64]*node{}}
	for _, id := range ids {
		c.start(id, nil)
	}
	return c
}

func (c *testCluster) resolve(id uint64) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.addrs[id]
	return a, ok
}

// start starts node id; change, if set, edits its Config first. The node
// is closed when the test ends.
func (c *testCluster) start(id uint64, change func(*Config)) *node {
	t := c.t
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{id: id, addr: l.Addr().String(), rec: &recorder{}, lis: &gateListener{Listener: l}, served: make(chan struct{})}
	n.lis.open.Store(true)
	cfg := Config{
		NodeID:        id,
		ClusterID:     c.clusterID,
		AdvertiseAddr: n.addr,
		LocalHost:     "127.0.0.1",
		Resolve:       c.resolve,
		Handler:       n.rec,
		Unreachable: func(to uint64) {
			v, _ := n.unreachable.LoadOrStore(to, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
		},
		Faults: c.faults,
	}
	if change != nil {
		change(&cfg)
	}
	n.tr = New(cfg)
	n.srv = grpc.NewServer(ServerOptions()...)
	n.tr.Register(n.srv)
	go func() {
		defer close(n.served)
		n.srv.Serve(n.lis)
	}()
	c.mu.Lock()
	c.addrs[id] = n.addr
	c.nodes[id] = n
	c.mu.Unlock()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// stop closes the transport, then stops the server gracefully: after
// Close no incoming stream remains, so GracefulStop must not wait for
// peers.
func (n *node) stop(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.tr.Close()
		n.srv.GracefulStop()
		<-n.served
	}()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Errorf("node %d: Close and GracefulStop did not return", n.id)
	}
}

func (c *testCluster) node(id uint64) *node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// payload names message seq from node from to node to.
func payload(from, to uint64, seq int) string { return fmt.Sprintf("%d>%d#%06d", from, to, seq) }

func msg(from, to uint64, seq int) *kvpb.RaftMessage {
	return &kvpb.RaftMessage{
		RangeId: 1,
		From:    &kvpb.ReplicaDescriptor{NodeId: from, ReplicaId: from},
		To:      &kvpb.ReplicaDescriptor{NodeId: to, ReplicaId: to},
		Message: []byte(payload(from, to, seq)),
	}
}

// seqs returns the sequence numbers of payloads, failing on a payload of
// another link.
func seqs(t testing.TB, from, to uint64, got []string) []int {
	t.Helper()
	prefix := fmt.Sprintf("%d>%d#", from, to)
	out := make([]int, 0, len(got))
	for _, g := range got {
		s, ok := strings.CutPrefix(g, prefix)
		if !ok {
			t.Fatalf("node %d got %q from node %d", to, g, from)
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("bad payload %q", g)
		}
		out = append(out, n)
	}
	return out
}

// increasing reports whether s is strictly increasing (in order, no
// duplicates).
func increasing(s []int) bool {
	for i := 1; i < len(s); i++ {
		if s[i] <= s[i-1] {
			return false
		}
	}
	return true
}

// checkAccounting checks Stats' conservation law once a transport is
// quiet: every queued message was sent or dropped after queueing.
func checkAccounting(t testing.TB, n *node) {
	t.Helper()
	eventually(t, fmt.Sprintf("node %d's queued messages to be accounted for", n.id), func() bool {
		s := n.tr.Stats()
		return s.MessagesQueued == s.MessagesSent+s.MessagesDroppedFault+s.MessagesDroppedUnreachable
	})
}

// sliceSource is a SnapshotSource over pairs, pieces per Next call.
type sliceSource struct {
	kvs   []*kvpb.KeyValue
	piece int
	calls int
	fail  error // returned instead of the third piece, if set
	wait  func(call int) error
}

func (s *sliceSource) Next() ([]*kvpb.KeyValue, error) {
	s.calls++
	if s.wait != nil {
		if err := s.wait(s.calls); err != nil {
			return nil, err
		}
	}
	if s.fail != nil && s.calls == 3 {
		return nil, s.fail
	}
	if len(s.kvs) == 0 {
		return nil, io.EOF
	}
	n := min(s.piece, len(s.kvs))
	out := s.kvs[:n]
	s.kvs = s.kvs[n:]
	return out, nil
}

func snapshotKVs(n, valueSize int) []*kvpb.KeyValue {
	kvs := make([]*kvpb.KeyValue, n)
	for i := range kvs {
		kvs[i] = &kvpb.KeyValue{Key: fmt.Appendf(nil, "u%08d", i), Value: bytes.Repeat([]byte{byte(i)}, valueSize)}
	}
	return kvs
}

func snapHeader(from, to uint64) *kvpb.SnapshotHeader {
	return &kvpb.SnapshotHeader{
		Message: msg(from, to, 0),
		Range:   &kvpb.RangeDescriptor{RangeId: 1, NextReplicaId: 4},
	}
}
