package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/raftlog"
)

// stateMachine is the replicated state a replica applies commands to,
// beside the user keys in the engine: the applied state and the range's
// descriptor. It is guarded by raftMu.
type stateMachine struct {
	applied   *kvpb.AppliedState
	confState *raftpb.ConfState
	desc      *kvpb.RangeDescriptor
}

func (sm *stateMachine) appliedIndex() uint64 { return sm.applied.GetIndex() }

// load reads the applied state and descriptor of rangeID (absent for an
// uninitialized replica).
func (sm *stateMachine) load(r raftlog.Reader, rangeID uint64) error {
	as, err := raftlog.LoadAppliedState(r, rangeID)
	if err != nil {
		return err
	}
	sm.applied = as
	sm.confState = &raftpb.ConfState{}
	if as != nil {
		if err := proto.Unmarshal(as.GetConfState(), sm.confState); err != nil {
			return fmt.Errorf("%w: range %d: conf state in applied state: %v", dkv.ErrCorruption, rangeID, err)
		}
	}
	desc, err := LoadDescriptor(r, rangeID)
	if err != nil {
		return err
	}
	sm.desc = desc
	return nil
}

// LoadDescriptor reads the descriptor of rangeID, or nil when the range has
// none here.
func LoadDescriptor(r raftlog.Reader, rangeID uint64) (*kvpb.RangeDescriptor, error) {
	k := keys.RangeDescriptor(rangeID)
	v, err := r.Get(k)
	if errors.Is(err, dkv.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d := &kvpb.RangeDescriptor{}
	if err := proto.Unmarshal(v, d); err != nil {
		return nil, fmt.Errorf("%w: key %q: range descriptor: %v", dkv.ErrCorruption, k, err)
	}
	return d, nil
}

// overlay is an apply batch's view of the state: the batch's own pending
// writes first, then the engine. Entries applied together see each other.
type overlay struct {
	db      *dkv.DB
	pending map[string][]byte // engine key → value; a nil value is a deletion
	set     map[string]bool
}

func (o *overlay) get(k []byte) ([]byte, bool, error) {
	if o.set[string(k)] {
		v := o.pending[string(k)]
		return v, v != nil, nil
	}
	v, err := o.db.Get(k)
	if errors.Is(err, dkv.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

func (o *overlay) put(b *dkv.Batch, k, v []byte) error {
	if v == nil {
		v = []byte{}
	}
	o.pending[string(k)], o.set[string(k)] = v, true
	return b.Put(k, v)
}

// getProto decodes the value under k into m; false when there is none. A
// value that does not decode is corruption, named with what it should be.
func (o *overlay) getProto(k []byte, m proto.Message, what string) (bool, error) {
	v, found, err := o.get(k)
	if err != nil || !found {
		return false, err
	}
	if err := proto.Unmarshal(v, m); err != nil {
		return false, fmt.Errorf("%w: key %q: %s: %v", dkv.ErrCorruption, k, what, err)
	}
	return true, nil
}

func (o *overlay) putProto(b *dkv.Batch, k []byte, m proto.Message) error {
	v, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	return o.put(b, k, v)
}

func (o *overlay) del(b *dkv.Batch, k []byte) error {
	o.pending[string(k)], o.set[string(k)] = nil, true
	return b.Delete(k)
}

// applied is one entry's outcome for its proposer.
type appliedResult struct {
	id  uint64
	res Result
	err error
}

// applyEntries applies committed entries in order: their data, the range's
// descriptor when it changed, and the new applied state, in one engine
// batch. The batch is not synced (the entries are durable in the log).
// raftMu is held.
func (r *Replica) applyEntries(ents []*raftpb.Entry) error {
	if r.sm.applied == nil {
		// An uninitialized replica has nothing to apply entries to: raft
		// only commits entries here after a snapshot initialized it.
		return fmt.Errorf("replica: range %d: committed entries before initialization", r.cfg.RangeID)
	}
	b := r.cfg.DB.NewBatch()
	defer func() { b.Close() }()
	ov := &overlay{db: r.cfg.DB, pending: map[string][]byte{}, set: map[string]bool{}}
	var results []appliedResult
	removed := false
	descChanged := false
	// flush writes what the batch holds with the applied state so far.
	flush := func() error {
		cs, err := proto.Marshal(r.sm.confState)
		if err != nil {
			return err
		}
		r.sm.applied.ConfState = cs
		if err := putProto(b, keys.RangeAppliedState(r.cfg.RangeID), r.sm.applied); err != nil {
			return err
		}
		if descChanged {
			if err := putProto(b, keys.RangeDescriptor(r.cfg.RangeID), r.sm.desc); err != nil {
				return err
			}
		}
		if err := r.cfg.DB.Write(b, &dkv.WriteOptions{Sync: false}); err != nil {
			return fmt.Errorf("replica: range %d: apply through %d: %w", r.cfg.RangeID, r.sm.appliedIndex(), err)
		}
		b.Close()
		b = r.cfg.DB.NewBatch()
		ov = &overlay{db: r.cfg.DB, pending: map[string][]byte{}, set: map[string]bool{}}
		descChanged = false
		return nil
	}
	for _, e := range ents {
		if e.GetIndex() <= r.sm.appliedIndex() {
			continue // applied before a restart (or by a snapshot)
		}
		if r.cfg.OnApply != nil {
			r.cfg.OnApply(e)
		}
		switch e.GetType() {
		case raftpb.EntryNormal:
			if len(e.GetData()) == 0 {
				break // a new leader's empty entry
			}
			cmd := &kvpb.Command{}
			if err := proto.Unmarshal(e.GetData(), cmd); err != nil {
				return fmt.Errorf("%w: range %d: entry %d: command: %v", dkv.ErrCorruption, r.cfg.RangeID, e.GetIndex(), err)
			}
			if op := cmd.GetSplit(); op != nil {
				// A split counts the keys it moves from the engine and
				// writes its own batch: what came before it goes first.
				if err := flush(); err != nil {
					return err
				}
				res, rerr, err := r.applySplit(e, cmd.GetEpoch(), op)
				if err != nil {
					return err
				}
				results = append(results, appliedResult{id: cmd.GetId(), res: res, err: rerr})
				break
			}
			res, rerr, err := r.applyCommand(b, ov, cmd)
			if err != nil {
				return err
			}
			results = append(results, appliedResult{id: cmd.GetId(), res: res, err: rerr})
		case raftpb.EntryConfChange, raftpb.EntryConfChangeV2:
			id, res, rerr, self, err := r.applyConfChange(e)
			if err != nil {
				return err
			}
			descChanged = true
			removed = removed || self
			results = append(results, appliedResult{id: id, res: res, err: rerr})
		}
		r.sm.applied.Index = e.GetIndex()
		r.sm.applied.Term = e.GetTerm()
	}
	if err := flush(); err != nil {
		return err
	}
	r.storage.SetApplied(r.sm.appliedIndex(), r.sm.applied.GetTerm(), r.sm.confState)
	for _, ar := range results {
		if p := r.takeInflight(ar.id); p != nil {
			p.finish(ar.res, ar.err)
		}
	}
	if removed {
		r.markDestroyed()
	}
	return nil
}

// applyCommand applies one normal command. rerr is the command's refusal
// (the same on every replica: it changed nothing); err is an engine
// failure.
func (r *Replica) applyCommand(b *dkv.Batch, ov *overlay, cmd *kvpb.Command) (res Result, rerr, err error) {
	desc := r.sm.desc
	if e := cmd.GetEpoch(); e != nil && e.GetVersion() != desc.GetEpoch().GetVersion() {
		return Result{}, epochError(desc), nil
	}
	if k := commandKey(cmd); k != nil && !ContainsKey(desc, k) {
		return Result{}, keyNotInRangeError(k, desc), nil
	}
	switch op := cmd.GetOp().(type) {
	case *kvpb.Command_Put:
		err = r.write(b, ov, op.Put.GetKey(), op.Put.GetValue(), true)
	case *kvpb.Command_Delete:
		err = r.write(b, ov, op.Delete.GetKey(), nil, false)
	case *kvpb.Command_Cas:
		c := op.Cas
		var cur []byte
		var found bool
		cur, found, err = ov.get(keys.User(c.GetKey()))
		if err != nil {
			return Result{}, nil, err
		}
		match := (c.Old == nil && !found) || (c.Old != nil && found && bytes.Equal(cur, c.Old))
		if match {
			res.Swapped = true
			err = r.write(b, ov, c.GetKey(), c.New, c.New != nil)
		}
	case *kvpb.Command_AllocateRangeId:
		if !desc.GetPlacement() {
			return Result{}, &Error{Detail: &kvpb.Error{Message: fmt.Sprintf("range %d does not allocate range IDs (the placement group does)", desc.GetRangeId())}}, nil
		}
		res.RangeID, err = r.allocateRangeID(b, ov)
	case *kvpb.Command_Report:
		if !desc.GetPlacement() {
			return Result{}, &Error{Detail: &kvpb.Error{Message: fmt.Sprintf("range %d does not take reports (the placement group does)", desc.GetRangeId())}}, nil
		}
		err = r.applyReport(b, ov, op.Report)
	case *kvpb.Command_JoinNode:
		res.NodeID, err = r.applyJoin(b, ov, op.JoinNode)
		r.mu.Lock()
		r.mu.sysChanged = true
		r.mu.Unlock()
	default:
		return Result{}, &Error{Detail: &kvpb.Error{Message: "unknown command"}}, nil
	}
	return res, nil, err
}

// write sets (or, when !set, deletes) a user key and keeps the range's
// live byte and key counts.
func (r *Replica) write(b *dkv.Batch, ov *overlay, key, value []byte, set bool) error {
	k := keys.User(key)
	old, found, err := ov.get(k)
	if err != nil {
		return err
	}
	as := r.sm.applied
	if found {
		as.LiveKeys--
		as.LiveBytes -= int64(len(key) + len(old))
	}
	if !set {
		if !found {
			return nil
		}
		return ov.del(b, k)
	}
	as.LiveKeys++
	as.LiveBytes += int64(len(key) + len(value))
	return ov.put(b, k, value)
}

// allocateRangeID takes the next range ID (IDs are never reused).
func (r *Replica) allocateRangeID(b *dkv.Batch, ov *overlay) (uint64, error) {
	k := keys.RangeSystem(r.cfg.RangeID, SystemNextRange)
	v, found, err := ov.get(k)
	if err != nil {
		return 0, err
	}
	if !found || len(v) != 8 {
		return 0, fmt.Errorf("%w: range %d: system record %q missing or malformed", dkv.ErrCorruption, r.cfg.RangeID, k)
	}
	id := binary.BigEndian.Uint64(v)
	return id, ov.put(b, k, uint64Bytes(id+1))
}

// applyReport records a node's heartbeat (into its node record, which
// must exist) and the ranges it leads (each only if its descriptor is not
// older than the one recorded).
func (r *Replica) applyReport(b *dkv.Batch, ov *overlay, op *kvpb.ReportOp) error {
	now := op.GetNowUnixMs()
	if hb := op.GetHeartbeat(); hb.GetNodeId() != 0 {
		k := keys.RangeSystem(r.cfg.RangeID, NodeRecordName(hb.GetNodeId()))
		rec := &kvpb.NodeRecord{}
		found, err := ov.getProto(k, rec, "node record")
		if err != nil {
			return err
		}
		if found {
			rec.HeartbeatUnixMs = now
			rec.CapacityBytes, rec.AvailableBytes, rec.UsedBytes = hb.GetCapacityBytes(), hb.GetAvailableBytes(), hb.GetUsedBytes()
			rec.Replicas, rec.Leaders = hb.GetReplicas(), hb.GetLeaders()
			if err := ov.putProto(b, k, rec); err != nil {
				return err
			}
		}
	}
	for _, rr := range op.GetRanges() {
		d := rr.GetRange()
		if d.GetRangeId() == 0 || d.GetPlacement() {
			continue
		}
		k := keys.RangeSystem(r.cfg.RangeID, RangeRecordName(d.GetRangeId()))
		cur := &kvpb.RangeRecord{}
		found, err := ov.getProto(k, cur, "range record")
		if err != nil {
			return err
		}
		if found && OlderEpoch(d.GetEpoch(), cur.GetRange().GetEpoch()) {
			continue // a leader that lags: the record keeps the newer one
		}
		rec := proto.Clone(rr).(*kvpb.RangeRecord)
		rec.ReportedUnixMs = now
		if err := ov.putProto(b, k, rec); err != nil {
			return err
		}
	}
	return nil
}

// OlderEpoch reports whether epoch a is older than b: a lower version, or
// the same version and a lower conf_ver.
func OlderEpoch(a, b *kvpb.RangeEpoch) bool {
	if a.GetVersion() != b.GetVersion() {
		return a.GetVersion() < b.GetVersion()
	}
	return a.GetConfVer() < b.GetConfVer()
}

// applyJoin records a new node and allocates its ID.
func (r *Replica) applyJoin(b *dkv.Batch, ov *overlay, op *kvpb.JoinNodeOp) (uint64, error) {
	var tk []byte
	if op.GetJoinToken() != 0 {
		// A retried join (its answer was lost) gets the same ID.
		tk = keys.RangeSystem(r.cfg.RangeID, systemJoinPfx+string(uint64Bytes(op.GetJoinToken())))
		v, found, err := ov.get(tk)
		if err != nil {
			return 0, err
		}
		if found && len(v) == 8 {
			return binary.BigEndian.Uint64(v), nil
		}
	}
	nk := keys.RangeSystem(r.cfg.RangeID, SystemNextNode)
	v, found, err := ov.get(nk)
	if err != nil {
		return 0, err
	}
	if !found || len(v) != 8 {
		return 0, fmt.Errorf("%w: range %d: system record %q missing or malformed", dkv.ErrCorruption, r.cfg.RangeID, nk)
	}
	id := binary.BigEndian.Uint64(v)
	rec := &kvpb.NodeRecord{NodeId: id, Addr: op.GetAddr(), HttpAddr: op.GetHttpAddr()}
	if err := ov.putProto(b, keys.RangeSystem(r.cfg.RangeID, NodeRecordName(id)), rec); err != nil {
		return 0, err
	}
	if tk != nil {
		if err := ov.put(b, tk, uint64Bytes(id)); err != nil {
			return 0, err
		}
	}
	return id, ov.put(b, nk, binary.BigEndian.AppendUint64(nil, id+1))
}

// Names of the system records (docs/format/keys.md).
const (
	SystemNextNode  = "nextnode"
	SystemNextRange = "nextrange"
	SystemCluster   = "cluster"
	// SystemNodePrefix starts the name of every node record.
	SystemNodePrefix = "node/"
	// SystemRangePrefix starts the name of every range record.
	SystemRangePrefix = "range/"
	systemJoinPfx     = "jointoken/"
)

// RangeRecordName is the system record name of range id's record.
func RangeRecordName(id uint64) string {
	return SystemRangePrefix + string(binary.BigEndian.AppendUint64(nil, id))
}

// NodeRecordName is the system record name of node id.
func NodeRecordName(id uint64) string {
	return SystemNodePrefix + string(binary.BigEndian.AppendUint64(nil, id))
}

func putProto(b *dkv.Batch, k []byte, m proto.Message) error {
	v, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	return b.Put(k, v)
}

func uint64Bytes(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
