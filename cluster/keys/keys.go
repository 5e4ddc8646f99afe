// Package keys is the layout of a node's engine: which key holds what.
// docs/format/keys.md is its specification, with a worked example.
//
// Four kinds of keys share one engine DB and sort in this order:
//
//	\x01 s <name>                       store-local: this node only, never replicated
//	\x02 <range ID> r <name>            range-ID replicated: the same on every replica
//	\x02 <range ID> u <name>            range-ID unreplicated: each replica's own Raft state
//	u <user key>                        user data
//
// A range ID is 8 bytes big-endian, so a range's keys are one contiguous
// span (RangeIDPrefix … RangeIDPrefixEnd) and ranges sort by ID. A user
// key is stored under the prefix 'u', so a range [start, end) of user keys
// is the engine span [u start, u end) — or [u start, v) when end is the end
// of the key space.
package keys

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Limits the cluster sets for user keys and values, below the engine's: a
// key gets a prefix, and a value must fit a Raft entry and a gRPC message
// with room to spare.
const (
	MaxKeySize   = 4 << 10 // 4 KiB
	MaxValueSize = 1 << 20 // 1 MiB
)

const (
	storeLocalPrefix = '\x01'
	rangeIDPrefix    = '\x02'
	userPrefix       = 'u'

	replicatedInfix   = 'r'
	unreplicatedInfix = 'u'
)

// Store-local keys.
var (
	// StoreIdent holds the node's kvpb.StoreIdent.
	StoreIdent = []byte("\x01sident")
	// tombstonePrefix + range ID holds a kvpb.ReplicaTombstone.
	tombstonePrefix = []byte("\x01stomb")
)

// Suffixes after a range-ID prefix.
var (
	appliedSuffix   = []byte("ra") // kvpb.AppliedState
	descSuffix      = []byte("rd") // kvpb.RangeDescriptor
	systemSuffix    = []byte("rs") // + name: system records (range 1 only)
	hardStateSuffix = []byte("uh") // raftpb.HardState
	logSuffix       = []byte("ul") // + 8-byte index: raftpb.Entry
	replicaIDSuffix = []byte("ui") // 8-byte replica ID of this node's replica
	truncSuffix     = []byte("ut") // kvpb.TruncatedState
)

// ReplicaTombstone is the store-local key of a removed replica's tombstone.
func ReplicaTombstone(rangeID uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), tombstonePrefix...), rangeID)
}

// RangeIDPrefix is the first key of every range-ID key of rangeID.
func RangeIDPrefix(rangeID uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{rangeIDPrefix}, rangeID)
}

// RangeIDPrefixEnd is the key just past every range-ID key of rangeID.
func RangeIDPrefixEnd(rangeID uint64) []byte {
	if rangeID == ^uint64(0) {
		return []byte{rangeIDPrefix + 1}
	}
	return RangeIDPrefix(rangeID + 1)
}

func rangeIDKey(rangeID uint64, suffix []byte) []byte {
	k := make([]byte, 0, 9+len(suffix)+8)
	k = append(k, rangeIDPrefix)
	k = binary.BigEndian.AppendUint64(k, rangeID)
	return append(k, suffix...)
}

// RangeAppliedState is the key of a range's kvpb.AppliedState.
func RangeAppliedState(rangeID uint64) []byte { return rangeIDKey(rangeID, appliedSuffix) }

// RangeDescriptor is the key of a range's kvpb.RangeDescriptor.
func RangeDescriptor(rangeID uint64) []byte { return rangeIDKey(rangeID, descSuffix) }

// RangeSystem is the key of a system record kept replicated in rangeID.
func RangeSystem(rangeID uint64, name string) []byte {
	return append(rangeIDKey(rangeID, systemSuffix), name...)
}

// RangeReplicatedPrefix and RangeReplicatedEnd bound a range's replicated
// range-ID keys: what a snapshot carries besides user keys.
func RangeReplicatedPrefix(rangeID uint64) []byte {
	return rangeIDKey(rangeID, []byte{replicatedInfix})
}

// RangeReplicatedEnd is the key just past a range's replicated range-ID keys.
func RangeReplicatedEnd(rangeID uint64) []byte {
	return rangeIDKey(rangeID, []byte{replicatedInfix + 1})
}

// RaftHardState is the key of a replica's raftpb.HardState.
func RaftHardState(rangeID uint64) []byte { return rangeIDKey(rangeID, hardStateSuffix) }

// RaftReplicaID is the key of the ID of this node's replica of rangeID,
// written when the replica is created (so that an uninitialized replica,
// which has a vote but no descriptor yet, keeps its ID across a restart).
func RaftReplicaID(rangeID uint64) []byte { return rangeIDKey(rangeID, replicaIDSuffix) }

// RaftTruncatedState is the key of a replica's kvpb.TruncatedState.
func RaftTruncatedState(rangeID uint64) []byte { return rangeIDKey(rangeID, truncSuffix) }

// RaftLogPrefix is the first key of a replica's log entries.
func RaftLogPrefix(rangeID uint64) []byte { return rangeIDKey(rangeID, logSuffix) }

// RaftLog is the key of the log entry at index.
func RaftLog(rangeID, index uint64) []byte {
	return binary.BigEndian.AppendUint64(rangeIDKey(rangeID, logSuffix), index)
}

// DecodeRaftLog returns the range ID and index of a log entry's key.
func DecodeRaftLog(k []byte) (rangeID, index uint64, err error) {
	if len(k) != 1+8+len(logSuffix)+8 || k[0] != rangeIDPrefix || string(k[9:11]) != string(logSuffix) {
		return 0, 0, fmt.Errorf("%w: %q is not a raft log key", ErrBadKey, k)
	}
	return binary.BigEndian.Uint64(k[1:9]), binary.BigEndian.Uint64(k[11:]), nil
}

// ErrBadKey reports an engine key that does not have the expected layout.
var ErrBadKey = errors.New("keys: bad key")

// User returns the engine key of a user key.
func User(key []byte) []byte {
	k := make([]byte, 1+len(key))
	k[0] = userPrefix
	copy(k[1:], key)
	return k
}

// UserSpan returns the engine span [lo, hi) of the user keys in [start,
// end); an empty end means the end of the key space.
func UserSpan(start, end []byte) (lo, hi []byte) {
	lo = User(start)
	if len(end) == 0 {
		return lo, []byte{userPrefix + 1}
	}
	return lo, User(end)
}

// DecodeUser returns the user key of an engine key, or an error when the
// engine key is not a user key.
func DecodeUser(k []byte) ([]byte, error) {
	if len(k) == 0 || k[0] != userPrefix {
		return nil, fmt.Errorf("%w: %q is not a user key", ErrBadKey, k)
	}
	return k[1:], nil
}

// CheckUserKey says why a user key cannot be stored, or nil.
func CheckUserKey(key []byte) error {
	if len(key) == 0 {
		return errors.New("empty key")
	}
	if len(key) > MaxKeySize {
		return fmt.Errorf("key of %d bytes exceeds the limit of %d", len(key), MaxKeySize)
	}
	return nil
}

// CheckValue says why a value cannot be stored, or nil.
func CheckValue(value []byte) error {
	if len(value) > MaxValueSize {
		return fmt.Errorf("value of %d bytes exceeds the limit of %d", len(value), MaxValueSize)
	}
	return nil
}
