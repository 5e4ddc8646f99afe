package transport

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// Faults is the fault interposer: a model of a bad network between the
// nodes of a test cluster, shared by all of its transports and keyed by
// (from, to) node IDs. A transport applies it on the sending side, to each
// batch just before the batch goes on the wire and to each snapshot before
// it is dialed: a cut link drops silently (the stream stays up and no
// Unreachable is reported, as with a lossy network); a drop rate drops each
// message independently; a delay holds a whole batch back for a random
// time, so delayed batches may overtake each other.
//
// In SetDrop and SetDelay, node ID 0 stands for any node: a rule for the
// exact link wins over (from, any), which wins over (any, to), which wins
// over (any, any). Random choices come from one generator seeded by
// NewFaults; with concurrent senders their order, and so the outcome, is
// not reproducible, but a single caller of FilterBatch (a deterministic
// simulation) gets the same choices for the same seed.
//
// The zero Faults is not usable; a Faults is safe for concurrent use.
type Faults struct {
	mu       sync.Mutex
	rng      *rand.Rand
	cut      map[link]bool
	isolated map[uint64]bool
	drop     map[link]float64
	delay    map[link]delayRange

	messagesDropped  atomic.Uint64
	snapshotsDropped atomic.Uint64
}

type link struct{ from, to uint64 }

type delayRange struct{ min, max time.Duration }

// NewFaults returns a Faults with no fault set, its random choices seeded
// by seed.
func NewFaults(seed int64) *Faults {
	return &Faults{
		rng:      rand.New(rand.NewPCG(uint64(seed), 0x646b76)),
		cut:      make(map[link]bool),
		isolated: make(map[uint64]bool),
		drop:     make(map[link]float64),
		delay:    make(map[link]delayRange),
	}
}

// Partition cuts the link from → to: everything from sends to to is
// dropped; to → from is unaffected.
func (f *Faults) Partition(from, to uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cut[link{from, to}] = true
}

// PartitionBoth cuts both directions between a and b.
func (f *Faults) PartitionBoth(a, b uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cut[link{a, b}] = true
	f.cut[link{b, a}] = true
}

// Isolate cuts every link to and from node n, including those of nodes
// that join later.
func (f *Faults) Isolate(n uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.isolated[n] = true
}

// Heal removes every fault: partitions, isolations, drop rates and delays.
func (f *Faults) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.cut)
	clear(f.isolated)
	clear(f.drop)
	clear(f.delay)
}

// SetDrop makes the link from → to drop each message with probability p
// (clamped to [0, 1]; 0 removes the rule). A snapshot is dropped whole with
// the same probability.
func (f *Faults) SetDrop(from, to uint64, p float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p <= 0 {
		delete(f.drop, link{from, to})
		return
	}
	f.drop[link{from, to}] = min(p, 1)
}

// SetDelay holds each batch (and snapshot) on the link from → to back for
// a uniformly random time in [lo, hi] (a negative lo is taken as 0, hi
// below lo as lo; hi 0 removes the rule).
func (f *Faults) SetDelay(from, to uint64, lo, hi time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if hi <= 0 {
		delete(f.delay, link{from, to})
		return
	}
	lo = max(lo, 0)
	f.delay[link{from, to}] = delayRange{min: lo, max: max(lo, hi)}
}

// Dropped returns how many messages and snapshots the faults dropped, over
// every transport sharing f.
func (f *Faults) Dropped() (messages, snapshots uint64) {
	return f.messagesDropped.Load(), f.snapshotsDropped.Load()
}

// FilterBatch applies the faults of the link from → to to a batch: it
// returns the messages that survive, in order, and how long to hold them
// back (0: send now). msgs is not modified; the result may share its
// backing array.
func (f *Faults) FilterBatch(from, to uint64, msgs []*kvpb.RaftMessage) ([]*kvpb.RaftMessage, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cutLocked(from, to) {
		f.messagesDropped.Add(uint64(len(msgs)))
		return nil, 0
	}
	if p, ok := lookup(f.drop, from, to); ok {
		var kept []*kvpb.RaftMessage
		for i, m := range msgs {
			if f.rng.Float64() >= p {
				if kept != nil {
					kept = append(kept, m)
				}
				continue
			}
			if kept == nil {
				kept = append(make([]*kvpb.RaftMessage, 0, len(msgs)), msgs[:i]...)
			}
		}
		if kept != nil {
			f.messagesDropped.Add(uint64(len(msgs) - len(kept)))
			msgs = kept
		}
	}
	if len(msgs) == 0 {
		return nil, 0
	}
	return msgs, f.delayLocked(from, to)
}

// FilterSnapshot applies the faults of the link from → to to a snapshot:
// whether to drop it, and otherwise how long to hold it back.
func (f *Faults) FilterSnapshot(from, to uint64) (drop bool, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	drop = f.cutLocked(from, to)
	if p, ok := lookup(f.drop, from, to); ok && !drop {
		drop = f.rng.Float64() < p
	}
	if drop {
		f.snapshotsDropped.Add(1)
		return true, 0
	}
	return false, f.delayLocked(from, to)
}

func (f *Faults) cutLocked(from, to uint64) bool {
	return f.isolated[from] || f.isolated[to] || f.cut[link{from, to}]
}

func (f *Faults) delayLocked(from, to uint64) time.Duration {
	d, ok := lookup(f.delay, from, to)
	if !ok {
		return 0
	}
	return d.min + time.Duration(f.rng.Int64N(int64(d.max-d.min)+1))
}

// lookup finds the rule for from → to, the most specific first.
func lookup[V any](m map[link]V, from, to uint64) (V, bool) {
	for _, l := range [...]link{{from, to}, {from, 0}, {0, to}, {0, 0}} {
		if v, ok := m[l]; ok {
			return v, true
		}
	}
	var zero V
	return zero, false
}
