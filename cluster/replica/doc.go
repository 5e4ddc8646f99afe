// Package replica is one range's member of its Raft group on one node: a
// Replica drives an etcd raft RawNode, persists its log through raftlog,
// applies committed commands to the node's engine, serves linearizable
// reads through ReadIndex, and sends and installs snapshots.
//
// The mental model is raft's README loop, run by the Store's workers:
//
//	Process:  step queued messages, ticks and proposals into the RawNode;
//	          while it has a Ready:
//	            install its snapshot, if any (one engine Ingest)
//	            append its entries and HardState (one synced batch)
//	            send its messages
//	            apply its committed entries (one batch, applied index inside)
//	            answer the proposals and reads they complete
//	            Advance
//
// Files by concern: replica.go (the type, its queues, status), ready.go
// (the loop), propose.go (writes), read.go (ReadIndex), apply.go (the state
// machine), confchange.go (membership), snapshot.go (sending, receiving,
// installing).
//
// Concurrency: any goroutine may call Propose, Read, Step, Tick and the
// status methods; they only queue work and ask the Store to schedule the
// replica (Config.Schedule). Process is called by one worker at a time (the
// Store guarantees it) and is the only code that touches the RawNode.
//
// Errors a request may get are *Error values carrying a kvpb.Error (not
// leader with a hint, key not in range, epoch mismatch, ambiguous, stopped):
// what the client needs to recover.
package replica
