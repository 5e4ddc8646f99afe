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
// was proposed under). On success they also return the descriptor of the
// range that served the request, for the answer's header.

// Put writes key = value through the key's range's Raft group.
func (s *Store) Put(ctx context.Context, h *kvpb.RequestHeader, key, value []byte) (*kvpb.RangeDescriptor, error) {
	_, desc, err := s.propose(ctx, h, key, &kvpb.Command{Op: &kvpb.Command_Put{Put: &kvpb.PutOp{Key: key, Value: value}}})
	return desc, err
}

// Delete deletes key through the key's range's Raft group.
func (s *Store) Delete(ctx context.Context, h *kvpb.RequestHeader, key []byte) (*kvpb.RangeDescriptor, error) {
	_, desc, err := s.propose(ctx, h, key, &kvpb.Command{Op: &kvpb.Command_Delete{Delete: &kvpb.DeleteOp{Key: key}}})
	return desc, err
}

// CompareAndSwap sets key to new (nil: deletes it) if its value is old
// (nil: absent), decided when the command applies.
func (s *Store) CompareAndSwap(ctx context.Context, h *kvpb.RequestHeader, key, old, new []byte) (bool, *kvpb.RangeDescriptor, error) {
	res, desc, err := s.propose(ctx, h, key, &kvpb.Command{Op: &kvpb.Command_Cas{Cas: &kvpb.CompareAndSwapOp{Key: key, Old: old, New: new}}})
	return res.Swapped, desc, err
}

func (s *Store) propose(ctx context.Context, h *kvpb.RequestHeader, key []byte, cmd *kvpb.Command) (replica.Result, *kvpb.RangeDescriptor, error) {
	r, err := s.route(h, key)
	if err != nil {
		return replica.Result{}, nil, err
	}
	cmd.Epoch = h.GetEpoch()
	res, err := r.Propose(ctx, cmd)
	if err != nil {
		return res, nil, err
	}
	return res, r.Descriptor(), nil
}

// route finds the replica a request is for, and counts the request in
// its load.
func (s *Store) route(h *kvpb.RequestHeader, key []byte) (*replica.Replica, error) {
	var r *replica.Replica
	if h.GetRangeId() == 0 {
		var err error
		if r, err = s.ReplicaForKey(key); err != nil {
			return nil, err
		}
	} else if r = s.Replica(h.GetRangeId()); r == nil || r.Descriptor() == nil {
		return nil, replica.RangeNotFound(h.GetRangeId(), fmt.Sprintf("range %d is not on node %d", h.GetRangeId(), s.NodeID()))
	}
	r.RecordLoad(key)
	return r, nil
}

// Get reads key linearizably: a ReadIndex barrier, then the engine.
func (s *Store) Get(ctx context.Context, h *kvpb.RequestHeader, key []byte) (value []byte, found bool, desc *kvpb.RangeDescriptor, err error) {
	r, err := s.route(h, key)
	if err != nil {
		return nil, false, nil, err
	}
	if err := r.ReadBarrier(ctx); err != nil {
		return nil, false, nil, err
	}
	if err := r.CheckRead(h.GetEpoch(), key); err != nil {
		return nil, false, nil, err
	}
	v, err := s.db.Get(keys.User(key))
	if r.Destroyed() {
		// The replica left its range after the barrier and may have
		// deleted its copy: the answer is not to be trusted.
		return nil, false, nil, removedError(r)
	}
	if errors.Is(err, dkv.ErrNotFound) {
		return nil, false, r.Descriptor(), nil
	}
	if err != nil {
		return nil, false, nil, err
	}
	return v, true, r.Descriptor(), nil
}

// MaxScanBytes bounds the keys and values one Scan returns, well below
// the gRPC message limit.
const MaxScanBytes = 4 << 20

// Scan reads the keys of [start, end) that lie in start's range, at most
// limit (<= 0: all) and about MaxScanBytes, linearizably. resume is where
// a scan continues: the range's end (empty: the end of the key space), or,
// when the answer stopped early for its size, the key just after the last
// one returned.
func (s *Store) Scan(ctx context.Context, h *kvpb.RequestHeader, start, end []byte, limit int) (kvs []*kvpb.KeyValue, resume []byte, desc *kvpb.RangeDescriptor, err error) {
	r, err := s.route(h, start)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := r.ReadBarrier(ctx); err != nil {
		return nil, nil, nil, err
	}
	if err := r.CheckRead(h.GetEpoch(), start); err != nil {
		return nil, nil, nil, err
	}
	desc = r.Descriptor()
	lo, hi := keys.UserSpan(start, end)
	_, rhi := keys.UserSpan(desc.GetStartKey(), desc.GetEndKey())
	if bytes.Compare(rhi, hi) < 0 {
		hi = rhi
	}
	it, err := s.db.NewIter(&dkv.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, nil, nil, err
	}
	defer it.Close()
	size := 0
	for ok := it.First(); ok && (limit <= 0 || len(kvs) < limit); ok = it.Next() {
		if size >= MaxScanBytes {
			last := kvs[len(kvs)-1].Key
			return kvs, append(bytes.Clone(last), 0), desc, nil
		}
		kv := &kvpb.KeyValue{Key: bytes.Clone(it.Key()[1:]), Value: bytes.Clone(it.Value())}
		size += len(kv.Key) + len(kv.Value)
		kvs = append(kvs, kv)
	}
	if err := it.Error(); err != nil {
		return nil, nil, nil, err
	}
	if r.Destroyed() {
		return nil, nil, nil, removedError(r)
	}
	return kvs, desc.GetEndKey(), desc, nil
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
	r, err := s.placement()
	if err != nil {
		return 0, err
	}
	res, err := r.Propose(ctx, &kvpb.Command{Op: &kvpb.Command_JoinNode{JoinNode: &kvpb.JoinNodeOp{Addr: addr, HttpAddr: httpAddr, JoinToken: token}}})
	return res.NodeID, err
}
