// Package server is a dkv node: a Store (its replicas and engine), the
// transport to its peers, the gRPC services clients, operators and peers
// call (KV, Admin, Raft) on --addr, and the HTTP listener on --http
// (/healthz and the JSON API under /api/v1/).
//
// Start opens the node's directory and brings it up in one of three ways:
// a new directory with a bootstrap member list (--cluster), a new directory
// joining a running cluster (--join), or a directory that already has an
// identity (a restart). Stop drains in-flight requests and shuts down;
// Done is closed if the Store stopped on an engine error, after which the
// node acknowledges nothing and its owner should exit non-zero.
package server
