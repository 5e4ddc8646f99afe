package server

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv/cluster/kvpb"
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
				LeadReplicaId: st.Lead, RaftState: st.RaftState,
			},
		})
	}
	return resp, nil
}

// leaderStatus asks the leader of range 1 for its status (the view the
// JSON API serves), falling back to this node's own.
func (n *Node) leaderStatus(ctx context.Context) (*kvpb.ClusterStatusResponse, bool, error) {
	local, err := n.localStatus()
	if err != nil {
		return nil, false, err
	}
	var lead uint64
	for _, rs := range local.GetRanges() {
		if rs.GetRange().GetRangeId() == 1 {
			lead = rs.GetLeaderNodeId()
		}
	}
	if lead == 0 || lead == n.store.NodeID() {
		return local, lead != 0, nil
	}
	addr, ok := n.store.Resolve(lead)
	if !ok {
		return local, false, nil
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return local, false, nil
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := kvpb.NewAdminClient(conn).ClusterStatus(cctx, &kvpb.ClusterStatusRequest{})
	if err != nil {
		return local, false, nil
	}
	return proto.Clone(resp).(*kvpb.ClusterStatusResponse), true, nil
}
