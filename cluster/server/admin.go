package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/replica"
	"github.com/distributedkv/dkv/cluster/store"
)

// adminServer serves the Admin service: joins, membership changes,
// leadership transfers, and the cluster status the JSON API shows.
type adminServer struct {
	kvpb.UnimplementedAdminServer
	n *Node
}

func (s *adminServer) Join(ctx context.Context, req *kvpb.JoinRequest) (*kvpb.JoinResponse, error) {
	if req.GetAddr() == "" {
		return nil, status.Error(codes.InvalidArgument, "join: no address")
	}
	if !s.n.enter() {
		return &kvpb.JoinResponse{Header: drainingHeader()}, nil
	}
	defer s.n.leave()
	ctx, cancel := s.n.bound(ctx)
	defer cancel()
	id, err := s.n.store.JoinNode(ctx, req.GetAddr(), req.GetHttpAddr(), req.GetJoinToken())
	if h, err := s.n.header(err); err != nil || h != nil {
		return &kvpb.JoinResponse{Header: h}, err
	}
	nodes, err := s.n.store.Nodes()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &kvpb.JoinResponse{ClusterId: s.n.store.Ident().GetClusterId(), NodeId: id, Nodes: nodes}, nil
}

func (s *adminServer) ChangeReplicas(ctx context.Context, req *kvpb.ChangeReplicasRequest) (*kvpb.ChangeReplicasResponse, error) {
	if req.GetHeader().GetRangeId() == 0 {
		return nil, status.Error(codes.InvalidArgument, "change replicas: no range ID")
	}
	if !s.n.enter() {
		return &kvpb.ChangeReplicasResponse{Header: drainingHeader()}, nil
	}
	defer s.n.leave()
	ctx, cancel := s.n.bound(ctx)
	defer cancel()
	desc, err := s.n.store.ChangeReplicas(ctx, req.GetHeader().GetRangeId(), req.GetHeader().GetEpoch().GetConfVer(), req.GetChanges())
	if h, err := s.n.header(err); err != nil || h != nil {
		return &kvpb.ChangeReplicasResponse{Header: h}, err
	}
	return &kvpb.ChangeReplicasResponse{Range: desc}, nil
}

func (s *adminServer) TransferLeader(ctx context.Context, req *kvpb.TransferLeaderRequest) (*kvpb.TransferLeaderResponse, error) {
	r := s.n.store.Replica(req.GetHeader().GetRangeId())
	if r == nil {
		return nil, status.Errorf(codes.NotFound, "range %d is not on node %d", req.GetHeader().GetRangeId(), s.n.store.NodeID())
	}
	if !s.n.enter() {
		return &kvpb.TransferLeaderResponse{Header: drainingHeader()}, nil
	}
	defer s.n.leave()
	ctx, cancel := s.n.bound(ctx)
	defer cancel()
	h, err := s.n.header(r.TransferLeader(ctx, req.GetNodeId()))
	return &kvpb.TransferLeaderResponse{Header: h}, err
}

// ClusterStatus answers with this node's view: the node records with
// their liveness as this node sees it, and its replicas.
func (s *adminServer) ClusterStatus(ctx context.Context, req *kvpb.ClusterStatusRequest) (*kvpb.ClusterStatusResponse, error) {
	if req.GetCluster() {
		return s.n.clusterView(ctx)
	}
	return s.n.localStatus()
}

func (n *Node) localStatus() (*kvpb.ClusterStatusResponse, error) {
	nodes, err := n.store.Nodes()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	resp := &kvpb.ClusterStatusResponse{ClusterId: n.store.Ident().GetClusterId(), NodeId: n.store.NodeID(), Nodes: nodes}
	for _, nd := range nodes {
		ago := int64(-1)
		if nd.GetNodeId() == n.store.NodeID() {
			ago = 0
		} else if t := n.store.LastHeard(nd.GetNodeId()); !t.IsZero() {
			ago = time.Since(t).Milliseconds()
		}
		resp.Liveness = append(resp.Liveness, &kvpb.NodeLiveness{NodeId: nd.GetNodeId(), HeardAgoMs: ago})
	}
	for _, r := range n.store.Replicas() {
		st := r.Status()
		if st.Descriptor == nil {
			continue
		}
		resp.Ranges = append(resp.Ranges, &kvpb.RangeStatus{
			Range:        st.Descriptor,
			LeaderNodeId: st.LeadNode,
			ApproxBytes:  st.LiveBytes,
			Keys:         st.LiveKeys,
			Local: &kvpb.ReplicaStatus{
				ReplicaId: st.ReplicaID, Term: st.Term, Commit: st.Commit, Applied: st.Applied,
				LeadReplicaId: st.Lead, RaftState: st.RaftState, Quiesced: st.Quiesced,
			},
		})
	}
	return resp, nil
}

// adminOn dials node's Admin service (for the JSON API's cluster view and
// for range IDs from the placement group's leader). close must be called.
func (n *Node) adminOn(node uint64) (client kvpb.AdminClient, close func(), err error) {
	addr, ok := n.store.Resolve(node)
	if !ok {
		return nil, nil, fmt.Errorf("node %d: address unknown", node)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, err
	}
	return kvpb.NewAdminClient(conn), func() { _ = conn.Close() }, nil
}

// leaderStatus asks the leader of the placement group for its status (its
// view of the nodes is the one the JSON API serves), falling back to this
// node's own.
func (n *Node) leaderStatus(ctx context.Context) (*kvpb.ClusterStatusResponse, bool, error) {
	local, err := n.localStatus()
	if err != nil {
		return nil, false, err
	}
	var lead uint64
	for _, rs := range local.GetRanges() {
		if rs.GetRange().GetRangeId() == store.PlacementRangeID {
			lead = rs.GetLeaderNodeId()
		}
	}
	if lead == 0 || lead == n.store.NodeID() {
		return local, lead != 0, nil
	}
	ac, done, err := n.adminOn(lead)
	if err != nil {
		return local, false, nil
	}
	defer done()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := ac.ClusterStatus(cctx, &kvpb.ClusterStatusRequest{})
	if err != nil {
		return local, false, nil
	}
	return proto.Clone(resp).(*kvpb.ClusterStatusResponse), true, nil
}

// clusterView is the placement leader's view of the nodes with every
// range's newest state gathered from every node that answers within a
// moment: for each range, the descriptor of the highest epoch any replica
// holds, and the leader with the highest term (with its counts).
func (n *Node) clusterView(ctx context.Context) (*kvpb.ClusterStatusResponse, error) {
	view, _, err := n.leaderStatus(ctx)
	if err != nil {
		return nil, err
	}
	local, err := n.localStatus()
	if err != nil {
		return nil, err
	}
	answers := []*kvpb.ClusterStatusResponse{local}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, nd := range view.GetNodes() {
		if nd.GetNodeId() == n.store.NodeID() || nd.GetState() == kvpb.NodeState_NODE_REMOVED {
			continue
		}
		wg.Add(1)
		go func(id uint64) {
			defer wg.Done()
			ac, done, err := n.adminOn(id)
			if err != nil {
				return
			}
			defer done()
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			resp, err := ac.ClusterStatus(cctx, &kvpb.ClusterStatusRequest{})
			if err != nil {
				return
			}
			mu.Lock()
			answers = append(answers, resp)
			mu.Unlock()
		}(nd.GetNodeId())
	}
	wg.Wait()
	view = proto.Clone(view).(*kvpb.ClusterStatusResponse)
	view.Ranges = mergeRanges(answers)
	return view, nil
}

// mergeRanges combines nodes' reports of their replicas into one status
// per range, in key order (the placement group first).
func mergeRanges(answers []*kvpb.ClusterStatusResponse) []*kvpb.RangeStatus {
	type best struct {
		rs       *kvpb.RangeStatus
		leadTerm uint64
		led      bool
	}
	byID := map[uint64]*best{}
	for _, a := range answers {
		for _, rs := range a.GetRanges() {
			d := rs.GetRange()
			b := byID[d.GetRangeId()]
			if b == nil {
				b = &best{rs: proto.Clone(rs).(*kvpb.RangeStatus)}
				byID[d.GetRangeId()] = b
			} else if replica.OlderEpoch(b.rs.GetRange().GetEpoch(), d.GetEpoch()) {
				b.rs.Range = d
			}
			if l := rs.GetLocal(); l.GetRaftState() == "StateLeader" && (!b.led || l.GetTerm() > b.leadTerm) {
				b.led, b.leadTerm = true, l.GetTerm()
				b.rs.LeaderNodeId = a.GetNodeId()
				b.rs.ApproxBytes, b.rs.Keys = rs.GetApproxBytes(), rs.GetKeys()
				b.rs.Local = rs.GetLocal()
			}
		}
	}
	out := make([]*kvpb.RangeStatus, 0, len(byID))
	for _, b := range byID {
		out = append(out, b.rs)
	}
	slices.SortFunc(out, func(x, y *kvpb.RangeStatus) int {
		px, py := x.GetRange().GetPlacement(), y.GetRange().GetPlacement()
		if px != py {
			if px {
				return -1
			}
			return 1
		}
		return bytes.Compare(x.GetRange().GetStartKey(), y.GetRange().GetStartKey())
	})
	return out
}

// allocateRangeID takes a new range ID from the placement group: through
// this node's replica when it leads, else from the leader it names (or,
// when it names none, from every node in turn).
func (n *Node) allocateRangeID(ctx context.Context) (uint64, error) {
	id, err := n.store.AllocateRangeID(ctx)
	var re *replica.Error
	if err == nil || !errors.As(err, &re) || (re.Detail.GetNotLeader() == nil && re.Detail.GetRangeNotFound() == nil) {
		return id, err
	}
	var ask []uint64
	if l := re.Detail.GetNotLeader().GetLeaderNodeId(); l != 0 {
		ask = append(ask, l)
	} else {
		nodes, nerr := n.store.Nodes()
		if nerr != nil {
			return 0, nerr
		}
		for _, nd := range nodes {
			if nd.GetNodeId() != n.store.NodeID() {
				ask = append(ask, nd.GetNodeId())
			}
		}
	}
	last := err
	for _, node := range ask {
		ac, done, err := n.adminOn(node)
		if err != nil {
			last = err
			continue
		}
		resp, err := ac.AllocateRangeID(ctx, &kvpb.AllocateRangeIDRequest{})
		done()
		if err == nil && resp.GetHeader().GetError() == nil {
			return resp.GetRangeId(), nil
		}
		if err == nil {
			err = errors.New(resp.GetHeader().GetError().GetMessage())
		}
		last = fmt.Errorf("node %d: %w", node, err)
	}
	// The placement group may be electing: the caller may try again.
	return 0, replica.Retry("no range ID from the placement group (%v); retry", last)
}

func (s *adminServer) AllocateRangeID(ctx context.Context, req *kvpb.AllocateRangeIDRequest) (*kvpb.AllocateRangeIDResponse, error) {
	if !s.n.enter() {
		return &kvpb.AllocateRangeIDResponse{Header: drainingHeader()}, nil
	}
	defer s.n.leave()
	ctx, cancel := s.n.bound(ctx)
	defer cancel()
	id, err := s.n.store.AllocateRangeID(ctx)
	if h, err := s.n.header(err); err != nil || h != nil {
		return &kvpb.AllocateRangeIDResponse{Header: h}, err
	}
	return &kvpb.AllocateRangeIDResponse{RangeId: id}, nil
}

func (s *adminServer) Split(ctx context.Context, req *kvpb.SplitRequest) (*kvpb.SplitResponse, error) {
	if req.GetHeader().GetRangeId() == 0 {
		return nil, status.Error(codes.InvalidArgument, "split: no range ID")
	}
	if len(req.GetSplitKey()) > 0 {
		if err := keys.CheckUserKey(req.GetSplitKey()); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "split: %v", err)
		}
	}
	if !s.n.enter() {
		return &kvpb.SplitResponse{Header: drainingHeader()}, nil
	}
	defer s.n.leave()
	ctx, cancel := s.n.bound(ctx)
	defer cancel()
	left, right, err := s.n.store.SplitRange(ctx, req.GetHeader().GetRangeId(), req.GetSplitKey(), req.GetHeader().GetEpoch(), s.n.allocateRangeID)
	if errors.Is(err, store.ErrTooSmallToSplit) {
		return nil, status.Errorf(codes.FailedPrecondition, "split: range %d: %v", req.GetHeader().GetRangeId(), err)
	}
	if h, err := s.n.header(err); err != nil || h != nil {
		return &kvpb.SplitResponse{Header: h}, err
	}
	return &kvpb.SplitResponse{Left: left, Right: right}, nil
}
