// Package protoreg lets dkv's and etcd's generated protobuf code live in
// one binary, the cluster benchmark's, which links both clients.
//
// Both register a file descriptor under the same path, "kv.proto": dkv's
// cluster/kvpb (package dkv.kvpb, generated with --proto_path=cluster/kvpb)
// and etcd's api/v3/mvccpb (package mvccpb). Their full names differ, so
// nothing resolves to the wrong type, but the protobuf runtime panics at
// start-up on any registration conflict unless the environment variable
// GOLANG_PROTOBUF_REGISTRATION_CONFLICT says otherwise, and it reads that
// variable during package initialisation, before main runs. This package
// sets it (to "ignore", unless it is set already) in its init, which runs
// before kvpb's and mvccpb's: packages are initialised in import-path
// order among those whose imports are ready (the Go spec, since Go 1.21),
// this one imports only os, and its path sorts before both
// ("github.com/distributedkv/dkv/bench/..." < ".../dkv/cluster/kvpb" <
// "go.etcd.io/..."). Restore unsets it again, so the processes the
// benchmark starts do not inherit it.
//
// The lasting fix is in dkv: a descriptor path of its own for kv.proto
// (protoc run from the repository's root, or a path like dkv/kvpb/kv.proto),
// which any program linking dkv's client with etcd's needs too.
package protoreg

import "os"

const env = "GOLANG_PROTOBUF_REGISTRATION_CONFLICT"

var set bool

func init() {
	if os.Getenv(env) == "" {
		os.Setenv(env, "ignore")
		set = true
	}
}

// Restore unsets the variable if init set it. Call it from main, after
// every package's initialisation.
func Restore() {
	if set {
		os.Unsetenv(env)
		set = false
	}
}
