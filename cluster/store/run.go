package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/replica"
	"github.com/distributedkv/dkv/cluster/transport"
)

// scheduler is the set of replicas with pending work. A replica is
// processed by one worker at a time; work that arrives while it runs
// queues it again.
type scheduler struct {
	mu         sync.Mutex
	cond       *sync.Cond
	queue      []uint64
	queued     map[uint64]bool
	processing map[uint64]bool
	again      map[uint64]bool
	closed     bool
}

func (q *scheduler) init() {
	q.cond = sync.NewCond(&q.mu)
	q.queued = make(map[uint64]bool)
	q.processing = make(map[uint64]bool)
	q.again = make(map[uint64]bool)
}

func (q *scheduler) add(id uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.processing[id] {
		q.again[id] = true
		return
	}
	if !q.queued[id] {
		q.queued[id] = true
		q.queue = append(q.queue, id)
		q.cond.Signal()
	}
}

// next blocks for a replica to process; false once closed.
func (q *scheduler) next() (uint64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.queue) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return 0, false
	}
	id := q.queue[0]
	q.queue = q.queue[1:]
	delete(q.queued, id)
	q.processing[id] = true
	return id, true
}

func (q *scheduler) finish(id uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, id)
	if q.again[id] {
		delete(q.again, id)
		if !q.queued[id] {
			q.queued[id] = true
			q.queue = append(q.queue, id)
			q.cond.Signal()
		}
	}
}

// takeAll returns every queued replica in ID order (manual mode).
func (q *scheduler) takeAll() []uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	ids := q.queue
	q.queue = nil
	for _, id := range ids {
		delete(q.queued, id)
	}
	slices.Sort(ids)
	return ids
}

func (q *scheduler) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// senderFunc sends through the Store's Sender once Start set it.
type senderFunc struct{ s *Store }

func (f senderFunc) Send(to uint64, msgs []*kvpb.RaftMessage) bool {
	if f.s.sender == nil {
		return false
	}
	return f.s.sender.Send(to, msgs)
}

func (f senderFunc) SendSnapshot(ctx context.Context, to uint64, h *kvpb.SnapshotHeader, src transport.SnapshotSource) error {
	if f.s.sender == nil {
		return errors.New("store: not started")
	}
	return f.s.sender.SendSnapshot(ctx, to, h, src)
}

// Start begins ticking and processing (when configured) with sender as
// the way out. It is called once, after Bootstrap or Join for a new node.
func (s *Store) Start(sender replica.Sender) {
	s.sender = sender
	for range s.cfg.Workers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				id, ok := s.sched.next()
				if !ok {
					return
				}
				s.process(id)
				s.sched.finish(id)
			}
		}()
	}
	if s.cfg.TickInterval > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			t := time.NewTicker(s.cfg.TickInterval)
			defer t.Stop()
			for {
				select {
				case <-s.stopper:
					return
				case <-t.C:
					s.Tick()
				}
			}
		}()
	}
	// Wake every replica once: a restarted node has work (campaigns,
	// entries to apply).
	for _, r := range s.Replicas() {
		s.sched.add(r.RangeID())
	}
}

// process runs one replica's loop and removes it if it left its range.
func (s *Store) process(rangeID uint64) {
	r := s.Replica(rangeID)
	if r == nil {
		return
	}
	if err := r.Process(); err != nil {
		return
	}
	s.mu.RLock()
	stale := s.mu.stale[rangeID] == r
	s.mu.RUnlock()
	if stale {
		s.mu.Lock()
		delete(s.mu.stale, rangeID)
		s.mu.Unlock()
	}
	if r.Destroyed() || stale {
		if err := s.removeReplica(r); err != nil {
			s.logger.Error("store: remove replica", "range", rangeID, "err", err)
		}
	}
	if r.TakeSystemChanged() {
		_ = s.refreshAddrs()
	}
}

// pingEveryTicks is how often a Store tells every other node it is alive
// (an empty batch): quiesced ranges send nothing, and their followers
// watch their leader's node through these instead.
const pingEveryTicks = 2

// Tick advances every replica's logical clock by one tick (quiesced
// replicas skip it; a quiesced follower whose leader's node fell silent is
// woken first), and every few ticks pings the other nodes.
func (s *Store) Tick() {
	t := s.ticks.Add(1)
	if t%pingEveryTicks == 0 && s.sender != nil {
		s.mu.RLock()
		var peers []uint64
		for id := range s.mu.addrs {
			if id != s.mu.ident.GetNodeId() {
				peers = append(peers, id)
			}
		}
		s.mu.RUnlock()
		slices.Sort(peers)
		for _, id := range peers {
			s.sender.Send(id, []*kvpb.RaftMessage{{}})
		}
	}
	for _, r := range s.Replicas() {
		r.WakeIfLeaderDown(s.live)
		r.Tick()
	}
}

// live reports whether node was heard from within an election timeout
// (in ticks); this node always is.
func (s *Store) live(node uint64) bool {
	s.mu.RLock()
	self := s.mu.ident.GetNodeId()
	s.mu.RUnlock()
	if node == self {
		return true
	}
	election := int64(s.cfg.ElectionTick)
	if election == 0 {
		election = 10
	}
	s.heardMu.Lock()
	at, ok := s.heardTick[node]
	s.heardMu.Unlock()
	return ok && s.ticks.Load()-at <= election
}

// ProcessPending runs every replica with pending work, in range-ID order,
// until none is left or rounds run out (manual mode, for tests). It
// returns whether work remains.
func (s *Store) ProcessPending(rounds int) bool {
	for range rounds {
		ids := s.sched.takeAll()
		if len(ids) == 0 {
			return false
		}
		for _, id := range ids {
			s.process(id)
		}
	}
	s.sched.mu.Lock()
	defer s.sched.mu.Unlock()
	return len(s.sched.queue) > 0
}

func (s *Store) goFunc() func(func()) {
	if s.cfg.Go != nil {
		return s.cfg.Go
	}
	return s.goTracked
}

// goTracked runs f in a goroutine Close waits for.
func (s *Store) goTracked(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// fatal stops the Store for good: an engine write failed.
func (s *Store) fatal(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.err != nil {
		return
	}
	s.err = fmt.Errorf("store: stopped: %w", err)
	s.logger.Error("store: stopped by an engine error; no further write is acknowledged", "err", err)
	if !s.stopped {
		s.stopped = true
		close(s.done)
	}
}

// Err returns the sticky error that stopped the Store, or nil.
func (s *Store) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// ErrClosed is what requests get once the Store was closed.
var ErrClosed = errors.New("store: closed")

// stoppedErr is what a replica's requests fail with: the sticky error,
// or ErrClosed once Close began.
func (s *Store) stoppedErr() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.stopped {
		return ErrClosed
	}
	return nil
}

// Done is closed when the Store stops (an engine error, or Close).
func (s *Store) Done() <-chan struct{} { return s.done }

// Close stops the workers and the ticker, fails waiting requests, and
// closes the engine.
func (s *Store) Close() error {
	s.errMu.Lock()
	if !s.stopped {
		s.stopped = true
		close(s.done)
	}
	s.errMu.Unlock()
	select {
	case <-s.stopper:
		return nil // closed already
	default:
	}
	close(s.stopper)
	s.sched.close()
	for _, r := range s.Replicas() {
		r.Close(errors.New("node shutting down"))
	}
	s.wg.Wait()
	return s.db.Close()
}

// ReportUnreachable tells every replica with a member on node that the
// transport could not reach it.
func (s *Store) ReportUnreachable(node uint64) {
	for _, r := range s.Replicas() {
		r.ReportUnreachable(node)
	}
}

// HandleSnapshot receives a snapshot stream for one of this node's
// replicas (transport.Handler).
func (s *Store) HandleSnapshot(ctx context.Context, header *kvpb.SnapshotHeader, next func() (*kvpb.SnapshotChunk, error)) error {
	if err := s.Err(); err != nil {
		return err
	}
	rm := header.GetMessage()
	m := &raftpb.Message{}
	if err := proto.Unmarshal(rm.GetMessage(), m); err != nil {
		return fmt.Errorf("store: snapshot message: %w", err)
	}
	if m.GetType() != raftpb.MsgSnap || m.GetTo() == 0 || m.GetTo() != rm.GetTo().GetReplicaId() ||
		m.GetFrom() == 0 || m.GetFrom() != rm.GetFrom().GetReplicaId() || rm.GetRangeId() == 0 {
		return fmt.Errorf("store: snapshot header is not a MsgSnap between two replicas of a range")
	}
	r, err := s.replicaForMessage(rm.GetRangeId(), m.GetTo(), true)
	if err != nil {
		return err
	}
	if r == nil {
		return fmt.Errorf("store: node %d holds no replica %d of range %d", s.NodeID(), m.GetTo(), rm.GetRangeId())
	}
	s.LearnAddr(header.GetFromNodeId(), "")
	return r.ReceiveSnapshot(header, next)
}
