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
// and perhaps, below the truncated index, the entries the last truncation
// gave up (see below), which nothing reads.
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
// Applied(p), the Storage keeps reporting what it reported before — raft
// never sees an entry that is not durable — even after the batch is
// written: the entries an Append overwrites or deletes are held in the
// cache (read from the engine first if need be, and pinned there) until
// it is Applied, and a Truncate only deletes the entries that earlier
// truncations gave up, so the entries it gives up stay in the engine
// until the next one (Open ignores them). Each Pending is based on the log
// as the outstanding ones will leave it, so several may share a batch (an
// Append, then a Truncate); they must be Applied in the order they were
// issued.
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
// The code: storage.go (Open and the raft.Storage reads), write.go
// (Append, Truncate, Pending, Applied, ApplySnapshot), cache.go (the entry
// cache), state.go (the values' encoders and decoders, Load* and Write*
// helpers for the keys that are not the log, CorruptionError).
//
// # Errors
//
// A value under one of these keys that does not decode, or contradicts
// its key or the rest of the state, is a *CorruptionError naming the key,
// matching errors.Is(err, dkv.ErrCorruption); nothing here panics on bytes
// from disk. Raft itself panics on any Storage error other than
// raft.ErrCompacted and raft.ErrUnavailable. Misuse (Applied out of order,
// ApplySnapshot with Pendings outstanding) is a programmer's error and
// panics. A batch holding Pendings that is not written (its write failed:
// the engine then refuses every write) leaves the Storage ahead of the
// engine: open a new one once the engine is reopened.
//
// # Concurrency
//
// A Storage is safe for concurrent use. Its mutex guards only memory and
// is held across an engine read only by Append and Truncate (to read what
// they overwrite, or a term the cache lacks). LastIndex, FirstIndex,
// HardState, TruncatedState, AppliedIndex, InitialState, Snapshot and
// Metrics never read the engine.
//
// Raft calls the Storage from the goroutine that also writes its batches
// and calls Applied and ApplySnapshot; for that goroutine every answer is
// exactly the state of the batches Applied. Another goroutine calling
// Entries or Term reads the engine without the mutex, so it may race with
// that goroutine's writes: an entry truncated meanwhile is reported as
// raft.ErrCompacted, one deleted by a shorter overwrite as
// raft.ErrUnavailable, one overwritten may come back in its new version,
// and an entry read while a snapshot is being ingested (before
// ApplySnapshot) may be reported missing, as a *CorruptionError.
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
