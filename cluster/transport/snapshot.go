package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// SnapshotSource yields a snapshot's engine keys in order.
type SnapshotSource interface {
	// Next returns the next pairs, or io.EOF at the end. The transport
	// calls it once per chunk it is about to send, and sends what it
	// returns (split into chunks of SnapshotChunkBytes if larger) before
	// calling it again, so a source that returns about SnapshotChunkBytes
	// per call keeps one chunk in memory. The transport does not keep the
	// returned slice or pairs after sending them.
	Next() ([]*kvpb.KeyValue, error)
}

// SendSnapshot streams a snapshot to node to on a connection of its own,
// and blocks until the receiver answers, ctx is done or the transport
// closes. The header's message (the MsgSnap, its To naming node to) is
// required; the transport sets the header's cluster and sender IDs. It
// returns nil only if the receiver's Handler accepted the snapshot; an
// error wrapping ErrSnapshotRejected if it refused it; ErrFault if a fault
// dropped it; otherwise the failure (a gRPC status error for a refused
// stream, such as codes.FailedPrecondition for another cluster). It never
// calls Config.Unreachable: the caller reports the outcome to Raft.
func (t *Transport) SendSnapshot(ctx context.Context, to uint64, header *kvpb.SnapshotHeader, src SnapshotSource) error {
	err := t.sendSnapshot(ctx, to, header, src)
	if err != nil {
		t.stats.snapFailed.Add(1)
		return err
	}
	t.stats.snapSent.Add(1)
	return nil
}

func (t *Transport) sendSnapshot(ctx context.Context, to uint64, header *kvpb.SnapshotHeader, src SnapshotSource) error {
	if header == nil || header.Message == nil || src == nil {
		return errors.New("transport: SendSnapshot needs a header with a message, and a source")
	}
	t.mu.RLock()
	closed := t.closed
	t.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel)
	defer stop()

	if f := t.cfg.Faults; f != nil {
		drop, delay := f.FilterSnapshot(t.cfg.NodeID, to)
		if drop {
			return fmt.Errorf("transport: snapshot to node %d: %w", to, ErrFault)
		}
		if delay > 0 {
			timer := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				timer.Stop()
				return t.snapshotCtxErr(ctx)
			case <-timer.C:
			}
		}
	}
	addr, ok := t.resolve(to)
	if !ok {
		return fmt.Errorf("%w %d", ErrNoAddress, to)
	}
	conn, err := t.dial(ctx, addr)
	if err != nil {
		if ctx.Err() != nil {
			return t.snapshotCtxErr(ctx)
		}
		return err
	}
	defer conn.Close()
	stream, err := kvpb.NewRaftClient(conn).Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("transport: snapshot to %s: %w", addr, err)
	}
	h := &kvpb.SnapshotHeader{
		ClusterId:  t.cfg.ClusterID,
		FromNodeId: t.cfg.NodeID,
		Message:    header.Message,
		Range:      header.Range,
	}
	// io.EOF from Send: the receiver answered early; its answer (or
	// status) is what CloseAndRecv returns.
	if err := t.sendChunks(stream, h, src); err != nil && !errors.Is(err, io.EOF) {
		if ctx.Err() != nil {
			return t.snapshotCtxErr(ctx)
		}
		return err
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		if ctx.Err() != nil {
			return t.snapshotCtxErr(ctx)
		}
		return fmt.Errorf("transport: snapshot to node %d at %s: %w", to, addr, err)
	}
	if !resp.Accepted {
		return fmt.Errorf("%w by node %d: %s", ErrSnapshotRejected, to, resp.Message)
	}
	return nil
}

// sendChunks sends the header and the source's pairs in chunks of at most
// SnapshotChunkBytes (a larger pair alone), then an empty final chunk. An
// error from the source or a nil pair stops it; the caller's returning
// then cancels the stream, which the receiver sees as a broken snapshot.
func (t *Transport) sendChunks(stream kvpb.Raft_SnapshotClient, h *kvpb.SnapshotHeader, src SnapshotSource) error {
	send := func(kvs []*kvpb.KeyValue, size int, final bool) error {
		c := &kvpb.SnapshotChunk{Header: h, Kvs: kvs, Final: final}
		h = nil // only the first chunk carries it
		if err := stream.Send(c); err != nil {
			return err
		}
		t.stats.snapChunksSent.Add(1)
		t.stats.snapBytesSent.Add(uint64(size))
		return nil
	}
	for {
		kvs, err := src.Next()
		if errors.Is(err, io.EOF) {
			return send(nil, 0, true)
		}
		if err != nil {
			return fmt.Errorf("transport: snapshot source: %w", err)
		}
		for len(kvs) > 0 {
			n, size := 0, 0
			for ; n < len(kvs); n++ {
				kv := kvs[n]
				if kv == nil {
					return errors.New("transport: snapshot source returned a nil key-value pair")
				}
				if n > 0 && size+len(kv.Key)+len(kv.Value) > SnapshotChunkBytes {
					break
				}
				size += len(kv.Key) + len(kv.Value)
			}
			if err := send(kvs[:n], size, false); err != nil {
				return err
			}
			kvs = kvs[n:]
		}
	}
}

// snapshotCtxErr says why ctx, the caller's context merged with the
// transport's, is done.
func (t *Transport) snapshotCtxErr(ctx context.Context) error {
	if t.ctx.Err() != nil {
		return ErrClosed
	}
	return fmt.Errorf("transport: snapshot: %w", context.Cause(ctx))
}
