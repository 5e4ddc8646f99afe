package replica

import (
	"errors"
	"fmt"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// Error is a request's failure that the client can act on: it carries the
// kvpb.Error that goes into the response header.
type Error struct {
	Detail *kvpb.Error
}

func (e *Error) Error() string { return "replica: " + e.Detail.GetMessage() }

// Ambiguous reports whether the request may or may not have been applied.
func (e *Error) Ambiguous() bool { return e.Detail.GetAmbiguous() != nil }

// ErrStopped is returned once the replica's Store has stopped (Close, or an
// engine error that stops it).
var ErrStopped = errors.New("replica: stopped")

// NotLeader is the answer of a replica that does not lead its range;
// leaderNode is the node of the leader it knows of (0: none).
func NotLeader(rangeID, leaderNode uint64) *Error { return notLeaderError(rangeID, leaderNode) }

func notLeaderError(rangeID, leaderNode uint64) *Error {
	return &Error{Detail: &kvpb.Error{
		Message: fmt.Sprintf("range %d: not the leader (leader on node %d)", rangeID, leaderNode),
		Detail:  &kvpb.Error_NotLeader{NotLeader: &kvpb.NotLeader{RangeId: rangeID, LeaderNodeId: leaderNode}},
	}}
}

func ambiguousError(format string, args ...any) *Error {
	return &Error{Detail: &kvpb.Error{
		Message: fmt.Sprintf(format, args...),
		Detail:  &kvpb.Error_Ambiguous{Ambiguous: &kvpb.Ambiguous{}},
	}}
}

func epochError(desc *kvpb.RangeDescriptor) *Error {
	return &Error{Detail: &kvpb.Error{
		Message: fmt.Sprintf("range %d: epoch mismatch (now conf_ver %d, version %d)",
			desc.GetRangeId(), desc.GetEpoch().GetConfVer(), desc.GetEpoch().GetVersion()),
		Detail: &kvpb.Error_EpochNotMatch{EpochNotMatch: &kvpb.EpochNotMatch{Current: []*kvpb.RangeDescriptor{desc}}},
	}}
}

func keyNotInRangeError(key []byte, desc *kvpb.RangeDescriptor) *Error {
	return &Error{Detail: &kvpb.Error{
		Message: fmt.Sprintf("key %q is not in range %d", key, desc.GetRangeId()),
		Detail:  &kvpb.Error_KeyNotInRange{KeyNotInRange: &kvpb.KeyNotInRange{Key: key, Range: desc}},
	}}
}

func stoppedError(err error) *Error {
	return &Error{Detail: &kvpb.Error{
		Message: fmt.Sprintf("node stopped: %v", err),
		Detail:  &kvpb.Error_StoreStopped{StoreStopped: &kvpb.StoreStopped{}},
	}}
}

func rangeNotFoundError(rangeID uint64) *Error {
	return RangeNotFound(rangeID, fmt.Sprintf("range %d is not on this node", rangeID))
}

// RangeNotFound is the answer of a node that holds no replica of rangeID
// (0: of the key asked for) able to serve a request: the client asks
// another node.
func RangeNotFound(rangeID uint64, msg string) *Error {
	return &Error{Detail: &kvpb.Error{
		Message: msg,
		Detail:  &kvpb.Error_RangeNotFound{RangeNotFound: &kvpb.RangeNotFound{RangeId: rangeID}},
	}}
}

// Retry is a refusal before anything was proposed that may succeed later.
func Retry(format string, args ...any) *Error { return retryError(format, args...) }

// retryError is a refusal before anything was proposed that may succeed
// later (a membership change while another is in flight).
func retryError(format string, args ...any) *Error {
	return &Error{Detail: &kvpb.Error{Message: fmt.Sprintf(format, args...)}}
}
