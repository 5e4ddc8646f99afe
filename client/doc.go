// Package client is the Go client of a dkv cluster: Put, Get, Delete,
// CompareAndSwap and Scan against the nodes' KV service (cluster/kvpb).
//
// # Mental model
//
// The key space is cut into ranges, each replicated by its own Raft group;
// a request must reach the leader of its key's range. The client is given
// a few endpoints (any nodes; one that answers is enough) and learns the
// rest: a node that does not lead answers NotLeader with the leader's
// address, and the client retries there and remembers it. What it learns
// lives in a range cache keyed by start key (rangecache.go): while the
// cluster has one range, one entry for the whole key space holds its
// leader; the range descriptors that nodes return with KeyNotInRange and
// EpochNotMatch cut it into ranges.
//
// # Errors and retries
//
// A call retries, with a short jittered exponential pause, until it
// succeeds, fails for good, or its context ends; it returns by its
// context's deadline (Config.RequestTimeout when the context has none).
//
//   - Reads (Get, Scan) change nothing and are retried on any failure:
//     another node, a broken connection, a node that is not the leader or
//     has stopped. One attempt gets half the time left (at least a
//     second), so that a node that hangs leaves time to ask another.
//   - Writes (Put, Delete, CompareAndSwap) are sent again only when the
//     previous attempt is known not to have been applied: the node
//     answered NotLeader, RangeNotFound, KeyNotInRange, EpochNotMatch or
//     StoreStopped (each means it refused the request before proposing
//     it), or the connection was never ready, so nothing was sent (a
//     request goes out only on a connection in the Ready state).
//   - A write whose request may have reached a node and whose answer did
//     not come back (a timeout, a broken connection, a node's Ambiguous
//     answer) returns an error matching ErrAmbiguous, at once, never
//     retried: it may or may not have been applied. errors.Is also
//     matches context.DeadlineExceeded when the deadline was the cause.
//     The client then forgets that node as the leader, so that the next
//     call does not wait on it again.
//   - A deadline that passes before a write was sent returns an error
//     matching the context's error, and not ErrAmbiguous: the write was
//     not applied.
//   - Keys and values the cluster cannot store (keys.CheckUserKey,
//     keys.CheckValue: empty or oversized keys, oversized values) are
//     refused before anything is sent; a node's InvalidArgument status
//     becomes an error with its message. Neither is retried.
//
// # What the client relies on from a node
//
// A response header's Error says, by its detail, whether a write was
// applied: NotLeader, RangeNotFound, KeyNotInRange, EpochNotMatch and
// StoreStopped mean "refused before proposing: not applied"; Ambiguous,
// or an Error without a detail, means "may have been applied". A
// NotLeader names the leader's address when the node knows it
// (leader_addr, as clients dial it). Bad input is a gRPC InvalidArgument
// status, never a header error. A Scan answer holds the keys of one range
// in [start, min(end, range_end)), in order, at most limit of them; the
// client continues at range_end (or, when the answer holds limit keys,
// just after its last key), so a node that returns fewer keys for another
// reason (a cap on the answer's size) sets range_end to the key after the
// last one it returned. A node keeps a Scan answer under 16 MiB.
//
// # Concurrency and ownership
//
// A *Client is safe for concurrent use by many goroutines; make one per
// cluster and share it. The slices a call returns are the caller's; the
// client does not keep the slices it is given past the call.
//
// nil and empty differ only in CompareAndSwap: an old of nil requires the
// key to be absent and a new of nil deletes it, while []byte{} is the empty
// value, which a key may hold.
package client
