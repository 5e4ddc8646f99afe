package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/replica"
)

// kvServer serves the KV service: every request is checked, routed to the
// key's replica on this node, and its failure turned into what the client
// needs (a response-header error it can act on, or a gRPC status for bad
// input).
type kvServer struct {
	kvpb.UnimplementedKVServer
	n *Node
}

func (s *kvServer) Get(ctx context.Context, req *kvpb.GetRequest) (*kvpb.GetResponse, error) {
	if err := checkKey(req.GetKey()); err != nil {
		return nil, err
	}
	if !s.n.enter() {
		return &kvpb.GetResponse{Header: drainingHeader()}, nil
	}
	defer s.n.leave()
	ctx, cancel := s.n.bound(ctx)
	defer cancel()
	v, found, desc, err := s.n.store.Get(ctx, req.GetHeader(), req.GetKey())
	if h, err := s.n.header(err); err != nil || h != nil {
		return &kvpb.GetResponse{Header: h}, err
	}
	return &kvpb.GetResponse{Header: served(desc), Found: found, Value: v}, nil
}

func (s *kvServer) Put(ctx context.Context, req *kvpb.PutRequest) (*kvpb.PutResponse, error) {
	if err := checkKey(req.GetKey()); err != nil {
		return nil, err
	}
	if err := keys.CheckValue(req.GetValue()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if !s.n.enter() {
		return &kvpb.PutResponse{Header: drainingHeader()}, nil
	}
	defer s.n.leave()
	ctx, cancel := s.n.bound(ctx)
	defer cancel()
	desc, err := s.n.store.Put(ctx, req.GetHeader(), req.GetKey(), req.GetValue())
	if h, err := s.n.header(err); err != nil || h != nil {
		return &kvpb.PutResponse{Header: h}, err
	}
	return &kvpb.PutResponse{Header: served(desc)}, nil
}

func (s *kvServer) Delete(ctx context.Context, req *kvpb.DeleteRequest) (*kvpb.DeleteResponse, error) {
	if err := checkKey(req.GetKey()); err != nil {
		return nil, err
	}
	if !s.n.enter() {
		return &kvpb.DeleteResponse{Header: drainingHeader()}, nil
	}
	defer s.n.leave()
	ctx, cancel := s.n.bound(ctx)
	defer cancel()
	desc, err := s.n.store.Delete(ctx, req.GetHeader(), req.GetKey())
	if h, err := s.n.header(err); err != nil || h != nil {
		return &kvpb.DeleteResponse{Header: h}, err
	}
	return &kvpb.DeleteResponse{Header: served(desc)}, nil
}

func (s *kvServer) CompareAndSwap(ctx context.Context, req *kvpb.CompareAndSwapRequest) (*kvpb.CompareAndSwapResponse, error) {
	if err := checkKey(req.GetKey()); err != nil {
		return nil, err
	}
	if err := keys.CheckValue(req.GetNew()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if !s.n.enter() {
		return &kvpb.CompareAndSwapResponse{Header: drainingHeader()}, nil
	}
	defer s.n.leave()
	ctx, cancel := s.n.bound(ctx)
	defer cancel()
	swapped, desc, err := s.n.store.CompareAndSwap(ctx, req.GetHeader(), req.GetKey(), req.Old, req.New)
	if h, err := s.n.header(err); err != nil || h != nil {
		return &kvpb.CompareAndSwapResponse{Header: h}, err
	}
	return &kvpb.CompareAndSwapResponse{Header: served(desc), Swapped: swapped}, nil
}

func (s *kvServer) Scan(ctx context.Context, req *kvpb.ScanRequest) (*kvpb.ScanResponse, error) {
	if len(req.GetStart()) > keys.MaxKeySize || len(req.GetEnd()) > keys.MaxKeySize {
		return nil, status.Errorf(codes.InvalidArgument, "scan bound exceeds the key limit of %d bytes", keys.MaxKeySize)
	}
	if len(req.GetEnd()) > 0 && string(req.GetEnd()) < string(req.GetStart()) {
		return nil, status.Error(codes.InvalidArgument, "scan start is after its end")
	}
	limit := int(min(req.GetLimit(), 1<<20))
	if limit <= 0 {
		limit = 10000 // a page; the client continues from the last key
	}
	if !s.n.enter() {
		return &kvpb.ScanResponse{Header: drainingHeader()}, nil
	}
	defer s.n.leave()
	ctx, cancel := s.n.bound(ctx)
	defer cancel()
	kvs, rangeEnd, desc, err := s.n.store.Scan(ctx, req.GetHeader(), req.GetStart(), req.GetEnd(), limit)
	if h, err := s.n.header(err); err != nil || h != nil {
		return &kvpb.ScanResponse{Header: h}, err
	}
	return &kvpb.ScanResponse{Header: served(desc), Kvs: kvs, RangeEnd: rangeEnd}, nil
}

// served is the header of a successful answer: the descriptor of the
// range that served it, for the client's cache.
func served(desc *kvpb.RangeDescriptor) *kvpb.ResponseHeader {
	return &kvpb.ResponseHeader{Range: desc}
}

func checkKey(k []byte) error {
	if err := keys.CheckUserKey(k); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return nil
}

// bound gives a request without a deadline the server's own.
func (n *Node) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, n.cfg.RequestTimeout)
}

// header turns a request's error into a response-header error (for the
// errors a client can act on) or a gRPC status (the rest).
func (n *Node) header(err error) (*kvpb.ResponseHeader, error) {
	if err == nil {
		return nil, nil
	}
	var re *replica.Error
	if errors.As(err, &re) {
		// The same error may answer many requests at once (reads that
		// failed together): fill in this answer's copy.
		d := proto.Clone(re.Detail).(*kvpb.Error)
		if nl := d.GetNotLeader(); nl != nil && nl.GetLeaderNodeId() != 0 {
			if addr, ok := n.store.Resolve(nl.GetLeaderNodeId()); ok {
				nl.LeaderAddr = addr
			}
		}
		return &kvpb.ResponseHeader{Error: d}, nil
	}
	if n.store.Err() != nil {
		return &kvpb.ResponseHeader{Error: &kvpb.Error{
			Message: n.store.Err().Error(),
			Detail:  &kvpb.Error_StoreStopped{StoreStopped: &kvpb.StoreStopped{}},
		}}, nil
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return nil, status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return nil, status.Error(codes.Canceled, err.Error())
	}
	return nil, status.Error(codes.Internal, err.Error())
}
