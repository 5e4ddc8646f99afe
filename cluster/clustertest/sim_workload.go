package clustertest

import (
	"errors"
	"fmt"
	"time"

	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/replica"
	"github.com/distributedkv/dkv/cluster/store"
)

// SimWorkload drives clients against a Sim and records their history.
type SimWorkload struct {
	Sim     *Sim
	Clients int
	Keys    int
	History *History
	Timeout int // steps before an unfinished request is given up
	pending []*simOp
	counter int
	Acked   int
	Unknown int
	Refused int
	ReadsOK int
	Splits  int // splits applied
	applied int
	split   *simSplit // at most one split in flight
}

// simSplit is a split in flight: a range ID from the placement group,
// then the split proposed to the key's range's leader.
type simSplit struct {
	key   []byte
	start int64
	alloc *replica.Future
	split *replica.Future
}

// Split starts splitting the range holding key at key, unless a split is
// in flight or no placement leader is known. Like Issue, it only starts
// the work; Collect follows it.
func (w *SimWorkload) Split(key string) {
	s := w.Sim
	if w.split != nil {
		return
	}
	for _, n := range s.Nodes {
		if !n.Up {
			continue
		}
		r := n.Store.Replica(store.PlacementRangeID)
		if r == nil || r.Status().RaftState != "StateLeader" {
			continue
		}
		w.split = &simSplit{key: []byte(key), start: s.step,
			alloc: r.ProposeAsync(&kvpb.Command{Op: &kvpb.Command_AllocateRangeId{AllocateRangeId: &kvpb.AllocateRangeIDOp{}}})}
		return
	}
}

// collectSplit moves the split in flight on.
func (w *SimWorkload) collectSplit() {
	sp := w.split
	if sp == nil {
		return
	}
	if w.Sim.step-sp.start > int64(w.Timeout) {
		w.split = nil // given up (an allocated ID is simply skipped)
		return
	}
	if sp.split == nil {
		select {
		case <-sp.alloc.Done():
		default:
			return
		}
		res, err := sp.alloc.Result()
		_, r := w.Sim.LeaderFor(sp.key)
		if err != nil || r == nil {
			w.split = nil
			return
		}
		sp.split = r.ProposeAsync(&kvpb.Command{Op: &kvpb.Command_Split{Split: &kvpb.SplitOp{SplitKey: sp.key, NewRangeId: res.RangeID}}})
	}
	select {
	case <-sp.split.Done():
		if _, err := sp.split.Result(); err == nil {
			w.Splits++
		}
		w.split = nil
	default:
	}
}

type simOp struct {
	client int
	node   *SimNode
	op     *PendingOp
	in     Input
	fut    *replica.Future
	start  int64
	isRead bool
	r      *replica.Replica
	epoch  *kvpb.RangeEpoch // of the descriptor the request was routed with
}

// NewSimWorkload returns a workload of clients over keys.
func NewSimWorkload(s *Sim, clients, keys int) *SimWorkload {
	w := &SimWorkload{Sim: s, Clients: clients, Keys: keys, Timeout: 400}
	w.History = NewHistory(func() int64 { return s.step })
	return w
}

// busy reports whether client has a request outstanding.
func (w *SimWorkload) busy(c int) bool {
	for _, p := range w.pending {
		if p.client == c {
			return true
		}
	}
	return false
}

// Issue starts a request for every idle client (with probability p each).
func (w *SimWorkload) Issue(p float64) {
	s := w.Sim
	for c := range w.Clients {
		if w.busy(c) || s.rng.Float64() >= p {
			continue
		}
		// Clients mostly talk to the leader of the key's range, sometimes
		// to anyone (whose replica of the range it holds answers).
		key := fmt.Sprintf("k%d", s.rng.IntN(w.Keys))
		n, r := s.LeaderFor([]byte(key))
		if n == nil || s.rng.IntN(5) == 0 {
			n = s.Nodes[s.rng.IntN(len(s.Nodes))]
			if !n.Up {
				continue
			}
			var err error
			if r, err = n.Store.ReplicaForKey([]byte(key)); err != nil {
				continue
			}
		}
		w.counter++
		val := fmt.Sprintf("c%d-%d", c, w.counter)
		var in Input
		var cmd *kvpb.Command
		switch x := s.rng.IntN(10); {
		case x < 4:
			in = Input{Kind: OpGet, Key: key}
		case x < 7:
			in = Input{Kind: OpPut, Key: key, Value: val}
			cmd = &kvpb.Command{Op: &kvpb.Command_Put{Put: &kvpb.PutOp{Key: []byte(key), Value: []byte(val)}}}
		case x < 8:
			in = Input{Kind: OpDelete, Key: key}
			cmd = &kvpb.Command{Op: &kvpb.Command_Delete{Delete: &kvpb.DeleteOp{Key: []byte(key)}}}
		default:
			// CompareAndSwap from a value this client may have seen.
			var old *string
			if s.rng.IntN(3) > 0 {
				o := fmt.Sprintf("c%d-%d", s.rng.IntN(w.Clients), max(1, w.counter-s.rng.IntN(8)))
				old = &o
			}
			var nv *string
			if s.rng.IntN(5) > 0 {
				nv = &val
			}
			in = Input{Kind: OpCAS, Key: key, Old: old, New: nv}
			op := &kvpb.CompareAndSwapOp{Key: []byte(key)}
			if old != nil {
				op.Old = []byte(*old)
			}
			if nv != nil {
				op.New = []byte(*nv)
			}
			cmd = &kvpb.Command{Op: &kvpb.Command_Cas{Cas: op}}
		}
		so := &simOp{client: c, node: n, in: in, start: s.step, op: w.History.Call(c, in), r: r}
		if d := r.Descriptor(); d != nil {
			so.epoch = d.GetEpoch()
		}
		if in.Kind == OpGet {
			so.isRead = true
			so.fut = r.ReadBarrierAsync()
		} else {
			so.fut = r.ProposeAsync(cmd)
		}
		w.pending = append(w.pending, so)
	}
}

// Collect records every finished request; requests older than Timeout
// steps are given up (ambiguous writes, dropped reads).
func (w *SimWorkload) Collect() {
	s := w.Sim
	keep := w.pending[:0]
	for _, p := range w.pending {
		select {
		case <-p.fut.Done():
			w.finish(p)
			continue
		default:
		}
		if s.step-p.start > int64(w.Timeout) || !p.node.Up {
			if p.isRead {
				p.op.Drop()
			} else {
				p.op.ReturnUnknown()
				w.Unknown++
			}
			continue
		}
		keep = append(keep, p)
	}
	w.pending = keep
	w.collectSplit()
}

func (w *SimWorkload) finish(p *simOp) {
	res, err := p.fut.Result()
	if err != nil {
		var re *replica.Error
		if errors.As(err, &re) && !re.Ambiguous() || p.isRead {
			p.op.Drop() // refused before it was proposed, or a failed read
			w.Refused++
			return
		}
		p.op.ReturnUnknown()
		w.Unknown++
		return
	}
	if p.isRead {
		if !p.node.Up {
			p.op.Drop()
			return
		}
		// As Store.Get: after the barrier, the replica must still hold
		// the key under the epoch the read was routed with (a split may
		// have moved it to a range this replica does not lead).
		if err := p.r.CheckRead(p.epoch, []byte(p.in.Key)); err != nil || p.r.Destroyed() {
			p.op.Drop()
			w.Refused++
			return
		}
		v, found, err := readLocal(p.node, p.in.Key)
		if err != nil {
			p.op.Drop()
			return
		}
		p.op.Return(Output{Found: found, Value: v})
		w.ReadsOK++
		return
	}
	p.op.Return(Output{Swapped: res.Swapped})
	w.Acked++
}

// Drain gives every outstanding request up to steps to finish.
func (w *SimWorkload) Drain(steps int) {
	for i := 0; i < steps && len(w.pending) > 0; i++ {
		w.Sim.Step()
		w.Collect()
	}
	for _, p := range w.pending {
		if p.isRead {
			p.op.Drop()
		} else {
			p.op.ReturnUnknown()
			w.Unknown++
		}
	}
	w.pending = nil
}

// Check runs the linearizability check of the recorded history.
func (w *SimWorkload) Check(vizPath string) error {
	return w.History.CheckLinearizable(time.Minute, vizPath)
}
