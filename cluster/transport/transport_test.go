package transport

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	grpcpeer "google.golang.org/grpc/peer"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// Without faults, every message a node sends to a peer arrives, once, in
// the order of the Send calls, whatever batches they travel in.
func TestExchange(t *testing.T) {
	for _, nodes := range []int{2, 3} {
		t.Run(fmt.Sprintf("nodes=%d", nodes), func(t *testing.T) {
			checkLeaks(t)
			var ids []uint64
			for i := 1; i <= nodes; i++ {
				ids = append(ids, uint64(i))
			}
			c := newCluster(t, ids...)
			const perLink = 600
			var wg sync.WaitGroup
			for _, from := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(from, 0))
					next := map[uint64]int{}
					for sent := 0; sent < perLink*(nodes-1); {
						to := ids[rng.IntN(len(ids))]
						if to == from || next[to] == perLink {
							continue
						}
						var msgs []*kvpb.RaftMessage
						for k := 1 + rng.IntN(8); k > 0 && next[to] < perLink; k-- {
							msgs = append(msgs, msg(from, to, next[to]))
							next[to]++
						}
						sent += len(msgs)
						// The queue holds 4096: nothing is dropped.
						if !c.node(from).tr.Send(to, msgs) {
							t.Errorf("Send %d→%d dropped", from, to)
						}
					}
				}()
			}
			wg.Wait()
			for _, from := range ids {
				for _, to := range ids {
					if from == to {
						continue
					}
					rec := c.node(to).rec
					eventually(t, fmt.Sprintf("%d messages %d→%d", perLink, from, to), func() bool {
						return len(rec.from(from)) >= perLink
					})
					got := seqs(t, from, to, rec.from(from))
					if len(got) != perLink || !increasing(got) || got[0] != 0 {
						t.Fatalf("%d→%d: got %d messages, in order %v (first %d)", from, to, len(got), increasing(got), got[0])
					}
				}
			}
			for _, id := range ids {
				n := c.node(id)
				checkAccounting(t, n)
				s := n.tr.Stats()
				want := uint64(perLink * (nodes - 1))
				if s.MessagesSent != want || s.MessagesReceived != want {
					t.Errorf("node %d: sent %d, received %d; want %d each", id, s.MessagesSent, s.MessagesReceived, want)
				}
				if s.BatchesSent == 0 || s.BatchesSent > s.MessagesSent {
					t.Errorf("node %d: %d batches for %d messages", id, s.BatchesSent, s.MessagesSent)
				}
			}
		})
	}
}

// A node dials its peers from Config.LocalHost, so on 127.0.0.N a
// connection's source address names the node.
func TestDialsFromLocalHost(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 2)
	var mu sync.Mutex
	var sources []string
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(append(ServerOptions(), grpc.StreamInterceptor(
		func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			if p, ok := grpcpeer.FromContext(ss.Context()); ok {
				mu.Lock()
				sources = append(sources, p.Addr.String())
				mu.Unlock()
			}
			return handler(srv, ss)
		}))...)
	rec := &recorder{}
	tr := New(Config{NodeID: 1, ClusterID: c.clusterID, Handler: rec})
	tr.Register(srv)
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(l) }()
	t.Cleanup(func() { tr.Close(); srv.Stop(); <-served })
	c.mu.Lock()
	c.addrs[1] = l.Addr().String()
	c.mu.Unlock()

	c.node(2).tr.Send(1, []*kvpb.RaftMessage{msg(2, 1, 0)})
	eventually(t, "node 1 to get the message", func() bool { return len(rec.from(2)) == 1 })
	mu.Lock()
	defer mu.Unlock()
	for _, s := range sources {
		if host, _, _ := net.SplitHostPort(s); host != "127.0.0.1" {
			t.Errorf("connection from %s, want 127.0.0.1", s)
		}
	}
	if len(sources) == 0 {
		t.Error("no stream seen")
	}
}

// A LocalHost that is not an IP address makes every dial fail, and the
// peer is reported unreachable; a port in LocalHost is ignored.
func TestLocalHost(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1)
	bad := c.start(2, func(cfg *Config) { cfg.LocalHost = "localhost" })
	bad.tr.Send(1, []*kvpb.RaftMessage{msg(2, 1, 0)})
	eventually(t, "node 2 to report node 1 unreachable", func() bool { return bad.unreachableCount(1) > 0 })
	if n := len(c.node(1).rec.from(2)); n != 0 {
		t.Fatalf("node 1 got %d messages", n)
	}
	withPort := c.start(3, func(cfg *Config) { cfg.LocalHost = "127.0.0.1:7001" })
	withPort.tr.Send(1, []*kvpb.RaftMessage{msg(3, 1, 0)})
	eventually(t, "node 1 to get node 3's message", func() bool { return len(c.node(1).rec.from(3)) == 1 })
}

// A peer that is down is reported unreachable and its messages dropped;
// once it comes up on the same address the sender redials, and messages
// flow again, in order.
func TestPeerDownThenUp(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1, 2)
	a, b := c.node(1), c.node(2)
	b.lis.open.Store(false)

	seq := 0
	send := func() {
		a.tr.Send(2, []*kvpb.RaftMessage{msg(1, 2, seq)})
		seq++
	}
	eventually(t, "node 2 to be reported unreachable", func() bool {
		send()
		time.Sleep(time.Millisecond)
		return a.unreachableCount(2) >= 2
	})
	if s := a.tr.Stats(); s.StreamFailures == 0 || s.UnreachableReports == 0 {
		t.Fatalf("stats while down: %+v", s)
	}
	if n := len(b.rec.from(1)); n != 0 {
		t.Fatalf("node 2 got %d messages while down", n)
	}

	b.lis.open.Store(true)
	eventually(t, "node 2 to get a message after coming up", func() bool {
		send()
		time.Sleep(time.Millisecond)
		return len(b.rec.from(1)) > 0
	})
	first := seq
	for range 100 {
		send()
	}
	eventually(t, "the last message", func() bool {
		got := seqs(t, 1, 2, b.rec.from(1))
		return got[len(got)-1] == seq-1
	})
	got := seqs(t, 1, 2, b.rec.from(1))
	if !increasing(got) {
		t.Fatalf("out of order: %v", got)
	}
	// Everything sent once the stream was back up arrived.
	if tail := got[len(got)-100:]; tail[0] != first {
		t.Fatalf("messages lost after reconnecting: %v", tail)
	}
	checkAccounting(t, a)
}

// While a dial is in progress the queue fills; then Send drops and returns
// false at once. Close ends the pending dial.
func TestQueueFull(t *testing.T) {
	checkLeaks(t)
	// A listener that never accepts: TCP connects, gRPC's handshake never
	// completes, and the dial stays in progress.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var unreachable int
	tr := New(Config{
		NodeID: 1, ClusterID: 7, QueueSize: 8, DialTimeout: time.Hour,
		Resolve:     func(uint64) (string, bool) { return l.Addr().String(), true },
		Unreachable: func(uint64) { unreachable++ }, // only ever from the peer's goroutine
	})
	var msgs []*kvpb.RaftMessage
	for i := range 8 {
		msgs = append(msgs, msg(1, 2, i))
	}
	if !tr.Send(2, msgs) {
		t.Fatal("Send of a queue's worth dropped")
	}
	done := make(chan bool)
	go func() { done <- tr.Send(2, []*kvpb.RaftMessage{msg(1, 2, 8), msg(1, 2, 9)}) }()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("Send to a full queue returned true")
		}
	case <-time.After(waitFor):
		t.Fatal("Send to a full queue blocked")
	}
	s := tr.Stats()
	if s.MessagesQueued != 8 || s.MessagesDroppedQueue != 2 {
		t.Fatalf("queued %d, dropped %d; want 8, 2", s.MessagesQueued, s.MessagesDroppedQueue)
	}
	closed := make(chan struct{})
	go func() { tr.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(waitFor):
		t.Fatal("Close did not end a pending dial")
	}
	if unreachable != 0 {
		t.Fatalf("Close reported the peer unreachable %d times", unreachable)
	}
	// What was queued when it closed is counted as dropped.
	if s := tr.Stats(); s.MessagesDroppedUnreachable != 8 || s.MessagesSent != 0 {
		t.Fatalf("after Close: %+v", s)
	}
}

// Send refuses what it cannot send, and returns false for it, without
// panicking: nil and empty input is nothing to send.
func TestSendBadInput(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1, 2)
	a := c.node(1)
	if !a.tr.Send(2, nil) || !a.tr.Send(2, []*kvpb.RaftMessage{}) || !a.tr.Send(2, []*kvpb.RaftMessage{nil}) {
		t.Fatal("Send of nothing returned false")
	}
	if a.tr.Send(9, []*kvpb.RaftMessage{msg(1, 9, 0)}) {
		t.Fatal("Send to a node without an address returned true")
	}
	huge := msg(1, 2, 0)
	huge.Message = make([]byte, MaxRaftMessageBytes+1)
	if a.tr.Send(2, []*kvpb.RaftMessage{huge, nil, msg(1, 2, 1)}) {
		t.Fatal("Send of an oversized message returned true")
	}
	eventually(t, "the valid message", func() bool { return len(c.node(2).rec.from(1)) == 1 })
	s := a.tr.Stats()
	if s.MessagesDroppedNoPeer != 1 || s.MessagesDroppedTooLarge != 1 || s.MessagesQueued != 1 {
		t.Fatalf("stats: %+v", s)
	}
}

// After Close, Send and SendSnapshot refuse; Close is idempotent; a
// receiver's Close ends the streams peers opened to it, and the senders
// see them break.
func TestClose(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1, 2)
	a, b := c.node(1), c.node(2)
	a.tr.Send(2, []*kvpb.RaftMessage{msg(1, 2, 0)})
	b.tr.Send(1, []*kvpb.RaftMessage{msg(2, 1, 0)})
	eventually(t, "both streams up", func() bool { return len(a.rec.from(2)) == 1 && len(b.rec.from(1)) == 1 })

	if err := b.tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.tr.Close(); err != nil {
		t.Fatal(err)
	}
	if b.tr.Send(1, []*kvpb.RaftMessage{msg(2, 1, 1)}) {
		t.Fatal("Send after Close returned true")
	}
	if err := b.tr.SendSnapshot(context.Background(), 1, snapHeader(2, 1), &sliceSource{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("SendSnapshot after Close: %v", err)
	}
	// Node 1's stream to node 2 was ended by node 2's Close.
	eventually(t, "node 1 to see its stream to node 2 end", func() bool { return a.unreachableCount(2) > 0 })
	if n := len(a.rec.from(2)); n != 1 {
		t.Fatalf("node 1 got %d messages from node 2", n)
	}
}

// After a failure the sender redials only when it has something to send:
// an idle dead peer is not dialed again.
func TestIdleDeadPeerNotRedialed(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1, 2)
	a, b := c.node(1), c.node(2)
	b.lis.open.Store(false)
	a.tr.Send(2, []*kvpb.RaftMessage{msg(1, 2, 0)})
	eventually(t, "node 2 to be reported unreachable", func() bool { return a.unreachableCount(2) == 1 })
	// Many backoffs long: a sender that redialed on its own would have.
	time.Sleep(20 * maxBackoff / 10)
	if s := a.tr.Stats(); s.Dials != 1 || s.UnreachableReports != 1 {
		t.Fatalf("an idle dead peer was redialed: %+v", s)
	}
	b.lis.open.Store(true)
	eventually(t, "a message after node 2 came up", func() bool {
		a.tr.Send(2, []*kvpb.RaftMessage{msg(1, 2, 1)})
		time.Sleep(time.Millisecond)
		return len(b.rec.from(1)) > 0
	})
}

// RemovePeer ends a peer's goroutine and connection; a later Send starts
// a new one.
func TestRemovePeer(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1, 2)
	a, b := c.node(1), c.node(2)
	a.tr.Send(2, []*kvpb.RaftMessage{msg(1, 2, 0)})
	eventually(t, "the first message", func() bool { return len(b.rec.from(1)) == 1 })
	a.tr.RemovePeer(2)
	a.tr.RemovePeer(2)
	a.tr.RemovePeer(5) // never known
	a.tr.Send(2, []*kvpb.RaftMessage{msg(1, 2, 1)})
	eventually(t, "the message after RemovePeer", func() bool { return len(b.rec.from(1)) == 2 })
	if s := a.tr.Stats(); s.Dials != 2 || s.UnreachableReports != 0 {
		t.Fatalf("stats: %+v", s)
	}
}

// Logf gets one line per distinct failure, not one per redial.
func TestLogf(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1)
	var mu sync.Mutex
	var lines []string
	n := c.start(2, func(cfg *Config) {
		cfg.ClusterID = 8
		cfg.Logf = func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, fmt.Sprintf(format, args...))
		}
	})
	eventually(t, "several refusals", func() bool {
		n.tr.Send(1, []*kvpb.RaftMessage{msg(2, 1, 0)})
		time.Sleep(time.Millisecond)
		return n.unreachableCount(1) >= 3
	})
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 1 || !strings.Contains(lines[0], "belongs to cluster 8") {
		t.Fatalf("logged %q", lines)
	}
}

// A peer that stops reading breaks the stream after SendTimeout, instead
// of blocking the sender: it is reported unreachable, and Send still
// returns.
func TestStalledPeer(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t)
	stall := make(chan struct{})
	c.start(3, func(cfg *Config) { cfg.Handler = &stallHandler{recorder: &recorder{}, stall: stall} })
	defer close(stall) // before the nodes stop: Close waits for the handler
	a := c.start(1, func(cfg *Config) { cfg.SendTimeout = 100 * time.Millisecond })
	big := make([]byte, 512<<10)
	eventually(t, "node 3 to be reported unreachable", func() bool {
		m := msg(1, 3, 0)
		m.Message = big
		a.tr.Send(3, []*kvpb.RaftMessage{m})
		time.Sleep(time.Millisecond)
		return a.unreachableCount(3) > 0
	})
}

// stallHandler blocks in HandleRaftBatch until stall is closed.
type stallHandler struct {
	*recorder
	stall chan struct{}
}

func (h *stallHandler) HandleRaftBatch(b *kvpb.RaftMessageBatch) { <-h.stall }
