package transport

import "sync/atomic"

// Stats are a transport's counters since New. Every non-nil message given
// to Send counts once in MessagesQueued or in one of the counters of Send's
// own drops (MessagesDroppedQueue, MessagesDroppedNoPeer,
// MessagesDroppedTooLarge). Every queued message ends in MessagesSent,
// MessagesDroppedFault or MessagesDroppedUnreachable, unless it is still in
// a queue or delayed by a fault.
type Stats struct {
	// MessagesQueued counts messages Send put in a peer's queue.
	MessagesQueued uint64
	// MessagesSent and BatchesSent count what was written to a stream.
	// A message written may still be lost if the stream breaks.
	MessagesSent, BatchesSent uint64
	// MessagesDroppedQueue counts messages Send dropped because the
	// peer's queue was full.
	MessagesDroppedQueue uint64
	// MessagesDroppedNoPeer counts messages Send dropped because the node
	// had no address or the transport was closed.
	MessagesDroppedNoPeer uint64
	// MessagesDroppedTooLarge counts messages larger than
	// MaxRaftMessageBytes.
	MessagesDroppedTooLarge uint64
	// MessagesDroppedFault counts messages the fault interposer dropped.
	MessagesDroppedFault uint64
	// MessagesDroppedUnreachable counts queued (or delayed) messages
	// dropped because the peer's stream was down or broke, or at Close.
	MessagesDroppedUnreachable uint64
	// BatchesDelayed counts batches the fault interposer delayed.
	BatchesDelayed uint64

	// Dials counts connection attempts; StreamFailures counts failed
	// dials and broken streams (each is one Unreachable report).
	Dials, StreamFailures uint64
	// UnreachableReports counts calls of Config.Unreachable.
	UnreachableReports uint64

	// MessagesReceived and BatchesReceived count what was handed to
	// Handler.HandleRaftBatch; StreamsRefused counts incoming streams
	// ended for a bad cluster ID, a wrong destination or bad input.
	MessagesReceived, BatchesReceived, StreamsRefused uint64

	// Snapshots sent: accepted by the receiver, failed (rejected, broken,
	// dropped by a fault), and the chunks and key+value bytes written.
	SnapshotsSent, SnapshotsFailed, SnapshotChunksSent, SnapshotBytesSent uint64
	// Snapshots received: accepted by the Handler, refused, and the
	// chunks and key+value bytes read.
	SnapshotsReceived, SnapshotsRefused, SnapshotChunksReceived, SnapshotBytesReceived uint64
}

type counters struct {
	queued, sent, batches                                            atomic.Uint64
	droppedQueue, droppedNoPeer, droppedTooLarge                     atomic.Uint64
	droppedFault, droppedUnreachable, delayed                        atomic.Uint64
	dials, streamFailures, unreachable                               atomic.Uint64
	received, batchesReceived, streamsRefused                        atomic.Uint64
	snapSent, snapFailed, snapChunksSent, snapBytesSent              atomic.Uint64
	snapReceived, snapRefused, snapChunksReceived, snapBytesReceived atomic.Uint64
}

// Stats returns the transport's counters. Each is read atomically, but not
// all at one instant.
func (t *Transport) Stats() Stats {
	c := &t.stats
	return Stats{
		MessagesQueued:             c.queued.Load(),
		MessagesSent:               c.sent.Load(),
		BatchesSent:                c.batches.Load(),
		MessagesDroppedQueue:       c.droppedQueue.Load(),
		MessagesDroppedNoPeer:      c.droppedNoPeer.Load(),
		MessagesDroppedTooLarge:    c.droppedTooLarge.Load(),
		MessagesDroppedFault:       c.droppedFault.Load(),
		MessagesDroppedUnreachable: c.droppedUnreachable.Load(),
		BatchesDelayed:             c.delayed.Load(),
		Dials:                      c.dials.Load(),
		StreamFailures:             c.streamFailures.Load(),
		UnreachableReports:         c.unreachable.Load(),
		MessagesReceived:           c.received.Load(),
		BatchesReceived:            c.batchesReceived.Load(),
		StreamsRefused:             c.streamsRefused.Load(),
		SnapshotsSent:              c.snapSent.Load(),
		SnapshotsFailed:            c.snapFailed.Load(),
		SnapshotChunksSent:         c.snapChunksSent.Load(),
		SnapshotBytesSent:          c.snapBytesSent.Load(),
		SnapshotsReceived:          c.snapReceived.Load(),
		SnapshotsRefused:           c.snapRefused.Load(),
		SnapshotChunksReceived:     c.snapChunksReceived.Load(),
		SnapshotBytesReceived:      c.snapBytesReceived.Load(),
	}
}
