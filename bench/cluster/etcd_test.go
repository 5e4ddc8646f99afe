package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/distributedkv/dkv/client"
)

// A put that may have been applied counts as ambiguous, like dkv's
// client.ErrAmbiguous; one etcd refused before proposing it is a failure.
func TestEtcdPutError(t *testing.T) {
	for _, tc := range []struct {
		err       error
		ambiguous bool
	}{
		{context.DeadlineExceeded, true},
		{fmt.Errorf("wrapped: %w", context.Canceled), true},
		{rpctypes.ErrTimeout, true},
		{rpctypes.ErrTimeoutDueToLeaderFail, true},
		{rpctypes.ErrTimeoutDueToConnectionLost, true},
		{status.Error(codes.Unavailable, "connection reset"), true},
		{status.Error(codes.DeadlineExceeded, "deadline"), true},
		{status.Error(codes.Unknown, "transport: EOF"), true},
		{rpctypes.ErrNoLeader, false},
		{rpctypes.ErrTooManyRequests, false},
		{rpctypes.ErrNoSpace, false},
		{status.Error(codes.ResourceExhausted, "too big"), false},
		{errors.New("something else"), false},
	} {
		got := etcdPutError(tc.err)
		if errors.Is(got, errAmbiguous) != tc.ambiguous || !errors.Is(got, tc.err) {
			t.Errorf("%v: %v, ambiguous %v", tc.err, got, tc.ambiguous)
		}
	}
	if etcdPutError(nil) != nil {
		t.Error("nil error")
	}
}

// Both systems' errors land in the same columns.
func TestOutcomeKinds(t *testing.T) {
	var o outcome
	for _, err := range []error{nil, client.ErrNotFound, fmt.Errorf("etcd: %w: %q", errNotFound, "k"),
		client.ErrAmbiguous, etcdPutError(context.DeadlineExceeded), rpctypes.ErrNoLeader, errors.New("x")} {
		o.add(err)
	}
	if o.ok != 1 || o.notFound != 2 || o.ambiguous != 2 || o.failed != 2 || o.firstErr != client.ErrNotFound.Error() {
		t.Fatalf("outcome: %+v", o)
	}
}

// Three members on 127.0.0.1, each told the whole cluster.
func TestEtcdArgs(t *testing.T) {
	nodes := etcdNodes("/tmp/b", []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4", "127.0.0.1:5", "127.0.0.1:6"})
	got := etcdArgs("/tmp/b/etcdmember", nodes[1], nodes, "warn", time.Minute)
	want := []string{"/tmp/b/etcdmember", "-name", "e2", "-data-dir", "/tmp/b/e2", "-client-url", "http://127.0.0.1:3",
		"-peer-url", "http://127.0.0.1:4", "-initial-cluster", "e1=http://127.0.0.1:2,e2=http://127.0.0.1:4,e3=http://127.0.0.1:6",
		"-log-level", "warn", "-start-timeout", "1m0s"}
	if !slices.Equal(got, want) || nodes[2].log != "/tmp/b/e3.log" || nodes[0].String() != "etcd member 1" {
		t.Fatalf("args %q\nwant %q", got, want)
	}
	if eps := etcdEndpoints(nodes); !slices.Equal(eps, []string{"http://127.0.0.1:1", "http://127.0.0.1:3", "http://127.0.0.1:5"}) {
		t.Fatalf("endpoints %q", eps)
	}
}

// dkv's and etcd's protobuf files register under different paths
// (cluster/kvpb/kv.proto and kv.proto): a binary linking both starts (this
// test binary is one), and each system's messages resolve to its own.
func TestProtoRegistry(t *testing.T) {
	for _, name := range []protoreflect.FullName{"dkv.kvpb.RangeDescriptor", "mvccpb.KeyValue"} {
		if _, err := protoregistry.GlobalFiles.FindDescriptorByName(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
