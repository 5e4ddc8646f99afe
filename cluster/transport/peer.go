package transport

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// errStreamEnded means the receiver ended a stream without an error (it
// is closing).
var errStreamEnded = errors.New("transport: the peer ended the stream")

// peer is the sending side towards one node: a queue that Send fills and
// one goroutine (run) that owns everything else — the connection, the
// stream, the batch being built and the batches a fault delays.
type peer struct {
	t      *Transport
	id     uint64
	queue  chan *kvpb.RaftMessage
	ctx    context.Context // a child of the transport's; RemovePeer cancels it
	cancel context.CancelFunc

	// Owned by the run goroutine.
	carry *kvpb.RaftMessage // taken from the queue, not yet in a batch
}

// run connects, pumps the queue onto the stream until it breaks, and
// redials with a growing, jittered backoff. While the peer is down,
// messages are taken from the queue and dropped, so a queue fills only
// while a dial is in progress or the stream is slow. After a failure it
// redials only once there is a message to send, so an idle dead peer costs
// nothing.
func (p *peer) run() {
	defer p.t.wg.Done()
	defer p.dropQueued()
	ctx := p.ctx
	backoff := minBackoff
	for {
		start := time.Now()
		delivered, err := p.session(ctx)
		if ctx.Err() != nil {
			return
		}
		p.t.stats.streamFailures.Add(1)
		p.t.logOnce("transport: node %d → node %d: unreachable: %v", p.t.cfg.NodeID, p.id, err)
		p.t.reportUnreachable(p.id)
		// A stream that carried batches for a while was healthy: start
		// over. One that broke at once (refused, say) backs off further.
		if delivered && time.Since(start) >= healthySession {
			backoff = minBackoff
		}
		if !p.dropWhileDown(ctx, backoff/2+rand.N(backoff/2+1)) {
			return
		}
		backoff = min(2*backoff, maxBackoff)
		select {
		case <-ctx.Done():
			return
		case p.carry = <-p.queue:
		}
	}
}

func (t *Transport) reportUnreachable(id uint64) {
	t.stats.unreachable.Add(1)
	if t.cfg.Unreachable != nil {
		t.cfg.Unreachable(id)
	}
}

// dropQueued counts what is left when the peer stops (a Send racing with
// Close or RemovePeer may still add to the queue, uncounted).
func (p *peer) dropQueued() {
	if p.carry != nil {
		p.carry = nil
		p.t.stats.droppedUnreachable.Add(1)
	}
	for {
		select {
		case <-p.queue:
			p.t.stats.droppedUnreachable.Add(1)
		default:
			return
		}
	}
}

// dropWhileDown waits d, dropping what arrives in the queue (the report
// of the failure that began the wait covers them). It returns false if
// the peer was stopped.
func (p *peer) dropWhileDown(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	if p.carry != nil {
		p.carry = nil
		p.t.stats.droppedUnreachable.Add(1)
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-p.queue:
			p.t.stats.droppedUnreachable.Add(1)
		}
	}
}

// session dials the peer, opens a stream and sends batches until the
// stream breaks or the transport closes. delivered says whether a batch
// was written, which resets the backoff.
func (p *peer) session(ctx context.Context) (delivered bool, err error) {
	addr, ok := p.t.resolve(p.id)
	if !ok {
		return false, fmt.Errorf("%w %d", ErrNoAddress, p.id)
	}
	conn, err := p.t.dial(ctx, addr)
	if err != nil {
		return false, err
	}
	defer conn.Close()

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := kvpb.NewRaftClient(conn).RaftMessages(sctx)
	if err != nil {
		return false, fmt.Errorf("transport: open stream to %s: %w", addr, err)
	}
	s := &session{
		peer:     p,
		stream:   stream,
		ended:    make(chan error, 1),
		watchdog: time.AfterFunc(time.Hour, cancel),
	}
	s.watchdog.Stop()
	defer s.watchdog.Stop()
	defer s.dropDelayed()
	// The receiver sends nothing until it ends the stream: one RecvMsg
	// waits for that, so a refused or broken stream is noticed even
	// while there is nothing to send. It returns once sctx is cancelled.
	if !p.t.track() {
		return false, ErrClosed
	}
	go func() {
		defer p.t.wg.Done()
		err := stream.RecvMsg(new(kvpb.RaftStreamEnd))
		if err == nil {
			err = errStreamEnded
		}
		s.ended <- err
	}()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		// The message that made run redial, or that did not fit the last
		// batch, goes first.
		for p.carry != nil {
			m := p.carry
			p.carry = nil
			if err := s.dispatch(p.collect(m)); err != nil {
				return s.delivered, fmt.Errorf("transport: stream to %s: %w", addr, err)
			}
		}
		var due <-chan time.Time
		if len(s.delayed) > 0 {
			timer.Reset(time.Until(s.delayed[0].due))
			due = timer.C
		}
		select {
		case <-ctx.Done():
			return s.delivered, ctx.Err()
		case err := <-s.ended:
			return s.delivered, fmt.Errorf("transport: stream to %s: %w", addr, err)
		case p.carry = <-p.queue:
		case <-due:
			now := time.Now()
			for len(s.delayed) > 0 && !s.delayed[0].due.After(now) {
				b := heap.Pop(&s.delayed).(delayedBatch)
				if err := s.send(b.msgs); err != nil {
					return s.delivered, fmt.Errorf("transport: stream to %s: %w", addr, err)
				}
			}
		}
	}
}

// collect builds a batch starting with m from what the queue holds now,
// without waiting. A message that would make the batch exceed
// maxBatchBytes is left in p.carry for the next batch.
func (p *peer) collect(m *kvpb.RaftMessage) []*kvpb.RaftMessage {
	msgs := []*kvpb.RaftMessage{m}
	size := len(m.Message)
	for len(msgs) < maxBatchMessages && size < maxBatchBytes {
		select {
		case m := <-p.queue:
			if size+len(m.Message) > maxBatchBytes {
				p.carry = m
				return msgs
			}
			msgs = append(msgs, m)
			size += len(m.Message)
		default:
			return msgs
		}
	}
	return msgs
}

// session is one stream to a peer.
type session struct {
	*peer
	stream    grpc.ClientStreamingClient[kvpb.RaftMessageBatch, kvpb.RaftStreamEnd]
	ended     chan error  // the receiver ended the stream, or it broke
	watchdog  *time.Timer // cancels the stream when a Send blocks too long
	delayed   delayQueue  // batches a fault holds back
	seq       uint64      // orders delayed batches with the same due time
	delivered bool
}

// dispatch applies the faults to a batch, then sends it or holds it back.
func (s *session) dispatch(msgs []*kvpb.RaftMessage) error {
	if f := s.t.cfg.Faults; f != nil {
		n := len(msgs)
		var delay time.Duration
		msgs, delay = f.FilterBatch(s.t.cfg.NodeID, s.id, msgs)
		s.t.stats.droppedFault.Add(uint64(n - len(msgs)))
		if len(msgs) == 0 {
			return nil
		}
		if delay > 0 {
			s.t.stats.delayed.Add(1)
			s.seq++
			heap.Push(&s.delayed, delayedBatch{due: time.Now().Add(delay), seq: s.seq, msgs: msgs})
			return nil
		}
	}
	return s.send(msgs)
}

// send writes one batch on the stream.
func (s *session) send(msgs []*kvpb.RaftMessage) error {
	b := &kvpb.RaftMessageBatch{
		ClusterId:  s.t.cfg.ClusterID,
		FromNodeId: s.t.cfg.NodeID,
		ToNodeId:   s.id,
		FromAddr:   s.t.cfg.AdvertiseAddr,
		Messages:   msgs,
	}
	s.watchdog.Reset(s.t.cfg.SendTimeout)
	err := s.stream.Send(b)
	s.watchdog.Stop()
	if err != nil {
		s.t.stats.droppedUnreachable.Add(uint64(len(msgs)))
		if errors.Is(err, io.EOF) {
			// The stream ended; its status is what RecvMsg returns.
			err = <-s.ended
		}
		return err
	}
	s.delivered = true
	s.t.stats.batches.Add(1)
	s.t.stats.sent.Add(uint64(len(msgs)))
	return nil
}

// dropDelayed counts the batches still held back when a session ends.
func (s *session) dropDelayed() {
	for _, b := range s.delayed {
		s.t.stats.droppedUnreachable.Add(uint64(len(b.msgs)))
	}
	s.delayed = nil
}

type delayedBatch struct {
	due  time.Time
	seq  uint64
	msgs []*kvpb.RaftMessage
}

// delayQueue is a min-heap of delayed batches by due time.
type delayQueue []delayedBatch

func (q delayQueue) Len() int { return len(q) }
func (q delayQueue) Less(i, j int) bool {
	if q[i].due.Equal(q[j].due) {
		return q[i].seq < q[j].seq
	}
	return q[i].due.Before(q[j].due)
}
func (q delayQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *delayQueue) Push(x any)   { *q = append(*q, x.(delayedBatch)) }
func (q *delayQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// dial connects to addr from the configured local host and waits until
// the connection is ready, at most Config.DialTimeout. The caller closes
// the connection. A connection is never reused after its stream breaks:
// every redial resolves the address again and makes a new one.
func (t *Transport) dial(ctx context.Context, addr string) (*grpc.ClientConn, error) {
	t.stats.dials.Add(1)
	if t.localErr != nil {
		return nil, t.localErr
	}
	var (
		mu      sync.Mutex
		lastErr error // the last error of the dialer, for the report
	)
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		d := net.Dialer{}
		if t.localIP != nil {
			d.LocalAddr = &net.TCPAddr{IP: t.localIP}
		}
		c, err := d.DialContext(ctx, "tcp", addr)
		mu.Lock()
		lastErr = err
		mu.Unlock()
		return c, err
	}
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dialer),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: minBackoff, Multiplier: 1.6, Jitter: 0.2, MaxDelay: maxBackoff},
			MinConnectTimeout: t.cfg.DialTimeout,
		}),
	}, t.cfg.DialOptions...)
	// passthrough: addr goes to the dialer as it is, without DNS.
	conn, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %w", addr, err)
	}
	dctx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout)
	defer cancel()
	conn.Connect()
	for {
		state := conn.GetState()
		switch state {
		case connectivity.Ready:
			return conn, nil
		case connectivity.TransientFailure, connectivity.Shutdown:
			conn.Close()
			mu.Lock()
			err := lastErr
			mu.Unlock()
			if err == nil {
				err = errors.New("connection failed")
			}
			return nil, fmt.Errorf("transport: dial %s: %w", addr, err)
		}
		if !conn.WaitForStateChange(dctx, state) {
			conn.Close()
			return nil, fmt.Errorf("transport: dial %s: %w", addr, dctx.Err())
		}
	}
}
