package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// fakeKV is a KV server for the tests of the data commands on a cluster:
// a leader holding a sorted map, whose key space is cut into ranges at
// splits (a Scan answers for one range). With follow set it is a follower
// that redirects to that address; with ambiguous set every write answers
// Ambiguous.
type fakeKV struct {
	kvpb.UnimplementedKVServer
	addr string

	mu        sync.Mutex
	m         map[string][]byte
	splits    []string
	follow    string
	ambiguous bool
	calls     int
}

// startKV serves a fake KV node on a loopback port until the test ends.
func startKV(t *testing.T, f *fakeKV) *fakeKV {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f.addr = lis.Addr().String()
	if f.m == nil {
		f.m = map[string][]byte{}
	}
	srv := grpc.NewServer()
	kvpb.RegisterKVServer(srv, f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return f
}

// count returns how many requests the node answered.
func (f *fakeKV) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// header counts a request and returns the header error the node's role
// gives it (nil: serve it).
func (f *fakeKV) header(write bool) *kvpb.ResponseHeader {
	f.calls++
	switch {
	case f.follow != "":
		return &kvpb.ResponseHeader{Error: &kvpb.Error{
			Detail: &kvpb.Error_NotLeader{NotLeader: &kvpb.NotLeader{LeaderAddr: f.follow}}}}
	case f.ambiguous && write:
		return &kvpb.ResponseHeader{Error: &kvpb.Error{Message: "leadership lost",
			Detail: &kvpb.Error_Ambiguous{Ambiguous: &kvpb.Ambiguous{}}}}
	}
	return nil
}

func (f *fakeKV) Get(_ context.Context, req *kvpb.GetRequest) (*kvpb.GetResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h := f.header(false); h != nil {
		return &kvpb.GetResponse{Header: h}, nil
	}
	v, ok := f.m[string(req.Key)]
	return &kvpb.GetResponse{Found: ok, Value: v}, nil
}

func (f *fakeKV) Put(_ context.Context, req *kvpb.PutRequest) (*kvpb.PutResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h := f.header(true); h != nil {
		return &kvpb.PutResponse{Header: h}, nil
	}
	f.m[string(req.Key)] = slices.Clone(req.Value)
	return &kvpb.PutResponse{}, nil
}

func (f *fakeKV) Delete(_ context.Context, req *kvpb.DeleteRequest) (*kvpb.DeleteResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h := f.header(true); h != nil {
		return &kvpb.DeleteResponse{Header: h}, nil
	}
	delete(f.m, string(req.Key))
	return &kvpb.DeleteResponse{}, nil
}

func (f *fakeKV) CompareAndSwap(_ context.Context, req *kvpb.CompareAndSwapRequest) (*kvpb.CompareAndSwapResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h := f.header(true); h != nil {
		return &kvpb.CompareAndSwapResponse{Header: h}, nil
	}
	cur, ok := f.m[string(req.Key)]
	if ok != (req.Old != nil) || !bytes.Equal(cur, req.Old) {
		return &kvpb.CompareAndSwapResponse{}, nil
	}
	if req.New == nil {
		delete(f.m, string(req.Key))
	} else {
		f.m[string(req.Key)] = slices.Clone(req.New)
	}
	return &kvpb.CompareAndSwapResponse{Swapped: true}, nil
}

func (f *fakeKV) Scan(_ context.Context, req *kvpb.ScanRequest) (*kvpb.ScanResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h := f.header(false); h != nil {
		return &kvpb.ScanResponse{Header: h}, nil
	}
	resp := &kvpb.ScanResponse{}
	for _, s := range f.splits {
		if s > string(req.Start) {
			resp.RangeEnd = []byte(s)
			break
		}
	}
	hi := string(req.End)
	if len(resp.RangeEnd) > 0 && (hi == "" || string(resp.RangeEnd) < hi) {
		hi = string(resp.RangeEnd)
	}
	var ks []string
	for k := range f.m {
		if k >= string(req.Start) && (hi == "" || k < hi) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	for _, k := range ks {
		if req.Limit > 0 && len(resp.Kvs) == int(req.Limit) {
			break
		}
		resp.Kvs = append(resp.Kvs, &kvpb.KeyValue{Key: []byte(k), Value: f.m[k]})
	}
	return resp, nil
}

// TestRemoteMatchesOffline: the data commands print the same output and
// exit with the same codes on a cluster (a follower that redirects to a
// leader whose keys are cut into three ranges) as on a database
// directory, for the same sequence of commands: text, -o json, --hex,
// missing keys, cas in every spelling, scans with bounds and limits.
func TestRemoteMatchesOffline(t *testing.T) {
	leader := startKV(t, &fakeKV{splits: []string{"k", "user005"}})
	follower := startKV(t, &fakeKV{follow: leader.addr})
	dir := filepath.Join(t.TempDir(), "db")

	steps := [][]string{
		{"put", "greeting", "hello"},
		{"get", "greeting"},
		{"-o", "json", "get", "greeting"},
		{"get", "nothing"},
		{"-o", "json", "get", "nothing"},
		{"put", "empty", ""},
		{"get", "empty"},
		{"-o", "json", "put", "motd", "hello,  wide world"},
		{"--hex", "put", "62696e00ff", "00ff"},
		{"--hex", "get", "62696e00ff"},
		{"-o", "json", "get", "bin\x00\xff"},
		{"del", "greeting"},
		{"-o", "json", "del", "nothing"},
		{"get", "greeting"},
		{"cas", "--absent", "lock", "me"},
		{"cas", "--absent", "lock", "you"},
		{"-o", "json", "cas", "lock", "you", "them"},
		{"cas", "lock", "me", "you"},
		{"get", "lock"},
		{"cas", "empty", "", "full"},
		{"cas", "--absent", "--delete", "nothing"},
		{"cas", "--absent", "--delete", "lock"},
		{"-o", "json", "cas", "--delete", "lock", "you"},
		{"--hex", "-o", "json", "cas", "--absent", "6b", "76"},
		{"get", "lock"},
		{"put", "user001", "a"}, {"put", "user004", "b"}, {"put", "user005", "c"},
		{"put", "user009", "d"}, {"put", "user010", "e"}, {"put", "zebra", "f"},
		{"scan"},
		{"scan", "--keys-only", "--limit", "0"},
		{"scan", "--prefix", "user00"},
		{"scan", "--start", "user004", "--end", "user010"},
		{"scan", "--start", "user004", "--limit", "3"},
		{"scan", "--start", "user004", "--limit", "5"},
		{"scan", "--start", "user005", "--end", "user005"},
		{"scan", "--prefix", "nothing"},
		{"-o", "json", "scan", "--prefix", "user", "--limit", "2"},
		{"-o", "json", "scan", "--start", "k"},
		{"--hex", "scan", "--start", "75736572303035"},
		{"--hex", "-o", "json", "scan", "--limit", "3"},
		{"-o", "json", "scan"}, // "bin\x00\xff" is not text
		// Usage errors, refused before anything is sent.
		{"put", "", "v"},
		{"cas", "k", "v"},
		{"cas", "--absent", "k", "old", "new"},
		{"scan", "--prefix", "a", "--start", "b"},
		{"scan", "--start", "b", "--end", "a"},
		{"--hex", "get", "6"},
	}
	for _, step := range steps {
		local := invoke(append([]string{"--dir", dir}, step...)...)
		remote := invoke(append([]string{"--endpoints", follower.addr}, step...)...)
		if local.code == exitUsage {
			// The hint names the command either way; the message may
			// name the bound a cluster refuses differently.
			require.Equal(t, exitUsage, remote.code, "%q: %+v", step, remote)
			require.Empty(t, remote.stdout)
			continue
		}
		require.Equal(t, local, remote, "%q", step)
	}
	require.Positive(t, follower.count(), "the follower redirected")
	require.GreaterOrEqual(t, leader.count(), follower.count())
}

// TestRemoteUsage: --dir does not go with --endpoints or DKV_ENDPOINTS,
// the cluster flags do not go without them, and bad endpoints, a bad
// --timeout and --explain are usage errors (exit 2), all before anything
// is sent.
func TestRemoteUsage(t *testing.T) {
	kv := startKV(t, &fakeKV{})
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--dir", "x", "--endpoints", kv.addr, "get", "k"}, "--dir does not go with --endpoints"},
		{[]string{"put", "--endpoints", kv.addr, "k", "v", "--dir", "x"}, "--dir does not go with --endpoints"},
		{[]string{"get", "--timeout", "1s", "k"}, "--timeout goes with --endpoints"},
		{[]string{"get", "--certs-dir", "c", "k"}, "--certs-dir goes with --endpoints"},
		{[]string{"get", "--endpoints", kv.addr, "--user", "bob", "k"}, "--user goes with --certs-dir"},
		{[]string{"get", "--endpoints", "nope", "k"}, `"nope" is not HOST:PORT`},
		{[]string{"get", "--endpoints", " , ", "k"}, "names no endpoint"},
		{[]string{"get", "--endpoints", kv.addr, "--timeout", "0s", "k"}, "--timeout must be positive"},
		{[]string{"get", "--endpoints", kv.addr, "--timeout", "soon", "k"}, "invalid argument"},
		{[]string{"get", "--endpoints", kv.addr, "--explain", "k"}, "--explain"},
		{[]string{"put", "--endpoints", kv.addr, "--explain", "k", "v"}, "--explain"},
		{[]string{"put", "--endpoints", kv.addr, "", "v"}, "empty key"},
		{[]string{"put", "--endpoints", kv.addr, strings.Repeat("k", 4097), "v"}, "exceeds the limit"},
		{[]string{"flush", "--endpoints", kv.addr}, "unknown flag"},
	} {
		r := invoke(tc.args...)
		require.Equal(t, exitUsage, r.code, "%q: %+v", tc.args, r)
		require.Contains(t, r.stderr, tc.msg, "%q", tc.args)
		require.Empty(t, r.stdout)
	}
	require.Zero(t, kv.count())
}

// TestRemoteEnv: DKV_ENDPOINTS stands for --endpoints; with it set, --dir
// is a usage error, and --endpoints wins over it.
func TestRemoteEnv(t *testing.T) {
	kv := startKV(t, &fakeKV{})
	t.Setenv(endpointsEnv, kv.addr)
	require.Equal(t, result{code: exitOK}, invoke("put", "k", "v"))
	require.Equal(t, result{stdout: "v\n", code: exitOK}, invoke("get", "k"))

	r := invoke("--dir", t.TempDir(), "get", "k")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "--dir does not go with DKV_ENDPOINTS")

	other := startKV(t, &fakeKV{})
	require.Equal(t, exitNotFound, invoke("--endpoints", other.addr, "get", "k").code)
	require.Equal(t, 1, other.count())

	t.Setenv(endpointsEnv, "")
	dir := filepath.Join(t.TempDir(), "db")
	require.Equal(t, exitOK, invoke("--dir", dir, "put", "k", "local").code, "empty: on --dir")
}

// TestRemoteFailures: a write whose answer is lost exits 1 saying it may
// or may not have been applied; no node answering exits 1 by --timeout.
func TestRemoteFailures(t *testing.T) {
	kv := startKV(t, &fakeKV{ambiguous: true})
	for _, args := range [][]string{
		{"put", "k", "v"},
		{"del", "k"},
		{"cas", "--absent", "k", "v"},
	} {
		r := invoke(append([]string{"--endpoints", kv.addr}, args...)...)
		require.Equal(t, exitFailure, r.code, "%q", args)
		require.Contains(t, r.stderr, "may or may not have been applied", "%q", args)
		require.Empty(t, r.stdout)
	}
	require.Equal(t, 3, kv.count(), "never retried")

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := lis.Addr().String()
	require.NoError(t, lis.Close())
	for _, args := range [][]string{{"get", "k"}, {"put", "k", "v"}, {"scan"}} {
		r := invoke(append([]string{"--endpoints", down, "--timeout", "300ms"}, args...)...)
		require.Equal(t, exitFailure, r.code, "%q", args)
		require.Contains(t, r.stderr, "deadline exceeded", "%q", args)
		require.NotContains(t, r.stderr, "may or may not", "%q: never sent", args)
	}
}
