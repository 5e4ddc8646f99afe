package replica

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"

	"go.etcd.io/raft/v3"
)

// readRequest is one linearizable read waiting for its read index to be
// confirmed by a quorum and then applied here.
type readRequest struct {
	index uint64 // the read index, once raft returned it
	done  chan struct{}
	once  sync.Once
	err   error
}

func (rr *readRequest) finish(err error) {
	rr.once.Do(func() {
		rr.err = err
		close(rr.done)
	})
}

// ReadBarrierAsync queues a read barrier and returns at once.
func (r *Replica) ReadBarrierAsync() *Future {
	rr := &readRequest{done: make(chan struct{})}
	if err := r.enqueueRead(rr); err != nil {
		rr.finish(err)
	}
	return &Future{rr: rr}
}

func (r *Replica) enqueueRead(rr *readRequest) error {
	return r.admit(func() { r.mu.reads = append(r.mu.reads, rr) })
}

// ReadBarrier returns once this replica is the leader as of some moment
// after the call began (confirmed by a quorum through raft's ReadIndex)
// and has applied everything committed before that moment: a read of the
// engine that follows sees every write acknowledged before ReadBarrier
// was called. The error is an *Error (not leader, stopped) or ctx's.
// Reads are safe to retry.
func (r *Replica) ReadBarrier(ctx context.Context) error {
	rr := &readRequest{done: make(chan struct{})}
	if err := r.enqueueRead(rr); err != nil {
		return err
	}
	select {
	case <-rr.done:
		return rr.err
	case <-ctx.Done():
	}
	r.mu.Lock()
	r.mu.reads = slices.DeleteFunc(r.mu.reads, func(q *readRequest) bool { return q == rr })
	r.mu.waiting = slices.DeleteFunc(r.mu.waiting, func(q *readRequest) bool { return q == rr })
	for id, rs := range r.mu.readsByID {
		if rs = slices.DeleteFunc(rs, func(q *readRequest) bool { return q == rr }); len(rs) == 0 {
			delete(r.mu.readsByID, id)
		} else {
			r.mu.readsByID[id] = rs
		}
	}
	r.mu.Unlock()
	return ctx.Err()
}

// requestReads asks raft for one read index for every queued read.
// raftMu is held.
func (r *Replica) requestReads() {
	r.mu.Lock()
	reads := r.mu.reads
	r.mu.reads = nil
	var id string
	if len(reads) > 0 {
		r.mu.nextRead++
		id = string(binary.BigEndian.AppendUint64(nil, r.mu.nextRead))
		r.mu.readsByID[id] = reads
	}
	r.mu.Unlock()
	if len(reads) == 0 {
		return
	}
	bs := r.rn.BasicStatus()
	if bs.RaftState != raft.StateLeader {
		r.mu.Lock()
		delete(r.mu.readsByID, id)
		r.mu.Unlock()
		err := notLeaderError(r.cfg.RangeID, r.nodeOf(bs.Lead))
		for _, rr := range reads {
			rr.finish(err)
		}
		return
	}
	r.rn.ReadIndex([]byte(id))
}

// readStatesReady records the read indexes a Ready carries. raftMu is held.
func (r *Replica) readStatesReady(states []raft.ReadState) {
	if len(states) == 0 {
		return
	}
	r.mu.Lock()
	for _, rs := range states {
		reads := r.mu.readsByID[string(rs.RequestCtx)]
		delete(r.mu.readsByID, string(rs.RequestCtx))
		for _, rr := range reads {
			rr.index = rs.Index
			r.mu.waiting = append(r.mu.waiting, rr)
		}
	}
	r.mu.Unlock()
	r.finishReads()
}

// finishReads answers the reads whose index has been applied. raftMu is
// held.
func (r *Replica) finishReads() {
	applied := r.sm.appliedIndex()
	r.mu.Lock()
	var ready []*readRequest
	r.mu.waiting = slices.DeleteFunc(r.mu.waiting, func(rr *readRequest) bool {
		if rr.index <= applied {
			ready = append(ready, rr)
			return true
		}
		return false
	})
	r.mu.Unlock()
	for _, rr := range ready {
		rr.finish(nil)
	}
}

// failUnconfirmedReads answers the reads raft has not confirmed: this
// replica lost leadership. Reads already confirmed stay: their index was
// valid when the quorum answered. raftMu is held.
func (r *Replica) failUnconfirmedReads(lead uint64) {
	r.mu.Lock()
	byID := r.mu.readsByID
	r.mu.readsByID = make(map[string][]*readRequest)
	r.mu.Unlock()
	err := notLeaderError(r.cfg.RangeID, r.nodeOf(lead))
	for _, rs := range byID {
		for _, rr := range rs {
			rr.finish(err)
		}
	}
}
