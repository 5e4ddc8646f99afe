// Package store is one node's half of the cluster: a Store owns the node's
// engine DB, every Replica the node holds (one per range, by range ID), one
// ticker shared by all of them, and a small pool of workers that run the
// replicas that have work (a message, a tick, a proposal, a read).
//
// Everything a node keeps is in its one DB (docs/format/keys.md): its
// identity, every replica's Raft log and state, every range's replicated
// state and user data. Because all replicas write through one DB, their
// synced writes share fsyncs through the engine's group commit.
//
// Lifecycle: Open reads the directory (identity and replicas, if any);
// Bootstrap or Join gives a new directory its identity; Start begins
// ticking and processing with a Sender (the transport); Close stops it. A
// failed engine write stops the Store for good: Err returns the sticky
// error, Done is closed, and every request fails.
//
// Tests drive a Store by hand: with Config.TickInterval and Config.Workers
// zero nothing runs in the background, and Tick and ProcessPending advance
// it deterministically.
package store
