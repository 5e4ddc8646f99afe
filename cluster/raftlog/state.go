package raftlog

import (
	"errors"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
)

// Reader is what reads need: *dkv.DB and *dkv.Snapshot both satisfy it.
type Reader interface {
	Get(key []byte) ([]byte, error)
	NewIter(o *dkv.IterOptions) (*dkv.Iterator, error)
}

// CorruptionError reports a value under a cluster key that does not decode
// as the message the key should hold, or that contradicts its key or the
// replica's other state (an entry whose index is not its key's, a log
// with a hole, a commit index past the log). errors.Is(err,
// dkv.ErrCorruption) is true for it. Nothing it names is returned as data.
type CorruptionError struct {
	Key    []byte // the engine key whose value failed the check
	Reason string // what check failed
	Err    error  // the decoder's error, if one failed; may be nil
}

// Error formats the error as "raftlog: corruption under KEY: REASON[: ERR]".
func (e *CorruptionError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("raftlog: corruption under key %q: %s: %v", e.Key, e.Reason, e.Err)
	}
	return fmt.Sprintf("raftlog: corruption under key %q: %s", e.Key, e.Reason)
}

// Is makes errors.Is(err, dkv.ErrCorruption) true.
func (e *CorruptionError) Is(target error) bool { return target == dkv.ErrCorruption }

// Unwrap returns the decoder's error.
func (e *CorruptionError) Unwrap() error { return e.Err }

func corruptf(key []byte, err error, format string, args ...any) error {
	return &CorruptionError{Key: append([]byte(nil), key...), Reason: fmt.Sprintf(format, args...), Err: err}
}

// ---- Log entries ----

// EncodeEntry returns the value stored under an entry's key: the entry,
// marshalled.
func EncodeEntry(e *raftpb.Entry) ([]byte, error) {
	v, err := proto.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("raftlog: encoding entry %d: %w", e.GetIndex(), err)
	}
	return v, nil
}

// DecodeEntry decodes the value stored under key, a log entry's key (see
// keys.RaftLog). The entry must decode, carry a term, and carry its key's
// index; otherwise the error is a *CorruptionError naming key. The
// returned entry does not alias value.
func DecodeEntry(key, value []byte) (*raftpb.Entry, error) {
	_, index, err := keys.DecodeRaftLog(key)
	if err != nil {
		return nil, corruptf(key, err, "not a log entry's key")
	}
	return decodeEntryAt(key, index, value)
}

// decodeEntryAt is DecodeEntry for a key already known to be the entry at
// index.
func decodeEntryAt(key []byte, index uint64, value []byte) (*raftpb.Entry, error) {
	e := new(raftpb.Entry)
	if err := proto.Unmarshal(value, e); err != nil {
		return nil, corruptf(key, err, "log entry does not decode")
	}
	if e.Index == nil || e.GetIndex() != index {
		return nil, corruptf(key, nil, "log entry holds index %d, not its key's %d", e.GetIndex(), index)
	}
	if e.GetTerm() == 0 {
		return nil, corruptf(key, nil, "log entry %d has term 0", index)
	}
	if _, ok := raftpb.EntryType_name[int32(e.GetType())]; !ok {
		return nil, corruptf(key, nil, "log entry %d has unknown type %d", index, e.GetType())
	}
	return e, nil
}

// ---- HardState ----

// EncodeHardState returns the value stored under keys.RaftHardState.
func EncodeHardState(hs *raftpb.HardState) ([]byte, error) {
	v, err := proto.Marshal(hs)
	if err != nil {
		return nil, fmt.Errorf("raftlog: encoding hard state: %w", err)
	}
	return v, nil
}

// DecodeHardState decodes the value stored under key (keys.RaftHardState);
// a value that does not decode is a *CorruptionError naming key.
func DecodeHardState(key, value []byte) (*raftpb.HardState, error) {
	hs := new(raftpb.HardState)
	if err := proto.Unmarshal(value, hs); err != nil {
		return nil, corruptf(key, err, "hard state does not decode")
	}
	return hs, nil
}

// LoadHardState reads a replica's HardState: an empty one (never nil) when
// none was written.
func LoadHardState(r Reader, rangeID uint64) (*raftpb.HardState, error) {
	key := keys.RaftHardState(rangeID)
	v, err := get(r, key)
	if v == nil || err != nil {
		return &raftpb.HardState{}, err
	}
	return DecodeHardState(key, v)
}

// ---- TruncatedState ----

// EncodeTruncatedState returns the value stored under
// keys.RaftTruncatedState.
func EncodeTruncatedState(t *kvpb.TruncatedState) ([]byte, error) {
	v, err := proto.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("raftlog: encoding truncated state: %w", err)
	}
	return v, nil
}

// DecodeTruncatedState decodes the value stored under key
// (keys.RaftTruncatedState). A value that does not decode, or names a
// non-zero index with term 0 (no entry past index 0 has term 0), is a
// *CorruptionError naming key.
func DecodeTruncatedState(key, value []byte) (*kvpb.TruncatedState, error) {
	t := new(kvpb.TruncatedState)
	if err := proto.Unmarshal(value, t); err != nil {
		return nil, corruptf(key, err, "truncated state does not decode")
	}
	if t.GetIndex() > 0 && t.GetTerm() == 0 {
		return nil, corruptf(key, nil, "truncated state at index %d has term 0", t.GetIndex())
	}
	return t, nil
}

// LoadTruncatedState reads a replica's TruncatedState: {0, 0} (never nil)
// when none was written.
func LoadTruncatedState(r Reader, rangeID uint64) (*kvpb.TruncatedState, error) {
	key := keys.RaftTruncatedState(rangeID)
	v, err := get(r, key)
	if v == nil || err != nil {
		return &kvpb.TruncatedState{}, err
	}
	return DecodeTruncatedState(key, v)
}

// ---- AppliedState ----

// NewAppliedState returns the AppliedState of a replica that has applied
// the entry at index (of term), with ConfState cs (nil: empty) and the
// range's live bytes and keys.
func NewAppliedState(index, term uint64, cs *raftpb.ConfState, liveBytes, liveKeys int64) (*kvpb.AppliedState, error) {
	var csb []byte
	if cs != nil {
		var err error
		if csb, err = proto.Marshal(cs); err != nil {
			return nil, fmt.Errorf("raftlog: encoding conf state: %w", err)
		}
	}
	return &kvpb.AppliedState{Index: index, Term: term, ConfState: csb, LiveBytes: liveBytes, LiveKeys: liveKeys}, nil
}

// EncodeAppliedState returns the value stored under keys.RangeAppliedState.
func EncodeAppliedState(as *kvpb.AppliedState) ([]byte, error) {
	v, err := proto.Marshal(as)
	if err != nil {
		return nil, fmt.Errorf("raftlog: encoding applied state: %w", err)
	}
	return v, nil
}

// DecodeAppliedState decodes the value stored under key
// (keys.RangeAppliedState) and the ConfState it holds (never nil). A value
// that does not decode, whose conf_state does not decode, or that names a
// non-zero index with term 0, is a *CorruptionError naming key.
func DecodeAppliedState(key, value []byte) (*kvpb.AppliedState, *raftpb.ConfState, error) {
	as := new(kvpb.AppliedState)
	if err := proto.Unmarshal(value, as); err != nil {
		return nil, nil, corruptf(key, err, "applied state does not decode")
	}
	if as.GetIndex() > 0 && as.GetTerm() == 0 {
		return nil, nil, corruptf(key, nil, "applied state at index %d has term 0", as.GetIndex())
	}
	cs := new(raftpb.ConfState)
	if err := proto.Unmarshal(as.GetConfState(), cs); err != nil {
		return nil, nil, corruptf(key, err, "applied state's conf state does not decode")
	}
	return as, cs, nil
}

// LoadAppliedState reads a range's AppliedState from r; nil, nil when none
// was written. It checks that the ConfState inside decodes.
func LoadAppliedState(r Reader, rangeID uint64) (*kvpb.AppliedState, error) {
	as, _, err := loadApplied(r, rangeID)
	return as, err
}

func loadApplied(r Reader, rangeID uint64) (*kvpb.AppliedState, *raftpb.ConfState, error) {
	key := keys.RangeAppliedState(rangeID)
	v, err := get(r, key)
	if v == nil || err != nil {
		return nil, nil, err
	}
	return DecodeAppliedState(key, v)
}

// ConfStateOf decodes the ConfState an AppliedState holds (an empty one,
// never nil, when it holds none). The error is a *CorruptionError naming
// the range's applied-state key.
func ConfStateOf(rangeID uint64, as *kvpb.AppliedState) (*raftpb.ConfState, error) {
	cs := new(raftpb.ConfState)
	if err := proto.Unmarshal(as.GetConfState(), cs); err != nil {
		return nil, corruptf(keys.RangeAppliedState(rangeID), err, "applied state's conf state does not decode")
	}
	return cs, nil
}

// ---- Writes that are not the log ----

// WriteAppliedState writes as under the range's applied-state key into b.
func WriteAppliedState(b *dkv.Batch, rangeID uint64, as *kvpb.AppliedState) error {
	v, err := EncodeAppliedState(as)
	if err != nil {
		return err
	}
	return put(b, keys.RangeAppliedState(rangeID), v)
}

// WriteInitialState writes a bootstrapped replica's HardState and
// TruncatedState into b: a log that starts after trunc.Index, an entry
// every member is deemed to hold. hs.Commit must equal trunc.Index (raft
// refuses a commit index outside [first index − 1, last index]) and
// hs.Term must be at least trunc.Term. The caller writes the matching
// applied state (index and term of trunc, the initial ConfState) in the
// same batch: Open refuses a replica whose applied index is below its
// truncated index.
func WriteInitialState(b *dkv.Batch, rangeID uint64, hs *raftpb.HardState, trunc *kvpb.TruncatedState) error {
	if hs.GetCommit() != trunc.GetIndex() {
		return fmt.Errorf("raftlog: initial state: commit %d is not the truncated index %d", hs.GetCommit(), trunc.GetIndex())
	}
	if hs.GetTerm() < trunc.GetTerm() {
		return fmt.Errorf("raftlog: initial state: term %d is below the truncated term %d", hs.GetTerm(), trunc.GetTerm())
	}
	if trunc.GetIndex() > 0 && trunc.GetTerm() == 0 {
		return fmt.Errorf("raftlog: initial state: truncated index %d has term 0", trunc.GetIndex())
	}
	hv, err := EncodeHardState(hs)
	if err != nil {
		return err
	}
	tv, err := EncodeTruncatedState(trunc)
	if err != nil {
		return err
	}
	if err := put(b, keys.RaftHardState(rangeID), hv); err != nil {
		return err
	}
	return put(b, keys.RaftTruncatedState(rangeID), tv)
}

// ---- Engine access ----

// get returns the value under key, nil and no error when absent.
func get(r Reader, key []byte) ([]byte, error) {
	v, err := r.Get(key)
	if errors.Is(err, dkv.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("raftlog: reading %q: %w", key, err)
	}
	if v == nil {
		v = []byte{} // present but empty: an empty message
	}
	return v, nil
}

func put(b *dkv.Batch, key, value []byte) error {
	if err := b.Put(key, value); err != nil {
		return fmt.Errorf("raftlog: writing %q: %w", key, err)
	}
	return nil
}
