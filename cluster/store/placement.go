package store

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/replica"
)

// The placement group's records (docs/ranges.md, "The placement group"):
// node records with the nodes' heartbeats, and a record per range with its
// newest reported descriptor, size and load. Nodes report through Report
// on the placement leader; clients whose caches miss ask LookupRange.

// placement returns this node's replica of the placement group.
func (s *Store) placement() (*replica.Replica, error) {
	r := s.Replica(PlacementRangeID)
	if r == nil || r.Descriptor() == nil {
		return nil, replica.RangeNotFound(PlacementRangeID, fmt.Sprintf("the placement group has no replica on node %d", s.NodeID()))
	}
	return r, nil
}

// Report proposes a node's heartbeat and range reports to the placement
// group; this node's replica of it must lead. The time recorded is this
// node's clock, in the command, so that every replica applies the same.
func (s *Store) Report(ctx context.Context, hb *kvpb.NodeRecord, ranges []*kvpb.RangeRecord) error {
	r, err := s.placement()
	if err != nil {
		return err
	}
	_, err = r.Propose(ctx, &kvpb.Command{Op: &kvpb.Command_Report{Report: &kvpb.ReportOp{
		Heartbeat: hb, Ranges: ranges, NowUnixMs: time.Now().UnixMilli(),
	}}})
	return err
}

// RangeRecords returns the range records this node's replica of the
// placement group holds, in range-ID order (as applied here: a follower's
// may lag).
func (s *Store) RangeRecords() ([]*kvpb.RangeRecord, error) {
	lo := keys.RangeSystem(PlacementRangeID, replica.SystemRangePrefix)
	hi := keys.RangeSystem(PlacementRangeID, "range0") // '0' follows '/'
	it, err := s.db.NewIter(&dkv.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []*kvpb.RangeRecord
	for ok := it.First(); ok; ok = it.Next() {
		rec := &kvpb.RangeRecord{}
		if err := proto.Unmarshal(it.Value(), rec); err != nil {
			return nil, fmt.Errorf("%w: key %q: range record: %v", dkv.ErrCorruption, it.Key(), err)
		}
		out = append(out, rec)
	}
	return out, it.Error()
}

// LookupRange returns the placement group's record of the range holding
// key, read linearizably on its leader (this node's replica must lead):
// of the records whose bounds hold the key, the one with the newest
// epoch (a range that split keeps its old bounds in the record until its
// leader reports again).
func (s *Store) LookupRange(ctx context.Context, key []byte) (*kvpb.RangeRecord, error) {
	r, err := s.placement()
	if err != nil {
		return nil, err
	}
	if err := r.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	recs, err := s.RangeRecords()
	if err != nil {
		return nil, err
	}
	var best *kvpb.RangeRecord
	for _, rec := range recs {
		d := rec.GetRange()
		if !replica.ContainsKey(d, key) {
			continue
		}
		if best == nil || replica.OlderEpoch(best.GetRange().GetEpoch(), d.GetEpoch()) {
			best = rec
		}
	}
	if best == nil {
		return nil, replica.RangeNotFound(0, fmt.Sprintf("the placement group has no record of a range holding %q yet", key))
	}
	return best, nil
}
