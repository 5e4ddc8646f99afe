package server

import (
	"context"
	"errors"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/replica"
	"github.com/distributedkv/dkv/vfs"
)

// DefaultReportInterval is how often a node reports to the placement group.
const DefaultReportInterval = 2 * time.Second

// reportLoop sends, every ReportInterval until the Store stops, this
// node's heartbeat and the ranges it leads to the placement group's
// leader.
func (n *Node) reportLoop() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-n.store.Done()
		cancel()
	}()
	t := time.NewTicker(n.cfg.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, rcancel := context.WithTimeout(ctx, n.cfg.ReportInterval)
		if err := n.report(rctx); err != nil {
			n.logger.Debug("report to the placement group not delivered", "err", err)
		}
		rcancel()
	}
}

// report builds and delivers one report.
func (n *Node) report(ctx context.Context) error {
	hb := &kvpb.NodeRecord{NodeId: n.store.NodeID()}
	var ranges []*kvpb.RangeRecord
	for _, r := range n.store.Replicas() {
		st := r.Status()
		if st.Descriptor == nil {
			continue
		}
		hb.Replicas++
		if st.RaftState != "StateLeader" {
			continue
		}
		hb.Leaders++
		if st.Descriptor.GetPlacement() {
			continue
		}
		ranges = append(ranges, &kvpb.RangeRecord{Range: st.Descriptor, LeaderNodeId: hb.NodeId,
			ApproxBytes: st.LiveBytes, Keys: st.LiveKeys, RequestsPerSec: n.rangeQPS(st.RangeID)})
	}
	m := n.store.DB().Metrics()
	for _, l := range m.Levels {
		hb.UsedBytes += int64(l.Size)
	}
	if n.cfg.FS == nil || n.cfg.FS == vfs.Default {
		var sfs syscall.Statfs_t
		if syscall.Statfs(n.cfg.Dir, &sfs) == nil {
			hb.CapacityBytes = int64(sfs.Blocks) * sfs.Bsize
			hb.AvailableBytes = int64(sfs.Bavail) * sfs.Bsize
		}
	}
	err := n.store.Report(ctx, hb, ranges)
	var re *replica.Error
	if err == nil || !errors.As(err, &re) || re.Detail.GetNotLeader().GetLeaderNodeId() == 0 {
		return err
	}
	ac, done, derr := n.adminOn(re.Detail.GetNotLeader().GetLeaderNodeId())
	if derr != nil {
		return derr
	}
	defer done()
	resp, err := ac.Report(ctx, &kvpb.ReportRequest{Heartbeat: hb, Ranges: ranges})
	if err == nil && resp.GetHeader().GetError() != nil {
		err = errors.New(resp.GetHeader().GetError().GetMessage())
	}
	return err
}

func (s *adminServer) Report(ctx context.Context, req *kvpb.ReportRequest) (*kvpb.ReportResponse, error) {
	if !s.n.enter() {
		return &kvpb.ReportResponse{Header: drainingHeader()}, nil
	}
	defer s.n.leave()
	ctx, cancel := s.n.bound(ctx)
	defer cancel()
	h, err := s.n.header(s.n.store.Report(ctx, req.GetHeartbeat(), req.GetRanges()))
	return &kvpb.ReportResponse{Header: h}, err
}

// LookupRange answers from the placement group's records, on its leader
// (a NotLeader answer names it).
func (s *adminServer) LookupRange(ctx context.Context, req *kvpb.LookupRangeRequest) (*kvpb.LookupRangeResponse, error) {
	if len(req.GetKey()) > keys.MaxKeySize {
		return nil, status.Errorf(codes.InvalidArgument, "lookup: key of %d bytes exceeds the limit of %d", len(req.GetKey()), keys.MaxKeySize)
	}
	if !s.n.enter() {
		return &kvpb.LookupRangeResponse{Header: drainingHeader()}, nil
	}
	defer s.n.leave()
	ctx, cancel := s.n.bound(ctx)
	defer cancel()
	rec, err := s.n.store.LookupRange(ctx, req.GetKey())
	if h, err := s.n.header(err); err != nil || h != nil {
		return &kvpb.LookupRangeResponse{Header: h}, err
	}
	resp := &kvpb.LookupRangeResponse{Range: rec}
	if addr, ok := s.n.store.Resolve(rec.GetLeaderNodeId()); ok {
		resp.LeaderAddr = addr
	}
	return resp, nil
}
