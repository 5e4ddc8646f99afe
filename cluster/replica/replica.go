package replica

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/raftlog"
	"github.com/distributedkv/dkv/cluster/transport"
	"github.com/distributedkv/dkv/vfs"
)

// Sender is how a replica's messages leave the node: transport.Transport
// in a real node, a simulated network in tests.
type Sender interface {
	// Send queues msgs for node to; false means they were dropped.
	Send(to uint64, msgs []*kvpb.RaftMessage) bool
	// SendSnapshot streams a snapshot to node to and returns once it was
	// accepted or failed.
	SendSnapshot(ctx context.Context, to uint64, header *kvpb.SnapshotHeader, src transport.SnapshotSource) error
}

// Config is what a Replica needs from its Store.
type Config struct {
	NodeID    uint64
	ClusterID uint64
	RangeID   uint64
	ReplicaID uint64

	DB     *dkv.DB
	FS     vfs.FS // the engine's filesystem (for snapshot tables)
	AuxDir string // a directory of FS for incoming snapshot tables

	Sender Sender

	// Schedule asks the Store to call Process soon. It must not block.
	Schedule func()
	// Fatal stops the Store: an engine write failed (sticky).
	Fatal func(error)
	// Stopped returns the Store's sticky error, or nil while it runs.
	Stopped func() error
	// Go runs f in a new goroutine the Store tracks (snapshot sending).
	Go func(f func())

	// OnApply, if set, sees every committed entry as it is applied, in
	// order (tests check that replicas apply the same sequence).
	OnApply func(e *raftpb.Entry)

	// Split is how a split this replica applies creates the new range on
	// the node (the Store; docs/ranges.md). It decides whether this node
	// hosts the new range and calls write exactly once with that decision
	// and, when an uninitialized replica of the new range was here, its
	// HardState; write builds and writes the split's one batch. The Store
	// registers the new replica after write returns. nil: splits are
	// refused.
	Split func(a SplitArgs, write func(create bool, prior *raftpb.HardState) error) error
	// Overlaps reports whether a range with desc would overlap another
	// initialized replica on this node (a snapshot that does is not
	// taken). nil: never.
	Overlaps func(desc *kvpb.RangeDescriptor) bool
	// Live reports whether a node has been heard from lately (the Store's
	// node heartbeats). A leader quiesces its idle range only while every
	// follower's node is live. nil: ranges never quiesce.
	Live func(node uint64) bool

	ElectionTick   int    // default 10
	HeartbeatTick  int    // default 1
	LogTailEntries uint64 // entries kept behind the applied index; default 10,000
	Logger         *slog.Logger
}

func (c *Config) ensureDefaults() {
	if c.ElectionTick == 0 {
		c.ElectionTick = 10
	}
	if c.HeartbeatTick == 0 {
		c.HeartbeatTick = 1
	}
	if c.LogTailEntries == 0 {
		c.LogTailEntries = 10000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Go == nil {
		c.Go = func(f func()) { go f() }
	}
}

// Replica is this node's member of one range's Raft group. See the package
// documentation for its loop and its concurrency rules.
type Replica struct {
	cfg Config

	// raftMu is held by Process: it guards the RawNode, the storage's
	// writes and the state machine below.
	raftMu  sync.Mutex
	rn      *raft.RawNode
	storage *raftlog.Storage
	sm      stateMachine // applied state, descriptor (under raftMu)
	wasLead bool
	// confIndex is, on a leader, the index of the newest conf change in
	// its log (at least the last index when it won the election): until
	// it is applied, every commit-only MsgApp is sent (ready.go).
	confIndex uint64
	// deferred holds, on a leader, the newest empty MsgApp per follower
	// held back (ready.go, deferrable): a later MsgApp to that follower
	// replaces it, else the next tick sends it.
	deferred map[uint64]*raftpb.Message
	lastLog  uint64 // log entries since the last truncation check
	// idleTicks counts, on a leader, tick rounds in a row with nothing to
	// do (quiesce.go).
	idleTicks int
	load      load // requests served, for splits by load (load.go)
	// ccProposed are the membership changes handed to raft in this round
	// (checkDroppedConfChanges).
	ccProposed []*proposal

	mu struct {
		sync.Mutex
		inbox     []*raftpb.Message
		ticks     int
		queued    []*proposal          // not yet handed to raft
		inflight  map[uint64]*proposal // proposed, waiting for apply, by ID
		reads     []*readRequest       // not yet handed to raft
		readsByID map[string][]*readRequest
		waiting   []*readRequest // have a read index, wait for apply
		reports   []report
		transfer  uint64                       // replica ID to hand leadership to
		snaps     map[uint64]*incomingSnapshot // received and stepped, by index; not yet installed
		sending   map[uint64]bool              // replica IDs a snapshot is being sent to
		peers     map[uint64]uint64            // replica ID → node ID, learned from messages
		status    Status
		destroyed bool
		// sysChanged: a system record (a node joined) was applied since
		// the last TakeSystemChanged.
		sysChanged bool
		// campaign: start an election at the next Process (the right
		// side of a split on the node that led the left).
		campaign bool
		// quiesced: the range is idle; ticks are skipped until a message
		// (other than a heartbeat response) or a request arrives, or the
		// leader's node stops being live (quiesce.go).
		quiesced bool
		// quiesceFrom: a leader's quiescing heartbeat came from this
		// replica ID, to be acted on after it is stepped.
		quiesceFrom uint64
		nextRead    uint64
	}
}

// Status is a replica's published state, updated after every Ready.
type Status struct {
	RangeID    uint64
	ReplicaID  uint64
	Term       uint64
	Commit     uint64
	Applied    uint64
	Lead       uint64 // replica ID of the leader, 0 if unknown
	LeadNode   uint64 // node of the leader, 0 if unknown
	RaftState  string
	Descriptor *kvpb.RangeDescriptor // nil until initialized
	LiveBytes  int64
	LiveKeys   int64
	FirstIndex uint64
	LastIndex  uint64
	Quiesced   bool
}

type report struct {
	to          uint64
	unreachable bool
	snapFailed  bool
	snapDone    bool
}

// New opens the replica of cfg.RangeID on this node from the engine: an
// initialized replica (with a descriptor) or an uninitialized one (a vote
// and perhaps a HardState, waiting for a snapshot).
func New(cfg Config) (*Replica, error) {
	cfg.ensureDefaults()
	r := &Replica{cfg: cfg}
	r.mu.inflight = make(map[uint64]*proposal)
	r.mu.readsByID = make(map[string][]*readRequest)
	r.mu.sending = make(map[uint64]bool)
	r.mu.peers = make(map[uint64]uint64)
	r.mu.snaps = make(map[uint64]*incomingSnapshot)
	st, err := raftlog.Open(cfg.DB, cfg.RangeID)
	if err != nil {
		return nil, err
	}
	r.storage = st
	if err := r.sm.load(cfg.DB, cfg.RangeID); err != nil {
		return nil, err
	}
	if r.sm.applied != nil {
		r.storage.SetApplied(r.sm.applied.GetIndex(), r.sm.applied.GetTerm(), r.sm.confState)
	}
	rc := &raft.Config{
		ID:                        cfg.ReplicaID,
		ElectionTick:              cfg.ElectionTick,
		HeartbeatTick:             cfg.HeartbeatTick,
		Storage:                   st,
		Applied:                   r.sm.appliedIndex(),
		MaxSizePerMsg:             1 << 20,
		MaxCommittedSizePerReady:  16 << 20,
		MaxUncommittedEntriesSize: 64 << 20,
		MaxInflightMsgs:           256,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		DisableProposalForwarding: true,
		StepDownOnRemoval:         true,
		Logger:                    raftLogger{l: cfg.Logger.With("range", cfg.RangeID, "replica", cfg.ReplicaID)},
	}
	rn, err := raft.NewRawNode(rc)
	if err != nil {
		return nil, fmt.Errorf("replica: range %d: %w", cfg.RangeID, err)
	}
	r.rn = rn
	r.publishStatus()
	return r, nil
}

// RangeID returns the range this replica belongs to.
func (r *Replica) RangeID() uint64 { return r.cfg.RangeID }

// ReplicaID returns this replica's Raft ID.
func (r *Replica) ReplicaID() uint64 { return r.cfg.ReplicaID }

// Status returns the replica's state as of its last Ready.
func (r *Replica) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.mu.status
	if s.Descriptor != nil {
		s.Descriptor = proto.Clone(s.Descriptor).(*kvpb.RangeDescriptor)
	}
	return s
}

// Descriptor returns the range's descriptor, or nil while the replica is
// uninitialized. It is shared: the caller must not change it.
func (r *Replica) Descriptor() *kvpb.RangeDescriptor {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.status.Descriptor
}

// TakeSystemChanged reports whether a system record (the node table) was
// applied since the last call, and clears the flag.
func (r *Replica) TakeSystemChanged() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.mu.sysChanged
	r.mu.sysChanged = false
	return c
}

// Destroyed reports whether the replica was removed from its range.
func (r *Replica) Destroyed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.destroyed
}

// SplitArgs describes the new range a split creates, for Config.Split.
type SplitArgs struct {
	Right     *kvpb.RangeDescriptor
	ReplicaID uint64 // this node's replica of the new range
	// Lead: this node's replica of the left side leads, so the right
	// side's replica here campaigns at once.
	Lead bool
}

// Campaign asks the replica to start an election at its next Process.
func (r *Replica) Campaign() {
	r.mu.Lock()
	r.mu.campaign = true
	r.mu.Unlock()
	r.cfg.Schedule()
}

// Tick queues one tick of the replica's logical clock, unless the range
// is quiesced.
func (r *Replica) Tick() {
	r.mu.Lock()
	if r.mu.quiesced {
		r.mu.Unlock()
		return
	}
	r.mu.ticks++
	r.mu.Unlock()
	r.cfg.Schedule()
}

// Step queues a message from a peer. from is the sender's descriptor (its
// node, so that replies can be routed before the descriptor names it).
// quiesce marks a leader's quiescing heartbeat; any other message but a
// heartbeat response wakes a quiesced replica.
func (r *Replica) Step(from *kvpb.ReplicaDescriptor, m *raftpb.Message, quiesce bool) {
	r.mu.Lock()
	if from != nil && from.GetReplicaId() != 0 {
		r.mu.peers[from.GetReplicaId()] = from.GetNodeId()
	}
	switch {
	case quiesce:
		r.mu.quiesceFrom = m.GetFrom()
	case m.GetType() != raftpb.MsgHeartbeatResp:
		r.mu.quiesced = false
		r.mu.quiesceFrom = 0
	}
	r.mu.inbox = append(r.mu.inbox, m)
	r.mu.Unlock()
	r.cfg.Schedule()
}

// ReportUnreachable queues the news that node's transport failed: every
// replica on that node is reported to raft.
func (r *Replica) ReportUnreachable(node uint64) {
	r.mu.Lock()
	var ids []uint64
	if d := r.mu.status.Descriptor; d != nil {
		for _, rd := range d.GetReplicas() {
			if rd.GetNodeId() == node && rd.GetReplicaId() != r.cfg.ReplicaID {
				ids = append(ids, rd.GetReplicaId())
			}
		}
	}
	for _, id := range ids {
		r.mu.reports = append(r.mu.reports, report{to: id, unreachable: true})
	}
	r.mu.Unlock()
	if len(ids) > 0 {
		r.cfg.Schedule()
	}
}

// nodeOf returns the node of a replica ID of this range.
func (r *Replica) nodeOf(replicaID uint64) uint64 {
	for _, rd := range r.sm.desc.GetReplicas() {
		if rd.GetReplicaId() == replicaID {
			return rd.GetNodeId()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.peers[replicaID]
}

// publishStatus copies the RawNode's state where status readers see it.
// raftMu is held (or the replica is being built).
func (r *Replica) publishStatus() {
	bs := r.rn.BasicStatus()
	s := Status{
		RangeID:   r.cfg.RangeID,
		ReplicaID: r.cfg.ReplicaID,
		Term:      bs.HardState.GetTerm(),
		Commit:    bs.HardState.GetCommit(),
		Applied:   r.sm.appliedIndex(),
		Lead:      bs.Lead,
		RaftState: bs.RaftState.String(),
		LiveBytes: r.sm.applied.GetLiveBytes(),
		LiveKeys:  r.sm.applied.GetLiveKeys(),
	}
	if bs.Lead != 0 {
		s.LeadNode = r.nodeOf(bs.Lead)
	}
	// A descriptor is never changed once the state machine holds it (a
	// change makes a new one), so the status shares it; Status clones.
	s.Descriptor = r.sm.desc
	s.FirstIndex, _ = r.storage.FirstIndex()
	s.LastIndex, _ = r.storage.LastIndex()
	r.mu.Lock()
	s.Quiesced = r.mu.quiesced
	r.mu.status = s
	r.mu.Unlock()
}

// stop fails every waiting request; the Store is closing or stopped.
func (r *Replica) failAll(err *Error) {
	r.mu.Lock()
	queued, inflight := r.mu.queued, r.mu.inflight
	reads, waiting, byID := r.mu.reads, r.mu.waiting, r.mu.readsByID
	r.mu.queued, r.mu.reads, r.mu.waiting = nil, nil, nil
	r.mu.inflight = make(map[uint64]*proposal)
	r.mu.readsByID = make(map[string][]*readRequest)
	r.mu.Unlock()
	for _, p := range queued {
		p.finish(Result{}, err)
	}
	for _, p := range inflight {
		p.finish(Result{}, ambiguousError("%s", err.Detail.GetMessage()))
	}
	for _, rr := range reads {
		rr.finish(err)
	}
	for _, rr := range waiting {
		rr.finish(err)
	}
	for _, rs := range byID {
		for _, rr := range rs {
			rr.finish(err)
		}
	}
}

// Stop ends the replica for good: it waits for a Process in progress to
// finish, marks the replica destroyed (Process does nothing from then on)
// and fails its waiting requests. The Store calls it before deleting the
// replica's state.
func (r *Replica) Stop() {
	r.raftMu.Lock()
	r.mu.Lock()
	r.mu.destroyed = true
	r.mu.Unlock()
	r.raftMu.Unlock()
	r.failAll(rangeNotFoundError(r.cfg.RangeID))
}

// Close fails the replica's waiting requests: the Store is stopping.
func (r *Replica) Close(cause error) {
	r.failAll(stoppedError(cause))
}

// UserSpan returns the engine span of the range's user keys; nil, nil for
// the placement group, which holds none.
func UserSpan(desc *kvpb.RangeDescriptor) (lo, hi []byte) {
	if desc.GetPlacement() {
		return nil, nil
	}
	return keys.UserSpan(desc.GetStartKey(), desc.GetEndKey())
}

// ContainsKey reports whether the range holds user key k (the placement
// group holds none).
func ContainsKey(desc *kvpb.RangeDescriptor, k []byte) bool {
	if desc.GetPlacement() || string(k) < string(desc.GetStartKey()) {
		return false
	}
	return len(desc.GetEndKey()) == 0 || string(k) < string(desc.GetEndKey())
}

// raftLogger sends raft's warnings and errors to slog and drops the rest.
type raftLogger struct{ l *slog.Logger }

func (g raftLogger) Debug(v ...any)                 {}
func (g raftLogger) Debugf(format string, v ...any) {}
func (g raftLogger) Info(v ...any)                  {}
func (g raftLogger) Infof(format string, v ...any)  {}
func (g raftLogger) Warning(v ...any)               { g.l.Warn(fmt.Sprint(v...)) }
func (g raftLogger) Warningf(format string, v ...any) {
	g.l.Warn(fmt.Sprintf(format, v...))
}
func (g raftLogger) Error(v ...any)                 { g.l.Error(fmt.Sprint(v...)) }
func (g raftLogger) Errorf(format string, v ...any) { g.l.Error(fmt.Sprintf(format, v...)) }
func (g raftLogger) Fatal(v ...any)                 { panic(fmt.Sprint(v...)) }
func (g raftLogger) Fatalf(format string, v ...any) { panic(fmt.Sprintf(format, v...)) }
func (g raftLogger) Panic(v ...any)                 { panic(fmt.Sprint(v...)) }
func (g raftLogger) Panicf(format string, v ...any) { panic(fmt.Sprintf(format, v...)) }

// CheckRead checks, after a read barrier, that the replica still holds key
// under the epoch a request was routed with (nil: not checked).
func (r *Replica) CheckRead(epoch *kvpb.RangeEpoch, key []byte) error {
	d := r.Descriptor()
	if epoch != nil && epoch.GetVersion() != d.GetEpoch().GetVersion() {
		return epochError(d)
	}
	if !ContainsKey(d, key) {
		return keyNotInRangeError(key, d)
	}
	return nil
}
