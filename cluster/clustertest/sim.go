package clustertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"math/rand/v2"
	"slices"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/replica"
	"github.com/distributedkv/dkv/cluster/store"
	"github.com/distributedkv/dkv/cluster/transport"
	"github.com/distributedkv/dkv/vfs"
)

// SimConfig configures a deterministic simulation.
type SimConfig struct {
	Seed           uint64
	Nodes          int     // members of the bootstrap; default 3
	DropRate       float64 // probability a batch is lost
	MaxDelay       int     // steps a batch may take beyond the next one
	StepsPerTick   int     // default 1
	LogTailEntries uint64  // default 10,000
}

// Sim runs several Stores in one goroutine over a simulated network and
// in-memory filesystems that can crash (lose what was not synced). Time is
// steps; every choice comes from the seed, so a run can be replayed.
type Sim struct {
	cfg   SimConfig
	rng   *rand.Rand
	Nodes []*SimNode
	step  int64
	seq   int64

	inflight []simBatch
	cut      map[[2]uint64]bool // one-way link cuts (from, to)
	work     []func()           // background work of the stores, run in order

	// applied[range, index] is the (term, hash) every replica must agree on.
	applied map[[2]uint64]appliedEntry
	leaders map[[2]uint64]uint64 // (range, term) → leader replica ID
	// versions[node, range] is the highest descriptor version the node's
	// replica showed since the node last started: it must never go back.
	versions map[[2]uint64]uint64
	failure  error

	// Stats counts what happened, so tests can show they exercised it.
	Stats SimStats
}

// SimStats counts a simulation's events.
type SimStats struct {
	Crashes, Restarts, SnapshotsSent, SnapshotsFailed, Batches, Dropped int
	// RaftMessages counts messages of ranges sent (node pings, which
	// carry none, are not counted).
	RaftMessages int
}

type appliedEntry struct {
	term uint64
	hash uint64
	node uint64
}

// SimNode is one simulated node.
type SimNode struct {
	ID    uint64
	FS    *vfs.MemFS
	Store *store.Store
	Up    bool
	sim   *Sim
}

type simBatch struct {
	at       int64
	seq      int64
	from, to uint64
	msgs     []*kvpb.RaftMessage
}

// NewSim bootstraps a cluster of cfg.Nodes simulated nodes.
func NewSim(cfg SimConfig) (*Sim, error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.StepsPerTick == 0 {
		cfg.StepsPerTick = 1
	}
	s := &Sim{
		cfg:      cfg,
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		cut:      map[[2]uint64]bool{},
		applied:  map[[2]uint64]appliedEntry{},
		leaders:  map[[2]uint64]uint64{},
		versions: map[[2]uint64]uint64{},
	}
	var members []*kvpb.NodeRecord
	for i := 1; i <= cfg.Nodes; i++ {
		members = append(members, &kvpb.NodeRecord{NodeId: uint64(i), Addr: fmt.Sprintf("sim:%d", i)})
	}
	clusterID := store.ClusterIDFor(members)
	for _, m := range members {
		n := &SimNode{ID: m.GetNodeId(), FS: vfs.NewMem(), sim: s}
		if err := n.open(); err != nil {
			return nil, err
		}
		if err := n.Store.Bootstrap(&kvpb.StoreIdent{ClusterId: clusterID, NodeId: n.ID, Addr: m.GetAddr(), AdvertiseAddr: m.GetAddr()}, members); err != nil {
			return nil, err
		}
		n.Store.Start(simSender{n})
		s.Nodes = append(s.Nodes, n)
	}
	return s, nil
}

func (n *SimNode) open() error {
	st, err := store.Open(store.Config{
		Dir:            "/node",
		FS:             n.FS,
		DBOptions:      &dkv.Options{MemTableSize: 256 << 10},
		LogTailEntries: n.sim.cfg.LogTailEntries,
		Go:             func(f func()) { n.sim.work = append(n.sim.work, f) },
		OnApply:        func(rangeID uint64, e *raftpb.Entry) { n.sim.recordApply(n.ID, rangeID, e) },
	})
	if err != nil {
		return err
	}
	n.Store, n.Up = st, true
	return nil
}

// Err returns the first invariant violation the simulation saw.
func (s *Sim) Err() error { return s.failure }

func (s *Sim) failf(format string, args ...any) {
	if s.failure == nil {
		s.failure = fmt.Errorf("sim seed %d step %d: %s", s.cfg.Seed, s.step, fmt.Sprintf(format, args...))
	}
}

func (s *Sim) recordApply(node, rangeID uint64, e *raftpb.Entry) {
	h := fnv.New64a()
	h.Write([]byte{byte(e.GetType())})
	h.Write(e.GetData())
	ae := appliedEntry{term: e.GetTerm(), hash: h.Sum64(), node: node}
	at := [2]uint64{rangeID, e.GetIndex()}
	if prev, ok := s.applied[at]; ok {
		if prev.term != ae.term || prev.hash != ae.hash {
			s.failf("range %d: node %d applied entry %d (term %d) unlike node %d (term %d)", rangeID, node, e.GetIndex(), ae.term, prev.node, prev.term)
		}
		return
	}
	s.applied[at] = ae
}

// Node returns the node with id.
func (s *Sim) Node(id uint64) *SimNode { return s.Nodes[id-1] }

// Step advances the simulation by one step: deliver the batches due, tick
// every few steps, run every store's pending work, run background work,
// check the invariants.
func (s *Sim) Step() {
	s.step++
	var due []simBatch
	s.inflight = slices.DeleteFunc(s.inflight, func(b simBatch) bool {
		if b.at <= s.step {
			due = append(due, b)
			return true
		}
		return false
	})
	slices.SortFunc(due, func(a, b simBatch) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return int(a.seq - b.seq)
	})
	for _, b := range due {
		n := s.Node(b.to)
		if !n.Up {
			continue
		}
		n.Store.HandleRaftBatch(&kvpb.RaftMessageBatch{FromNodeId: b.from, ToNodeId: b.to, Messages: b.msgs})
	}
	if s.step%int64(s.cfg.StepsPerTick) == 0 {
		for _, n := range s.Nodes {
			if n.Up {
				n.Store.Tick()
			}
		}
	}
	for range 3 {
		for _, n := range s.Nodes {
			if n.Up {
				n.Store.ProcessPending(4)
			}
		}
		work := s.work
		s.work = nil
		for _, f := range work {
			f()
		}
	}
	s.checkLeaders()
	s.checkRanges()
}

// checkRanges asserts that the newest descriptors tile the key space and
// that no node's descriptor of a range goes back to an older version
// while it runs.
func (s *Sim) checkRanges() {
	var end []byte
	for i, d := range s.RangeMap() {
		if (i == 0 && len(d.GetStartKey()) != 0) || (i > 0 && (len(end) == 0 || !bytes.Equal(d.GetStartKey(), end))) {
			s.failf("ranges do not tile the key space at range %d [%q, %q): previous end %q", d.GetRangeId(), d.GetStartKey(), d.GetEndKey(), end)
			return
		}
		end = d.GetEndKey()
	}
	if len(end) != 0 {
		s.failf("the last range ends at %q, not at the end of the key space", end)
	}
	for _, n := range s.Nodes {
		if !n.Up {
			continue
		}
		for _, r := range n.Store.Replicas() {
			d := r.Descriptor()
			if d == nil {
				continue
			}
			at := [2]uint64{n.ID, d.GetRangeId()}
			if v := d.GetEpoch().GetVersion(); v < s.versions[at] {
				s.failf("node %d: range %d's version went back from %d to %d", n.ID, d.GetRangeId(), s.versions[at], v)
			} else {
				s.versions[at] = v
			}
		}
	}
}

// checkLeaders asserts at most one leader per term.
func (s *Sim) checkLeaders() {
	for _, n := range s.Nodes {
		if !n.Up {
			continue
		}
		for _, r := range n.Store.Replicas() {
			st := r.Status()
			if st.RaftState != "StateLeader" {
				continue
			}
			at := [2]uint64{st.RangeID, st.Term}
			if l, ok := s.leaders[at]; ok && l != st.ReplicaID {
				s.failf("range %d: two leaders in term %d: replicas %d and %d", st.RangeID, st.Term, l, st.ReplicaID)
			}
			s.leaders[at] = st.ReplicaID
		}
	}
}

// Leader returns the node whose replica of the first user range leads, or nil.
func (s *Sim) Leader() *SimNode {
	var best *SimNode
	var term uint64
	for _, n := range s.Nodes {
		if !n.Up {
			continue
		}
		if r := n.Store.Replica(store.FirstUserRangeID); r != nil {
			if st := r.Status(); st.RaftState == "StateLeader" && st.Term >= term {
				best, term = n, st.Term
			}
		}
	}
	return best
}

// LeaderFor returns the node whose replica of key's range leads (as that
// replica believes), or nil.
func (s *Sim) LeaderFor(key []byte) (*SimNode, *replica.Replica) {
	var best *SimNode
	var br *replica.Replica
	var term uint64
	for _, n := range s.Nodes {
		if !n.Up {
			continue
		}
		r, err := n.Store.ReplicaForKey(key)
		if err != nil {
			continue
		}
		if st := r.Status(); st.RaftState == "StateLeader" && st.Term >= term {
			best, br, term = n, r, st.Term
		}
	}
	return best, br
}

// RangeMap returns the user ranges' newest descriptors among the nodes'
// replicas (the highest version, then conf_ver, of each range ID), in key
// order.
func (s *Sim) RangeMap() []*kvpb.RangeDescriptor {
	newest := map[uint64]*kvpb.RangeDescriptor{}
	for _, n := range s.Nodes {
		if !n.Up {
			continue
		}
		for _, r := range n.Store.Replicas() {
			d := r.Descriptor()
			if d == nil || d.GetPlacement() {
				continue
			}
			if cur := newest[d.GetRangeId()]; cur == nil || replica.OlderEpoch(cur.GetEpoch(), d.GetEpoch()) {
				newest[d.GetRangeId()] = d
			}
		}
	}
	out := slices.Collect(maps.Values(newest))
	slices.SortFunc(out, func(a, b *kvpb.RangeDescriptor) int { return bytes.Compare(a.GetStartKey(), b.GetStartKey()) })
	return out
}

// Partition cuts the link from → to (one way).
func (s *Sim) Partition(from, to uint64) { s.cut[[2]uint64{from, to}] = true }

// Isolate cuts every link to and from node.
func (s *Sim) Isolate(node uint64) {
	for _, n := range s.Nodes {
		if n.ID != node {
			s.Partition(node, n.ID)
			s.Partition(n.ID, node)
		}
	}
}

// Heal restores every link.
func (s *Sim) Heal() { clear(s.cut) }

// Crash stops node as a power loss would: what its filesystem had not
// synced is gone. Restart brings it back.
func (s *Sim) Crash(id uint64) {
	n := s.Node(id)
	if !n.Up {
		return
	}
	s.Stats.Crashes++
	// An untidy crash, as real ones are: of what was written since the
	// last sync, each file keeps a random prefix (with holes), and each
	// directory its durable or its live entries.
	crashed := n.FS.CrashClone(vfs.CrashOptions{Rand: rand.New(rand.NewPCG(s.rng.Uint64(), s.rng.Uint64())), Holes: true})
	n.Up = false
	_ = n.Store.Close()
	n.FS = crashed
	// What it had applied but not synced is gone: it applies it again.
	for at := range s.versions {
		if at[0] == id {
			delete(s.versions, at)
		}
	}
}

// Restart reopens a crashed node from its filesystem.
func (s *Sim) Restart(id uint64) error {
	n := s.Node(id)
	if n.Up {
		return nil
	}
	if err := n.open(); err != nil {
		return err
	}
	s.Stats.Restarts++
	n.Store.Start(simSender{n})
	return nil
}

// Close closes every node.
func (s *Sim) Close() {
	for _, n := range s.Nodes {
		if n.Up {
			_ = n.Store.Close()
			n.Up = false
		}
	}
}

// simSender is a node's way into the simulated network.
type simSender struct{ n *SimNode }

func (ss simSender) Send(to uint64, msgs []*kvpb.RaftMessage) bool {
	s := ss.n.sim
	if s.cut[[2]uint64{ss.n.ID, to}] || (s.cfg.DropRate > 0 && s.rng.Float64() < s.cfg.DropRate) {
		s.Stats.Dropped++
		return true // lost on the wire
	}
	s.Stats.Batches++
	for _, m := range msgs {
		if m.GetRangeId() != 0 {
			s.Stats.RaftMessages++
		}
	}
	delay := int64(1)
	if s.cfg.MaxDelay > 0 {
		delay += s.rng.Int64N(int64(s.cfg.MaxDelay) + 1)
	}
	cp := make([]*kvpb.RaftMessage, len(msgs))
	for i, m := range msgs {
		cp[i] = proto.Clone(m).(*kvpb.RaftMessage)
	}
	s.seq++
	s.inflight = append(s.inflight, simBatch{at: s.step + delay, seq: s.seq, from: ss.n.ID, to: to, msgs: cp})
	return true
}

func (ss simSender) SendSnapshot(ctx context.Context, to uint64, h *kvpb.SnapshotHeader, src transport.SnapshotSource) error {
	s := ss.n.sim
	if s.cut[[2]uint64{ss.n.ID, to}] {
		return errors.New("sim: link cut")
	}
	dst := s.Node(to)
	if !dst.Up {
		return errors.New("sim: node down")
	}
	var chunks []*kvpb.SnapshotChunk
	for {
		kvs, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		chunks = append(chunks, &kvpb.SnapshotChunk{Kvs: kvs})
	}
	i := 0
	next := func() (*kvpb.SnapshotChunk, error) {
		if i == len(chunks) {
			return nil, io.EOF
		}
		i++
		return chunks[i-1], nil
	}
	err := dst.Store.HandleSnapshot(ctx, proto.Clone(h).(*kvpb.SnapshotHeader), next)
	if err != nil {
		s.Stats.SnapshotsFailed++
	} else {
		s.Stats.SnapshotsSent++
	}
	return err
}

// UserData returns a node's user keys and values (every range's), for
// convergence checks.
func (n *SimNode) UserData() (map[string]string, error) {
	lo, hi := keys.UserSpan(nil, nil)
	it, err := n.Store.DB().NewIter(&dkv.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := map[string]string{}
	for ok := it.First(); ok; ok = it.Next() {
		out[string(bytes.Clone(it.Key()[1:]))] = string(it.Value())
	}
	return out, it.Error()
}

// Replica returns the node's replica of the first user range (nil if it has none or is
// down).
func (n *SimNode) Replica() *replica.Replica {
	if !n.Up {
		return nil
	}
	return n.Store.Replica(store.FirstUserRangeID)
}
