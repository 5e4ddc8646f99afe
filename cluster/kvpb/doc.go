// Package kvpb holds the cluster's gRPC services and protobuf messages:
// the KV service clients call, the Admin service operators and joining
// nodes call, the Raft service nodes call on each other, the Command a Raft
// entry carries, and the records a node stores in its engine. kv.proto is
// the source; kv.pb.go and kv_grpc.pb.go are generated from it (`make
// proto`) and committed.
//
// Raft's own messages (raftpb.Message, raftpb.HardState, raftpb.Entry) are
// carried as bytes, marshalled with raftpb's generated code: they never
// pass through this package's types.
package kvpb
