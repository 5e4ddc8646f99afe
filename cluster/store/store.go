package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/replica"
	"github.com/distributedkv/dkv/vfs"
)

// Config configures a Store.
type Config struct {
	Dir string
	FS  vfs.FS // default: the operating system's
	// DBOptions are the engine's options (FS is taken from Config.FS). nil:
	// the defaults.
	DBOptions *dkv.Options

	// TickInterval is the Raft tick. 0: no ticker (tests call Tick).
	TickInterval time.Duration
	// Workers process replicas with pending work. 0: none (tests call
	// ProcessPending).
	Workers int

	// Go runs background work of the replicas (snapshot sending). nil: a
	// goroutine Close waits for. Deterministic tests collect the work and
	// run it in their own order.
	Go func(f func())
	// OnApply, if set, sees every entry a replica applies (tests).
	OnApply func(rangeID uint64, e *raftpb.Entry)

	ElectionTick   int
	HeartbeatTick  int
	LogTailEntries uint64
	// DisableQuiesce keeps idle ranges ticking (for measuring what
	// quiescence saves).
	DisableQuiesce bool
	Logger         *slog.Logger
}

// Store is one node's replicas over one engine DB.
type Store struct {
	cfg    Config
	fs     vfs.FS
	db     *dkv.DB
	logger *slog.Logger
	sender replica.Sender

	mu struct {
		sync.RWMutex
		ident    *kvpb.StoreIdent
		replicas map[uint64]*replica.Replica
		addrs    map[uint64]string // node ID → advertised address, learned
		// stale: replicas a message for a newer replica ID of their
		// range found here, for their worker to remove.
		stale map[uint64]*replica.Replica
	}
	// lifecycle serializes creating and removing replicas.
	lifecycle sync.Mutex
	heardMu   sync.Mutex
	heard     map[uint64]time.Time // node ID → when a message from it last arrived
	heardTick map[uint64]int64     // node ID → the tick a message from it last arrived at
	ticks     atomic.Int64         // ticks since the Store opened
	// splitsOverUninit counts splits that took over an uninitialized
	// replica of their right side (split.go).
	splitsOverUninit atomic.Int64
	sched            scheduler

	errMu   sync.Mutex
	err     error
	done    chan struct{} // closed by fatal or Close
	stopped bool

	wg      sync.WaitGroup // workers, ticker, snapshot senders
	stopper chan struct{}
}

// ErrNotBootstrapped is returned by operations that need an identity on a
// store that has none yet.
var ErrNotBootstrapped = errors.New("store: directory has no cluster identity (bootstrap or join first)")

// Open opens the node's engine in cfg.Dir and loads its identity and
// replicas. The Store does nothing until Start.
func Open(cfg Config) (*Store, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	fs := cfg.FS
	if fs == nil {
		fs = vfs.Default
	}
	var opts dkv.Options
	if cfg.DBOptions != nil {
		opts = *cfg.DBOptions
	}
	opts.FS = fs
	db, err := dkv.Open(fs.PathJoin(cfg.Dir, "engine"), &opts)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, fs: fs, db: db, logger: cfg.Logger, done: make(chan struct{}), stopper: make(chan struct{})}
	s.mu.replicas = make(map[uint64]*replica.Replica)
	s.mu.addrs = make(map[uint64]string)
	s.mu.stale = make(map[uint64]*replica.Replica)
	s.heard = make(map[uint64]time.Time)
	s.heardTick = make(map[uint64]int64)
	s.sched.init()
	// Snapshot tables a crash or a refused snapshot left behind are of no
	// use: a snapshot is installed from a table and then removed.
	aux := fs.PathJoin(cfg.Dir, "aux")
	if names, err := fs.List(aux); err == nil {
		for _, name := range names {
			_ = fs.Remove(fs.PathJoin(aux, name))
		}
	}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// load reads the identity and creates a Replica for every range the
// engine holds range-ID keys of.
func (s *Store) load() error {
	v, err := s.db.Get(keys.StoreIdent)
	if errors.Is(err, dkv.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	ident := &kvpb.StoreIdent{}
	if err := proto.Unmarshal(v, ident); err != nil || ident.GetNodeId() == 0 {
		return fmt.Errorf("%w: key %q: store identity does not decode", dkv.ErrCorruption, keys.StoreIdent)
	}
	if ident.GetFormatVersion() != FormatVersion {
		return fmt.Errorf("store: %s holds cluster data in format version %d; this dkv reads version %d only (docs/format/keys.md): start a new directory",
			s.cfg.Dir, max(ident.GetFormatVersion(), 1), FormatVersion)
	}
	s.mu.ident = ident
	it, err := s.db.NewIter(&dkv.IterOptions{LowerBound: []byte{0x02}, UpperBound: []byte{0x03}})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; {
		k := it.Key()
		if len(k) < 9 {
			return fmt.Errorf("%w: key %q: short range-ID key", dkv.ErrCorruption, k)
		}
		rangeID := binary.BigEndian.Uint64(k[1:9])
		rid, err := s.db.Get(keys.RaftReplicaID(rangeID))
		switch {
		case err == nil:
			if len(rid) != 8 || binary.BigEndian.Uint64(rid) == 0 || rangeID == 0 {
				return fmt.Errorf("%w: key %q: replica ID %x of range %d", dkv.ErrCorruption, keys.RaftReplicaID(rangeID), rid, rangeID)
			}
			if _, err := s.addReplicaLocked(rangeID, binary.BigEndian.Uint64(rid)); err != nil {
				return err
			}
		case !errors.Is(err, dkv.ErrNotFound):
			return err
		}
		ok = it.SeekGE(keys.RangeIDPrefixEnd(rangeID))
	}
	if err := it.Error(); err != nil {
		return err
	}
	return s.refreshAddrs()
}

// ClusterIDFor derives a cluster's ID from its bootstrap members, so that
// every member computes the same one without talking.
func ClusterIDFor(members []*kvpb.NodeRecord) uint64 {
	ms := slices.Clone(members)
	sort.Slice(ms, func(i, j int) bool { return ms[i].GetNodeId() < ms[j].GetNodeId() })
	h := fnv.New64a()
	for _, m := range ms {
		fmt.Fprintf(h, "%d=%s;", m.GetNodeId(), m.GetAddr())
	}
	if id := h.Sum64(); id != 0 {
		return id
	}
	return 1
}

// Ident returns the node's identity, or nil before Bootstrap or Join.
func (s *Store) Ident() *kvpb.StoreIdent {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.ident == nil {
		return nil
	}
	return proto.Clone(s.mu.ident).(*kvpb.StoreIdent)
}

// NodeID returns the node's ID (0 before Bootstrap or Join).
func (s *Store) NodeID() uint64 { return s.Ident().GetNodeId() }

// DB returns the node's engine.
func (s *Store) DB() *dkv.DB { return s.db }

// The ranges every cluster starts with (docs/ranges.md).
const (
	// PlacementRangeID is the placement group's range: the system records
	// (nodes, ID allocators), no user keys.
	PlacementRangeID = 1
	// FirstUserRangeID is the range that holds the whole user key space
	// at bootstrap; splits cut it into more.
	FirstUserRangeID = 2
)

// FormatVersion is the version of the engine key layout this code writes
// (docs/format/keys.md). A directory of another version is refused.
const FormatVersion = 2

// Bootstrap writes the first state of a new cluster — range 1, the
// placement group with the system records, and range 2, the whole user
// key space, both replicated on every member — and this node's identity,
// in one synced batch. Every member runs it with the same members and so
// writes the same range state.
func (s *Store) Bootstrap(self *kvpb.StoreIdent, members []*kvpb.NodeRecord) error {
	if s.Ident() != nil {
		return fmt.Errorf("store: %s already belongs to cluster %x as node %d", s.cfg.Dir, s.Ident().GetClusterId(), s.NodeID())
	}
	var replicas []*kvpb.ReplicaDescriptor
	cs := &raftpb.ConfState{}
	var maxID uint64
	member := false
	for _, m := range members {
		replicas = append(replicas, &kvpb.ReplicaDescriptor{NodeId: m.GetNodeId(), ReplicaId: m.GetNodeId()})
		cs.Voters = append(cs.Voters, m.GetNodeId())
		maxID = max(maxID, m.GetNodeId())
		member = member || m.GetNodeId() == self.GetNodeId()
	}
	if !member {
		return fmt.Errorf("store: node %d is not among the bootstrap members", self.GetNodeId())
	}
	placement := &kvpb.RangeDescriptor{RangeId: PlacementRangeID, Epoch: &kvpb.RangeEpoch{ConfVer: 1, Version: 1},
		Replicas: replicas, NextReplicaId: maxID + 1, Placement: true}
	user := &kvpb.RangeDescriptor{RangeId: FirstUserRangeID, Epoch: &kvpb.RangeEpoch{ConfVer: 1, Version: 1},
		Replicas: replicas, NextReplicaId: maxID + 1}
	b := s.db.NewBatch()
	defer b.Close()
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	for _, d := range []*kvpb.RangeDescriptor{placement, user} {
		hs := &raftpb.HardState{Term: proto.Uint64(replica.InitialTerm), Commit: proto.Uint64(replica.InitialIndex)}
		if err := replica.WriteInitialRange(b, d, cs, hs, self.GetNodeId(), 0, 0); err != nil {
			return err
		}
	}
	put := func(name string, v []byte) error { return b.Put(keys.RangeSystem(PlacementRangeID, name), v) }
	if err := put(replica.SystemNextNode, u64(maxID+1)); err != nil {
		return err
	}
	if err := put(replica.SystemNextRange, u64(FirstUserRangeID+1)); err != nil {
		return err
	}
	if err := put(replica.SystemCluster, u64(self.GetClusterId())); err != nil {
		return err
	}
	for _, m := range members {
		v, err := proto.Marshal(m)
		if err != nil {
			return err
		}
		if err := put(replica.NodeRecordName(m.GetNodeId()), v); err != nil {
			return err
		}
	}
	self = proto.Clone(self).(*kvpb.StoreIdent)
	self.FormatVersion = FormatVersion
	if err := putProto(b, keys.StoreIdent, self); err != nil {
		return err
	}
	if err := s.db.Write(b, &dkv.WriteOptions{Sync: true}); err != nil {
		return err
	}
	s.mu.Lock()
	s.mu.ident = self
	var err error
	for _, id := range []uint64{PlacementRangeID, FirstUserRangeID} {
		if _, err = s.addReplicaLocked(id, self.GetNodeId()); err != nil {
			break
		}
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.refreshAddrs()
}

// InitJoined gives a new directory the identity a running cluster
// allocated to it (Admin.Join); the node starts with no replicas.
func (s *Store) InitJoined(self *kvpb.StoreIdent, nodes []*kvpb.NodeRecord) error {
	if s.Ident() != nil {
		return fmt.Errorf("store: %s already belongs to cluster %x as node %d", s.cfg.Dir, s.Ident().GetClusterId(), s.NodeID())
	}
	self = proto.Clone(self).(*kvpb.StoreIdent)
	self.FormatVersion = FormatVersion
	b := s.db.NewBatch()
	defer b.Close()
	if err := putProto(b, keys.StoreIdent, self); err != nil {
		return err
	}
	if err := s.db.Write(b, &dkv.WriteOptions{Sync: true}); err != nil {
		return err
	}
	s.mu.Lock()
	s.mu.ident = self
	for _, n := range nodes {
		s.mu.addrs[n.GetNodeId()] = n.GetAddr()
	}
	s.mu.Unlock()
	return nil
}

// UpdateIdent rewrites the node's identity (its addresses; never its IDs).
func (s *Store) UpdateIdent(self *kvpb.StoreIdent) error {
	cur := s.Ident()
	if cur == nil || cur.GetNodeId() != self.GetNodeId() || cur.GetClusterId() != self.GetClusterId() {
		return fmt.Errorf("store: cannot change the node's or cluster's ID")
	}
	self = proto.Clone(self).(*kvpb.StoreIdent)
	self.FormatVersion = FormatVersion
	b := s.db.NewBatch()
	defer b.Close()
	if err := putProto(b, keys.StoreIdent, self); err != nil {
		return err
	}
	if err := s.db.Write(b, &dkv.WriteOptions{Sync: true}); err != nil {
		return err
	}
	s.mu.Lock()
	s.mu.ident = self
	s.mu.Unlock()
	return nil
}

func putProto(b *dkv.Batch, k []byte, m proto.Message) error {
	v, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	return b.Put(k, v)
}

// Nodes returns the node records this node holds (the placement group's
// system records), in ID order.
func (s *Store) Nodes() ([]*kvpb.NodeRecord, error) {
	lo := keys.RangeSystem(PlacementRangeID, replica.SystemNodePrefix)
	hi := keys.RangeSystem(PlacementRangeID, "node0") // '0' follows '/': just past every record
	it, err := s.db.NewIter(&dkv.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []*kvpb.NodeRecord
	for ok := it.First(); ok; ok = it.Next() {
		n := &kvpb.NodeRecord{}
		if err := proto.Unmarshal(it.Value(), n); err != nil {
			return nil, fmt.Errorf("%w: key %q: node record: %v", dkv.ErrCorruption, it.Key(), err)
		}
		out = append(out, n)
	}
	return out, it.Error()
}

// refreshAddrs reloads the node addresses from the system records.
func (s *Store) refreshAddrs() error {
	nodes, err := s.Nodes()
	if err != nil {
		return err
	}
	s.mu.Lock()
	for _, n := range nodes {
		s.mu.addrs[n.GetNodeId()] = n.GetAddr()
	}
	s.mu.Unlock()
	return nil
}

// Resolve returns the advertised address of a node.
func (s *Store) Resolve(nodeID uint64) (string, bool) {
	s.mu.RLock()
	a, ok := s.mu.addrs[nodeID]
	s.mu.RUnlock()
	if ok {
		return a, true
	}
	_ = s.refreshAddrs()
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok = s.mu.addrs[nodeID]
	return a, ok
}

// LastHeard returns when a message from node last arrived (zero: never
// since this Store opened).
func (s *Store) LastHeard(node uint64) time.Time {
	s.heardMu.Lock()
	defer s.heardMu.Unlock()
	return s.heard[node]
}

// LearnAddr records a node's address (from a message it sent).
func (s *Store) LearnAddr(nodeID uint64, addr string) {
	if nodeID == 0 || addr == "" {
		return
	}
	s.mu.Lock()
	s.mu.addrs[nodeID] = addr
	s.mu.Unlock()
}
