package transport

import (
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// Register registers the kvpb.Raft service on s. s should be built with
// ServerOptions. Register at most once per server.
func (t *Transport) Register(s grpc.ServiceRegistrar) {
	kvpb.RegisterRaftServer(s, &server{t: t})
}

// server implements kvpb.RaftServer. Each RPC's work runs in a goroutine
// of the transport's while the gRPC handler goroutine waits for it or for
// Close: returning from the handler is the only way to end a server
// stream, and ending it is what unblocks a Recv.
type server struct {
	kvpb.UnimplementedRaftServer
	t *Transport
}

// serve runs work in a tracked goroutine and returns its result, or
// codes.Unavailable as soon as the transport closes. In that case the
// handler's return ends the stream, which ends work's Recv, and Close
// waits for work to return.
func serve[T any](t *Transport, work func() (T, error)) (T, error) {
	var zero T
	if t.cfg.Handler == nil {
		return zero, status.Error(codes.Unavailable, "transport: this node does not accept Raft traffic yet")
	}
	if !t.track() {
		return zero, status.Error(codes.Unavailable, "transport: closed")
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer t.wg.Done()
		v, err := work()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-t.ctx.Done():
		return zero, status.Error(codes.Unavailable, "transport: closed")
	}
}

// RaftMessages receives one peer's stream of batches.
func (s *server) RaftMessages(stream kvpb.Raft_RaftMessagesServer) error {
	_, err := serve(s.t, func() (struct{}, error) {
		for {
			b, err := stream.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return struct{}{}, nil
				}
				return struct{}{}, err
			}
			if err := s.t.receiveBatch(b); err != nil {
				s.t.stats.streamsRefused.Add(1)
				s.t.logOnce("%v", err)
				return struct{}{}, err
			}
		}
	})
	if err != nil {
		return err
	}
	return stream.SendAndClose(&kvpb.RaftStreamEnd{})
}

// receiveBatch checks a batch and hands its valid messages to the
// Handler. An error ends the stream with its status.
func (t *Transport) receiveBatch(b *kvpb.RaftMessageBatch) error {
	if b == nil {
		return nil
	}
	if err := t.checkCluster("batch", b.ClusterId, b.FromNodeId); err != nil {
		return err
	}
	if b.ToNodeId != t.cfg.NodeID {
		return status.Errorf(codes.FailedPrecondition,
			"transport: a batch from node %d is addressed to node %d, but this is node %d", b.FromNodeId, b.ToNodeId, t.cfg.NodeID)
	}
	valid := 0
	for _, m := range b.Messages {
		if m != nil && len(m.Message) > 0 {
			valid++
		}
	}
	// A batch without messages still says its sender is alive: the
	// Store's node pings are such batches (its liveness keeps quiesced
	// ranges' followers watching their leader's node).
	if valid < len(b.Messages) {
		msgs := make([]*kvpb.RaftMessage, 0, valid)
		for _, m := range b.Messages {
			if m != nil && len(m.Message) > 0 {
				msgs = append(msgs, m)
			}
		}
		b.Messages = msgs
	}
	t.stats.batchesReceived.Add(1)
	t.stats.received.Add(uint64(valid))
	t.cfg.Handler.HandleRaftBatch(b)
	return nil
}

// checkCluster refuses what carries a nonzero cluster ID other than this
// node's.
func (t *Transport) checkCluster(what string, id, from uint64) error {
	if id != 0 && id != t.cfg.ClusterID {
		return status.Errorf(codes.FailedPrecondition,
			"transport: a %s from node %d belongs to cluster %d, but node %d belongs to cluster %d",
			what, from, id, t.cfg.NodeID, t.cfg.ClusterID)
	}
	return nil
}

// Snapshot receives one snapshot stream and answers whether the Handler
// accepted it.
func (s *server) Snapshot(stream kvpb.Raft_SnapshotServer) error {
	resp, err := serve(s.t, func() (*kvpb.SnapshotResponse, error) {
		return s.t.receiveSnapshot(stream)
	})
	if err != nil {
		s.t.stats.snapRefused.Add(1)
		return err
	}
	return stream.SendAndClose(resp)
}

// receiveSnapshot checks the first chunk's header, then lets the Handler
// read the chunks. A malformed stream is an error status; a snapshot the
// Handler refuses (or that broke off) is a response with accepted false.
func (t *Transport) receiveSnapshot(stream kvpb.Raft_SnapshotServer) (*kvpb.SnapshotResponse, error) {
	first, err := stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, status.Error(codes.InvalidArgument, "transport: an empty snapshot stream")
		}
		return nil, err
	}
	h := first.GetHeader()
	if h == nil {
		return nil, status.Error(codes.InvalidArgument, "transport: a snapshot's first chunk has no header")
	}
	if err := t.checkCluster("snapshot", h.ClusterId, h.FromNodeId); err != nil {
		t.logOnce("%v", err)
		return nil, err
	}
	if h.Message == nil || len(h.Message.Message) == 0 || h.Message.To == nil {
		return nil, status.Errorf(codes.InvalidArgument, "transport: a snapshot from node %d has no Raft message", h.FromNodeId)
	}
	if to := h.Message.To.NodeId; to != t.cfg.NodeID {
		return nil, status.Errorf(codes.FailedPrecondition,
			"transport: a snapshot from node %d is addressed to node %d, but this is node %d", h.FromNodeId, to, t.cfg.NodeID)
	}
	r := &snapshotReader{t: t, stream: stream, pending: first}
	err = t.cfg.Handler.HandleSnapshot(stream.Context(), h, r.next)
	switch {
	case err != nil:
	case r.err != nil:
		err = r.err
	case !r.done:
		err = errors.New("transport: the snapshot handler returned before the final chunk")
	}
	if err != nil {
		t.stats.snapRefused.Add(1)
		return &kvpb.SnapshotResponse{Accepted: false, Message: err.Error()}, nil
	}
	t.stats.snapReceived.Add(1)
	return &kvpb.SnapshotResponse{Accepted: true}, nil
}

// snapshotReader is the next function a Handler gets: it reads one chunk
// from the stream per call, so the snapshot is never held whole.
type snapshotReader struct {
	t       *Transport
	stream  kvpb.Raft_SnapshotServer
	pending *kvpb.SnapshotChunk // the first chunk, read for its header
	done    bool                // the final chunk was read
	err     error               // sticky: the stream broke or was malformed
}

func (r *snapshotReader) next() (*kvpb.SnapshotChunk, error) {
	for {
		if r.err != nil {
			return nil, r.err
		}
		if r.done {
			return nil, io.EOF
		}
		c := r.pending
		r.pending = nil
		if c == nil {
			var err error
			if c, err = r.stream.Recv(); err != nil {
				if errors.Is(err, io.EOF) {
					err = fmt.Errorf("transport: the snapshot stream ended before its final chunk: %w", io.ErrUnexpectedEOF)
				}
				r.err = err
				return nil, err
			}
		}
		size := 0
		for _, kv := range c.Kvs {
			if kv == nil {
				r.err = errors.New("transport: a snapshot chunk holds a nil key-value pair")
				return nil, r.err
			}
			size += len(kv.Key) + len(kv.Value)
		}
		r.t.stats.snapChunksReceived.Add(1)
		r.t.stats.snapBytesReceived.Add(uint64(size))
		r.done = c.Final
		if len(c.Kvs) > 0 {
			return c, nil
		}
	}
}
