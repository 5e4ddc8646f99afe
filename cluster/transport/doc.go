// Package transport carries Raft messages and snapshots between the nodes
// of a dkv cluster, over the kvpb.Raft gRPC service.
//
// # Streams
//
// A node's messages to a peer travel on one long-lived client stream
// (Raft.RaftMessages) on a connection the sender dialed itself, from
// Config.LocalHost with an ephemeral port. So on 127.0.0.N a connection's
// source address names the node that opened it, and cutting the
// connections a→b cuts exactly the direction a→b: nothing a sends to b ever
// travels on a connection b dialed. The receiver answers nothing on the
// stream until it ends it, and that end (a refusal, a close, a broken
// connection) is what tells the sender the stream is gone.
//
// Each snapshot travels on a stream of its own (Raft.Snapshot) on a
// connection of its own, so a large snapshot never delays the heartbeats
// of the message stream. The sender asks its SnapshotSource for keys one
// chunk at a time and sends each chunk before asking for the next; the
// receiver's Handler reads chunks one at a time from next(). Neither side
// holds a snapshot whole: gRPC's flow control keeps a fast sender to the
// pace of a slow receiver.
//
// # Queues and batches
//
// Send puts messages in the peer's bounded queue (Config.QueueSize
// messages) and returns at once: a Raft Ready loop never blocks on the
// network. A full queue drops the message and Send returns false; Raft
// retries what is lost. One goroutine per peer takes what the queue holds,
// up to 1 MiB or 1024 messages, into one RaftMessageBatch, and writes it on
// the stream. A write that blocks on gRPC flow control for
// Config.SendTimeout (a peer that stopped reading) breaks the stream.
//
// A failed dial, a refused stream or a broken one is reported through
// Config.Unreachable (once per failure, so the caller can call
// RawNode.ReportUnreachable), and the peer is redialed after a jittered
// backoff from 50 ms growing to 1 s; meanwhile its messages are dropped.
// After a failure a peer is redialed only when there is something to send
// to it, so an idle dead peer costs nothing.
//
// # Ordering
//
// Without faults, the messages Send queues for one peer arrive in the order
// of the Send calls, each at most once: one goroutine drains one FIFO
// queue onto one stream, and the receiver reads a stream in one goroutine.
// A message may be lost (a full queue, a broken stream: everything queued
// or in flight then is gone), and across a redial a message of the new
// stream may be handled before the last ones of the old. Messages to
// different peers are not ordered with each other.
//
// # The receiver
//
// Register puts the Raft service on a grpc.Server built with
// ServerOptions (message sizes up to MaxMessageSize). The receiver
// refuses, with codes.FailedPrecondition naming both IDs, a batch or
// snapshot whose nonzero cluster ID is not its own, or that is addressed
// to another node; it skips empty batches and messages with no bytes, and
// refuses malformed snapshot streams with codes.InvalidArgument. A
// snapshot is accepted only if the Handler returns nil after reading it
// to its final chunk.
//
// # Faults
//
// A Faults value, shared by every transport of an in-process cluster, is
// applied by each sender just before a batch goes on the wire (and before
// a snapshot is dialed): one-way and two-way partitions, isolated nodes, a
// drop probability and a random delay per link. Dropped messages vanish
// silently, as on a lossy network: the stream stays up, nothing is
// reported unreachable, and Stats counts them. Delayed batches are held
// by the sender and may overtake each other. Its decisions are also
// available on their own (FilterBatch, FilterSnapshot) for a simulation
// that does not use gRPC.
//
// # Concurrency and ownership
//
// A Transport is safe for concurrent use. Send takes ownership of the
// messages it is given. Handler methods run on the transport's receiving
// goroutines (one per incoming stream); a batch given to HandleRaftBatch
// is the handler's. Close stops every goroutine the transport started —
// peer senders and incoming-stream receivers — and waits for them; no
// Handler call runs after it returns.
package transport
