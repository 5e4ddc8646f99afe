// Package raftlog is raft.Storage for one replica over a node's shared
// engine: the Raft log, HardState and truncated state of one range, kept
// under the range's unreplicated keys (docs/format/keys.md), and the
// applied state raft's snapshots are made of.
//
// # The model
//
// The engine holds, for range R:
//
//	\x02 R uh            raftpb.HardState
//	\x02 R ut            kvpb.TruncatedState {index, term}: the entry before the first
//	\x02 R ul <index>    raftpb.Entry, for every index in (truncated index, last index]
//	\x02 R ra            kvpb.AppliedState (written by the replica's apply, not here)
//
// A Storage is that state in memory: the HardState, the truncated state,
// the last index, the applied index, term and ConfState, and a cache of the
// newest entries (Options.CacheBytes, by default DefaultCacheBytes), which
// is what the Ready loop reads back when it applies entries it has just
// written or sends them to followers. Reads of older entries (a follower
// catching up, entries to apply after a restart) go to the engine. The
// first index is the truncated index + 1; an empty log has last index =
// truncated index. An uninitialized replica (no keys at all) has the empty
// HardState and ConfState, first index 1, last index 0.
//
// Writes never go to the engine directly: Append and Truncate write into a
// batch the caller owns (so that a Ready's entries and HardState are one
// synced write, shared by group commit with every other replica's) and
// return a Pending. Until the caller has written the batch and called
// Applied(p), the Storage keeps reporting what it reported before: raft
// never sees an entry that is not durable. Each Pending is based on the
// log as the outstanding ones will leave it, so several may share a batch
// (an Append, then a Truncate); they must be Applied in the order they
// were issued.
//
// A snapshot is the replica's business: it ingests the range's data, its
// replicated keys, a new HardState, truncated state and applied state (all
// at the snapshot's index), then calls ApplySnapshot so that the Storage
// reports them. Snapshot itself returns metadata only (the applied index,
// its term and ConfState); the transport streams the data from an engine
// snapshot.
//
// # Order of calls in a Ready loop
//
//  1. If the Ready has a snapshot: ingest it, then ApplySnapshot(meta, hs),
//     with no Pending outstanding.
//  2. Append(b, rd.HardState, rd.Entries) into a batch; write it synced;
//     Applied(p). Only then send the Ready's messages.
//  3. Apply rd.CommittedEntries with the applied state
//     (WriteAppliedState) in one batch; SetApplied(index, term, cs).
//  4. Truncate (into a synced batch written after the apply batches it
//     relies on); Applied(p).
//
// # Errors
//
// A value under one of these keys that does not decode, or contradicts
// its key or the rest of the state, is a *CorruptionError naming the key,
// matching errors.Is(err, dkv.ErrCorruption); nothing here panics on bytes
// from disk. Raft itself panics on any Storage error other than
// raft.ErrCompacted and raft.ErrUnavailable. Misuse (Applied out of order,
// ApplySnapshot with Pendings outstanding) is a programmer's error and
// panics.
//
// # Concurrency
//
// A Storage is safe for concurrent use. Its mutex guards only memory; it
// is never held across an engine read, so LastIndex, FirstIndex,
// HardState, TruncatedState, Snapshot and Metrics never wait for I/O.
// Raft calls the Storage from the goroutine that also writes its batches
// and calls Applied and ApplySnapshot, and for that goroutine every
// answer is exactly the state of the batches Applied. Another goroutine
// reading entries through Entries or Term may see the engine run ahead
// of the Storage between a batch's write and its Applied: a truncation
// or a shorter overwrite then shows as raft.ErrCompacted or
// raft.ErrUnavailable, an overwritten entry as its new version, and a
// snapshot being ingested as a missing entry (a *CorruptionError).
//
// # Ownership
//
// Entries returns a slice the caller owns, holding entries shared with
// the cache and with other callers: nobody may mutate them. Append keeps
// the entries it is given, which must not be mutated afterwards (raft's
// contract for Ready.Entries). Every other message returned (HardState,
// TruncatedState, InitialState, Snapshot) is a copy the caller owns, and
// every message passed in is copied.
package raftlog
