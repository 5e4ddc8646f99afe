package transport_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"

	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/transport"
)

// inbox is a Handler that hands batches to a channel, as a Store enqueues
// them for its Raft workers.
type inbox chan *kvpb.RaftMessageBatch

func (in inbox) HandleRaftBatch(b *kvpb.RaftMessageBatch) { in <- b }

func (in inbox) HandleSnapshot(ctx context.Context, h *kvpb.SnapshotHeader, next func() (*kvpb.SnapshotChunk, error)) error {
	return fmt.Errorf("no snapshots here")
}

// Two nodes: node 1 sends a Raft message to node 2.
func Example() {
	addrs := map[uint64]string{}
	resolve := func(id uint64) (string, bool) { a, ok := addrs[id]; return a, ok }

	// Node 2 serves the Raft service.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	addrs[2] = l.Addr().String()
	in := make(inbox, 16)
	t2 := transport.New(transport.Config{NodeID: 2, ClusterID: 7, AdvertiseAddr: addrs[2], Handler: in})
	srv := grpc.NewServer(transport.ServerOptions()...)
	t2.Register(srv)
	go srv.Serve(l)
	defer srv.Stop()
	defer t2.Close()

	// Node 1 only sends, so it needs no server here.
	t1 := transport.New(transport.Config{
		NodeID: 1, ClusterID: 7, AdvertiseAddr: "127.0.0.1:7001", LocalHost: "127.0.0.1",
		Resolve:     resolve,
		Unreachable: func(id uint64) { /* raw.ReportUnreachable(replica of id) */ },
	})
	defer t1.Close()

	// In a Ready loop: each raftpb.Message marshalled into a RaftMessage.
	t1.Send(2, []*kvpb.RaftMessage{{
		RangeId: 1,
		From:    &kvpb.ReplicaDescriptor{NodeId: 1, ReplicaId: 1},
		To:      &kvpb.ReplicaDescriptor{NodeId: 2, ReplicaId: 2},
		Message: []byte("marshalled raftpb.Message"),
	}})
	select {
	case b := <-in:
		fmt.Printf("node %d got %d message from node %d (%s): %q\n",
			b.ToNodeId, len(b.Messages), b.FromNodeId, b.FromAddr, b.Messages[0].Message)
	case <-time.After(30 * time.Second):
		fmt.Println("nothing arrived")
	}
	// Output:
	// node 2 got 1 message from node 1 (127.0.0.1:7001): "marshalled raftpb.Message"
}
