package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// rawClient dials n as a peer that is not a Transport: it can send
// anything.
func rawClient(t *testing.T, n *node) kvpb.RaftClient {
	conn, err := grpc.NewClient("passthrough:///"+n.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return kvpb.NewRaftClient(conn)
}

// sendBatches sends batches on one stream and returns how it ended.
func sendBatches(t *testing.T, c kvpb.RaftClient, batches ...*kvpb.RaftMessageBatch) error {
	stream, err := c.RaftMessages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		if err := stream.Send(b); err != nil {
			break // the status comes from CloseAndRecv
		}
	}
	_, err = stream.CloseAndRecv()
	return err
}

// sendChunks sends snapshot chunks on one stream and returns the answer.
func sendChunks(t *testing.T, c kvpb.RaftClient, chunks ...*kvpb.SnapshotChunk) (*kvpb.SnapshotResponse, error) {
	stream, err := c.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chunks {
		if err := stream.Send(ch); err != nil {
			break
		}
	}
	return stream.CloseAndRecv()
}

func wantStatus(t *testing.T, what string, err error, code codes.Code, texts ...string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("%s: %v, want code %v", what, err, code)
	}
	for _, s := range texts {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("%s: %q does not mention %q", what, err, s)
		}
	}
}

// A batch or snapshot of another cluster, or for another node, is refused
// with FailedPrecondition naming both IDs; a cluster ID of 0 is accepted.
func TestWrongClusterOrNode(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1)
	n := c.node(1)
	rc := rawClient(t, n)
	err := sendBatches(t, rc, &kvpb.RaftMessageBatch{ClusterId: 99, FromNodeId: 5, ToNodeId: 1, Messages: []*kvpb.RaftMessage{msg(5, 1, 0)}})
	wantStatus(t, "another cluster's batch", err, codes.FailedPrecondition, "cluster 99", fmt.Sprintf("cluster %d", c.clusterID))
	err = sendBatches(t, rc, &kvpb.RaftMessageBatch{ClusterId: c.clusterID, FromNodeId: 5, ToNodeId: 3, Messages: []*kvpb.RaftMessage{msg(5, 3, 0)}})
	wantStatus(t, "a batch for another node", err, codes.FailedPrecondition, "node 3", "node 1")
	if err := sendBatches(t, rc, &kvpb.RaftMessageBatch{FromNodeId: 5, ToNodeId: 1, Messages: []*kvpb.RaftMessage{msg(5, 1, 0)}}); err != nil {
		t.Fatalf("a batch without a cluster ID: %v", err)
	}
	if got := len(n.rec.from(5)); got != 1 {
		t.Fatalf("handler got %d messages, want 1", got)
	}

	h := snapHeader(5, 1)
	h.ClusterId, h.FromNodeId = 99, 5
	_, err = sendChunks(t, rc, &kvpb.SnapshotChunk{Header: h, Final: true})
	wantStatus(t, "another cluster's snapshot", err, codes.FailedPrecondition, "cluster 99", fmt.Sprintf("cluster %d", c.clusterID))
	h = snapHeader(5, 3)
	_, err = sendChunks(t, rc, &kvpb.SnapshotChunk{Header: h, Final: true})
	wantStatus(t, "a snapshot for another node", err, codes.FailedPrecondition, "node 3", "node 1")
	if s := n.tr.Stats(); s.StreamsRefused != 2 || s.SnapshotsRefused != 2 {
		t.Fatalf("stats: %+v", s)
	}

	// Between transports: the sender learns through Unreachable (batches)
	// or SendSnapshot's error.
	other := c.start(2, func(cfg *Config) { cfg.ClusterID = 8 })
	other.tr.Send(1, []*kvpb.RaftMessage{msg(2, 1, 0)})
	eventually(t, "node 2 to report node 1 unreachable", func() bool { return other.unreachableCount(1) > 0 })
	if got := len(n.rec.from(2)); got != 0 {
		t.Fatalf("node 1 took %d messages from another cluster", got)
	}
	err = other.tr.SendSnapshot(context.Background(), 1, snapHeader(2, 1), &sliceSource{})
	wantStatus(t, "SendSnapshot to another cluster", err, codes.FailedPrecondition, "cluster 8")
}

// Malformed input never panics: empty messages are dropped (a batch left
// empty still reaches the handler: it is a node's ping), the stream goes
// on; malformed snapshot streams are refused.
func TestServerBadInput(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1)
	n := c.node(1)
	rc := rawClient(t, n)
	ok := msg(5, 1, 0)
	err := sendBatches(t, rc,
		&kvpb.RaftMessageBatch{ToNodeId: 1},
		&kvpb.RaftMessageBatch{ToNodeId: 1, Messages: []*kvpb.RaftMessage{{}, {RangeId: 3}}},
		&kvpb.RaftMessageBatch{FromNodeId: 5, ToNodeId: 1, Messages: []*kvpb.RaftMessage{{}, ok, {}}},
	)
	if err != nil {
		t.Fatalf("the stream with empty input ended with %v", err)
	}
	if got := n.rec.from(5); len(got) != 1 || got[0] != string(ok.Message) {
		t.Fatalf("handler got %q", got)
	}
	n.rec.mu.Lock()
	batches := n.rec.batches
	n.rec.mu.Unlock()
	if batches != 3 {
		t.Fatalf("handler got %d batches, want 3 (empty ones are pings)", batches)
	}

	_, err = sendChunks(t, rc)
	wantStatus(t, "an empty snapshot stream", err, codes.InvalidArgument)
	_, err = sendChunks(t, rc, &kvpb.SnapshotChunk{Kvs: []*kvpb.KeyValue{{Key: []byte("a")}}})
	wantStatus(t, "a snapshot without a header", err, codes.InvalidArgument)
	_, err = sendChunks(t, rc, &kvpb.SnapshotChunk{Header: &kvpb.SnapshotHeader{FromNodeId: 5}})
	wantStatus(t, "a snapshot header without a message", err, codes.InvalidArgument)
	_, err = sendChunks(t, rc, &kvpb.SnapshotChunk{Header: &kvpb.SnapshotHeader{Message: &kvpb.RaftMessage{Message: []byte("x")}}})
	wantStatus(t, "a snapshot message without a destination", err, codes.InvalidArgument)

	// A stream that ends without its final chunk, or holds an empty
	// pair, reaches the handler as an error, and is refused.
	var handlerErrs []error
	n.rec.setSnapshot(func(ctx context.Context, h *kvpb.SnapshotHeader, next func() (*kvpb.SnapshotChunk, error)) error {
		for {
			if _, err := next(); err != nil {
				handlerErrs = append(handlerErrs, err)
				return nil // claims acceptance: the transport must still refuse
			}
		}
	})
	resp, err := sendChunks(t, rc, &kvpb.SnapshotChunk{Header: snapHeader(5, 1), Kvs: []*kvpb.KeyValue{{Key: []byte("a")}}})
	if err != nil || resp.Accepted {
		t.Fatalf("a snapshot without its final chunk: %v, %v", resp, err)
	}
	resp, err = sendChunks(t, rc, &kvpb.SnapshotChunk{Header: snapHeader(5, 1), Kvs: []*kvpb.KeyValue{{}}, Final: true})
	if err != nil || !resp.Accepted {
		// An empty key is the handler's to judge, not the transport's.
		t.Fatalf("a snapshot with an empty pair: %v, %v", resp, err)
	}
	if len(handlerErrs) != 2 || !strings.Contains(handlerErrs[0].Error(), "before its final chunk") || !errors.Is(handlerErrs[1], io.EOF) {
		t.Fatalf("handler errors: %v", handlerErrs)
	}
}

// A transport without a Handler refuses incoming streams.
func TestNoHandler(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t)
	n := c.start(1, func(cfg *Config) { cfg.Handler = nil })
	err := sendBatches(t, rawClient(t, n), &kvpb.RaftMessageBatch{ToNodeId: 1, Messages: []*kvpb.RaftMessage{msg(5, 1, 0)}})
	wantStatus(t, "a stream to a node without a handler", err, codes.Unavailable)
}
