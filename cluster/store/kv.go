package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/replica"
)

// The KV methods take the request's header: nil, or a zero range ID,
// routes by key; a range ID names the replica, which must hold the key;
// an epoch is checked when the command is proposed and again when it
// applies (a command without one carries the epoch of the descriptor it
// was proposed under).

// Put writes key = value through the key's range's Raft group.
func (s *Store) Put(ctx context.Context, h *kvpb.RequestHeader, key, value []byte) error {
	_, err := s.propose(ctx, h, key, &kvpb.Command{Op: &kvpb.Command_Put{Put: &kvpb.PutOp{Key: key, Value: value}}})
	return err
}

// Delete deletes key through the key's range's Raft group.
func (s *Store) Delete(ctx context.Context, h *kvpb.RequestHeader, key []byte) error {
	_, err := s.propose(ctx, h, key, &kvpb.Command{Op: &kvpb.Command_Delete{Delete: &kvpb.DeleteOp{Key: key}}})
	return err
}

// CompareAndSwap sets key to new (nil: deletes it) if its value is old
// (nil: absent), decided when the command applies.
func (s *Store) CompareAndSwap(ctx context.Context, h *kvpb.RequestHeader, key, old, new []byte) (bool, error) {
	res, err := s.propose(ctx, h, key, &kvpb.Command{Op: &kvpb.Command_Cas{Cas: &kvpb.CompareAndSwapOp{Key: key, Old: old, New: new}}})
	return res.Swapped, err
}

func (s *Store) propose(ctx context.Context, h *kvpb.RequestHeader, key []byte, cmd *kvpb.Command) (replica.Result, error) {
	r, err := s.route(h, key)
	if err != nil {
		return replica.Result{}, err
	}
	cmd.Epoch = h.GetEpoch()
	return r.Propose(ctx, cmd)
}

// Route returns the descriptor of the range a request with h and key
// goes to on this node (for the response header), or nil.
func (s *Store) Route(h *kvpb.RequestHeader, key []byte) *kvpb.RangeDescriptor {
	r, err := s.lookupRoute(h, key)
	if err != nil {
		return nil
	}
	return r.Descriptor()
}

// route finds the replica a request is for, and counts the request in
// its load.
func (s *Store) route(h *kvpb.RequestHeader, key []byte) (*replica.Replica, error) {
	r, err := s.lookupRoute(h, key)
	if err == nil {
		r.RecordLoad(key)
	}
	return r, err
}

func (s *Store) lookupRoute(h *kvpb.RequestHeader, key []byte) (*replica.Replica, error) {
	if h.GetRangeId() == 0 {
		return s.ReplicaForKey(key)
	}
	r := s.Replica(h.GetRangeId())
	if r == nil || r.Descriptor() == nil {
		return nil, replica.RangeNotFound(h.GetRangeId(), fmt.Sprintf("range %d is not on node %d", h.GetRangeId(), s.NodeID()))
	}
	return r, nil
}

// Get reads key linearizably: a ReadIndex barrier, then the engine.
func (s *Store) Get(ctx context.Context, h *kvpb.RequestHeader, key []byte) (value []byte, found bool, err error) {
	r, err := s.route(h, key)
	if err != nil {
		return nil, false, err
	}
	if err := r.ReadBarrier(ctx); err != nil {
		return nil, false, err
	}
	if err := r.CheckRead(h.GetEpoch(), key); err != nil {
		return nil, false, err
	}
	v, err := s.db.Get(keys.User(key))
	if r.Destroyed() {
		// The replica left its range after the barrier and may have
		// deleted its copy: the answer is not to be trusted.
		return nil, false, removedError(r)
	}
	if errors.Is(err, dkv.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// MaxScanBytes bounds the keys and values one Scan returns, well below
// the gRPC message limit.
const MaxScanBytes = 4 << 20

// Scan reads the keys of [start, end) that lie in start's range, at most
// limit (<= 0: all) and about MaxScanBytes, linearizably. resume is where
// a scan continues: the range's end (empty: the end of the key space), or,
// when the answer stopped early for its size, the key just after the last
// one returned.
func (s *Store) Scan(ctx context.Context, h *kvpb.RequestHeader, start, end []byte, limit int) (kvs []*kvpb.KeyValue, resume []byte, err error) {
	r, err := s.route(h, start)
	if err != nil {
		return nil, nil, err
	}
	if err := r.ReadBarrier(ctx); err != nil {
		return nil, nil, err
	}
	if err := r.CheckRead(h.GetEpoch(), start); err != nil {
		return nil, nil, err
	}
	desc := r.Descriptor()
	lo, hi := keys.UserSpan(start, end)
	_, rhi := keys.UserSpan(desc.GetStartKey(), desc.GetEndKey())
	if bytes.Compare(rhi, hi) < 0 {
		hi = rhi
	}
	it, err := s.db.NewIter(&dkv.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, nil, err
	}
	defer it.Close()
	size := 0
	for ok := it.First(); ok && (limit <= 0 || len(kvs) < limit); ok = it.Next() {
		if size >= MaxScanBytes {
			last := kvs[len(kvs)-1].Key
			return kvs, append(bytes.Clone(last), 0), nil
		}
		kv := &kvpb.KeyValue{Key: bytes.Clone(it.Key()[1:]), Value: bytes.Clone(it.Value())}
		size += len(kv.Key) + len(kv.Value)
		kvs = append(kvs, kv)
	}
	if err := it.Error(); err != nil {
		return nil, nil, err
	}
	if r.Destroyed() {
		return nil, nil, removedError(r)
	}
	return kvs, desc.GetEndKey(), nil
}

// removedError answers a read whose replica left its range meanwhile:
// the client tries another node.
func removedError(r *replica.Replica) error {
	return replica.RangeNotFound(r.RangeID(), fmt.Sprintf("range %d: this replica was removed during the read", r.RangeID()))
}

// ChangeReplicas proposes a membership change of rangeID.
func (s *Store) ChangeReplicas(ctx context.Context, rangeID, confVer uint64, changes []*kvpb.ReplicaChange) (*kvpb.RangeDescriptor, error) {
	r := s.Replica(rangeID)
	if r == nil {
		return nil, replica.RangeNotFound(rangeID, "range not on this node")
	}
	return r.ChangeReplicas(ctx, confVer, changes)
}

// JoinNode allocates an ID for a new node and records it (the placement
// group).
func (s *Store) JoinNode(ctx context.Context, addr, httpAddr string, token uint64) (uint64, error) {
	r := s.Replica(PlacementRangeID)
	if r == nil {
		return 0, replica.RangeNotFound(PlacementRangeID, "the placement group has no replica on this node")
	}
	res, err := r.Propose(ctx, &kvpb.Command{Op: &kvpb.Command_JoinNode{JoinNode: &kvpb.JoinNodeOp{Addr: addr, HttpAddr: httpAddr, JoinToken: token}}})
	return res.NodeID, err
}
