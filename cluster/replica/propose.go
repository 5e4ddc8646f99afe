package replica

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"slices"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// Result is what an applied command returns to its proposer.
type Result struct {
	Swapped    bool                  // CompareAndSwap: the value was replaced
	NodeID     uint64                // JoinNode: the new node's ID
	RangeID    uint64                // AllocateRangeID: the new range ID
	Descriptor *kvpb.RangeDescriptor // a membership change or a split: the descriptor after it
	Right      *kvpb.RangeDescriptor // a split: the new range's descriptor
}

// proposal is one command waiting to be proposed, committed and applied.
type proposal struct {
	id   uint64
	cmd  *kvpb.Command        // a normal entry, or
	cc   *raftpb.ConfChangeV2 // a membership change (cc.Context holds its kvpb.ConfChangeContext)
	ctx  *kvpb.ConfChangeContext
	done chan struct{}
	once sync.Once
	res  Result
	err  error
}

// newProposalID returns a random nonzero ID. It comes from crypto/rand so
// that deterministic tests (testing/cryptotest) replay the same IDs.
func newProposalID() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if id := binary.LittleEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

func (p *proposal) finish(res Result, err error) {
	p.once.Do(func() {
		p.res, p.err = res, err
		close(p.done)
	})
}

// Future is a request handed to a replica without waiting: Done is closed
// when it finished, then Result returns its outcome. Deterministic tests
// use it to drive replicas from one goroutine.
type Future struct {
	p  *proposal
	rr *readRequest
}

// Done is closed once the request finished.
func (f *Future) Done() <-chan struct{} {
	if f.p != nil {
		return f.p.done
	}
	return f.rr.done
}

// Result returns the request's outcome; call it after Done is closed.
func (f *Future) Result() (Result, error) {
	if f.p != nil {
		return f.p.res, f.p.err
	}
	return Result{}, f.rr.err
}

// ProposeAsync queues cmd for proposal and returns at once.
func (r *Replica) ProposeAsync(cmd *kvpb.Command) *Future {
	cmd.Id = newProposalID()
	p := &proposal{id: cmd.Id, cmd: cmd, done: make(chan struct{})}
	if err := r.enqueue(p); err != nil {
		p.finish(Result{}, err)
	}
	return &Future{p: p}
}

func (r *Replica) enqueue(p *proposal) error {
	return r.admit(func() { r.mu.queued = append(r.mu.queued, p) })
}

// admit queues a request with add (called under r.mu) and schedules the
// replica, unless the Store stopped or the replica was removed.
func (r *Replica) admit(add func()) error {
	if err := r.cfg.Stopped(); err != nil {
		return stoppedError(err)
	}
	r.mu.Lock()
	if r.mu.destroyed {
		r.mu.Unlock()
		return rangeNotFoundError(r.cfg.RangeID)
	}
	add()
	r.mu.quiesced = false // a request wakes the range
	r.mu.quiesceFrom = 0
	r.mu.Unlock()
	r.cfg.Schedule()
	return nil
}

// Propose proposes cmd (its ID is assigned here) and waits until it is
// applied, fails, or ctx is done. The error is an *Error (not leader, epoch,
// key not in range, ambiguous, stopped) or, when ctx ended before the
// command was handed to raft, ctx's error: then it was certainly not
// applied. After it was handed to raft, ctx's end returns an ambiguous
// *Error.
func (r *Replica) Propose(ctx context.Context, cmd *kvpb.Command) (Result, error) {
	cmd.Id = newProposalID()
	return r.propose(ctx, &proposal{id: cmd.Id, cmd: cmd, done: make(chan struct{})})
}

func (r *Replica) propose(ctx context.Context, p *proposal) (Result, error) {
	if err := r.enqueue(p); err != nil {
		return Result{}, err
	}
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
	}
	r.mu.Lock()
	if i := slices.Index(r.mu.queued, p); i >= 0 {
		r.mu.queued = slices.Delete(r.mu.queued, i, i+1)
		r.mu.Unlock()
		return Result{}, ctx.Err()
	}
	delete(r.mu.inflight, p.id)
	r.mu.Unlock()
	select {
	case <-p.done: // it finished meanwhile
		return p.res, p.err
	default:
	}
	return Result{}, ambiguousError("range %d: %v before the command was known to be applied", r.cfg.RangeID, ctx.Err())
}

// proposeQueued hands the queued proposals to raft. raftMu is held.
func (r *Replica) proposeQueued() {
	r.mu.Lock()
	queued := r.mu.queued
	r.mu.queued = nil
	r.mu.Unlock()
	if len(queued) == 0 {
		return
	}
	bs := r.rn.BasicStatus()
	for _, p := range queued {
		if bs.RaftState != raft.StateLeader {
			p.finish(Result{}, notLeaderError(r.cfg.RangeID, r.nodeOf(bs.Lead)))
			continue
		}
		if err := r.checkProposal(p); err != nil {
			p.finish(Result{}, err)
			continue
		}
		if p.cmd != nil && p.cmd.Epoch == nil {
			// Checked again at apply: a command proposed under a
			// descriptor that changed meanwhile (a split) is refused.
			p.cmd.Epoch = proto.Clone(r.sm.desc.GetEpoch()).(*kvpb.RangeEpoch)
		}
		var err error
		if p.cc != nil {
			err = r.rn.ProposeConfChange(p.cc)
		} else {
			var data []byte
			data, err = proto.Marshal(p.cmd)
			if err == nil {
				err = r.rn.Propose(data)
			}
		}
		if err != nil {
			if errors.Is(err, raft.ErrProposalDropped) {
				// Not proposed (a leadership transfer, the uncommitted
				// limit): NotLeader without a hint sends the client
				// elsewhere, then back.
				lead := r.rn.BasicStatus().Lead
				if lead == r.cfg.ReplicaID {
					lead = 0
				}
				p.finish(Result{}, notLeaderError(r.cfg.RangeID, r.nodeOf(lead)))
			} else {
				p.finish(Result{}, &Error{Detail: &kvpb.Error{Message: err.Error()}})
			}
			continue
		}
		r.mu.Lock()
		r.mu.inflight[p.id] = p
		r.mu.Unlock()
		if p.cc != nil {
			r.ccProposed = append(r.ccProposed, p)
		}
	}
}

// checkDroppedConfChanges finishes the membership changes raft refused
// silently. raft does not return an error for a conf change it will not
// take (one is pending, as after every election, or the group is joint):
// it appends an empty entry in its place. The changes proposed in a round
// are among the entries of the Ready that follows it, or nowhere; the ones
// not there were not proposed and may be tried again. raftMu is held.
func (r *Replica) checkDroppedConfChanges(ents []*raftpb.Entry) {
	if len(r.ccProposed) == 0 {
		return
	}
	proposed := r.ccProposed
	r.ccProposed = nil
	found := map[uint64]bool{}
	for _, e := range ents {
		if e.GetType() != raftpb.EntryConfChangeV2 {
			continue
		}
		cc := &raftpb.ConfChangeV2{}
		cctx := &kvpb.ConfChangeContext{}
		if proto.Unmarshal(e.GetData(), cc) == nil && proto.Unmarshal(cc.GetContext(), cctx) == nil {
			found[cctx.GetId()] = true
		}
	}
	for _, p := range proposed {
		if found[p.id] {
			continue
		}
		r.mu.Lock()
		delete(r.mu.inflight, p.id)
		r.mu.Unlock()
		p.finish(Result{}, retryError("range %d: raft did not take the membership change (another is pending); retry", r.cfg.RangeID))
	}
}

// checkProposal refuses at the door what apply would refuse: a command for
// a key outside the range or with a stale epoch, a membership change
// while another is in flight or the group is joint. raftMu is held.
func (r *Replica) checkProposal(p *proposal) *Error {
	desc := r.sm.desc
	if desc == nil {
		return notLeaderError(r.cfg.RangeID, 0)
	}
	if p.cc != nil {
		if p.ctx.GetEpoch().GetConfVer() != desc.GetEpoch().GetConfVer() {
			return epochError(desc)
		}
		if len(r.sm.confState.GetVotersOutgoing()) > 0 {
			return retryError("range %d is in a joint configuration; retry", r.cfg.RangeID)
		}
		r.mu.Lock()
		busy := false
		for _, q := range r.mu.inflight {
			busy = busy || q.cc != nil
		}
		r.mu.Unlock()
		if busy {
			return retryError("range %d has a membership change in flight; retry", r.cfg.RangeID)
		}
		if err := validateConfChange(r.sm.confState, p.cc); err != nil {
			return &Error{Detail: &kvpb.Error{Message: "invalid membership change: " + err.Error()}}
		}
		return nil
	}
	if op := p.cmd.GetSplit(); op != nil {
		return r.checkSplit(p.cmd.GetEpoch(), op)
	}
	if e := p.cmd.GetEpoch(); e != nil && e.GetVersion() != desc.GetEpoch().GetVersion() {
		return epochError(desc)
	}
	if k := commandKey(p.cmd); k != nil && !ContainsKey(desc, k) {
		return keyNotInRangeError(k, desc)
	}
	return nil
}

// failInflight answers every proposed command ambiguous: leadership was
// lost with them in flight. raftMu is held.
func (r *Replica) failInflight() {
	r.mu.Lock()
	inflight := r.mu.inflight
	r.mu.inflight = make(map[uint64]*proposal)
	r.mu.Unlock()
	for _, p := range inflight {
		p.finish(Result{}, ambiguousError("range %d: leadership lost before the command was known to be applied", r.cfg.RangeID))
	}
}

// takeInflight removes and returns the proposal with id, if this replica
// proposed it.
func (r *Replica) takeInflight(id uint64) *proposal {
	if id == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.mu.inflight[id]
	delete(r.mu.inflight, id)
	return p
}

func commandKey(cmd *kvpb.Command) []byte {
	switch op := cmd.GetOp().(type) {
	case *kvpb.Command_Put:
		return op.Put.GetKey()
	case *kvpb.Command_Delete:
		return op.Delete.GetKey()
	case *kvpb.Command_Cas:
		return op.Cas.GetKey()
	}
	return nil
}
