package client

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/internal/leaktest"
)

// TestMain runs the tests, then checks that none left a goroutine of gRPC
// or of the client running: every test stops its servers and closes its
// clients.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leaktest.Leaked(10*time.Second, "google.golang.org/grpc", "dkv/client."); leaked != "" {
			fmt.Fprintf(os.Stderr, "FAIL: goroutines still run after every test ended:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// role is how a fake node answers every request, after its script.
type role int

const (
	leader    role = iota // serves from its data
	follower              // answers NotLeader with its hint
	ambiguous             // answers Ambiguous
	hang                  // answers nothing until the caller gives up
	stopped               // answers StoreStopped
)

// reply is one scripted answer: a header error, or a gRPC error.
type reply struct {
	hdr *kvpb.Error
	err error
}

// fakeData is the data a fake leader serves.
type fakeData struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newFakeData() *fakeData { return &fakeData{m: map[string][]byte{}} }

// fakeNode is a KV server with scripted behaviour on a loopback port.
type fakeNode struct {
	kvpb.UnimplementedKVServer
	addr string
	data *fakeData

	mu     sync.Mutex
	role   role
	hint   string   // a follower's leader address ("": unknown)
	script []reply  // answered first, one per request
	splits []string // range boundaries for Scan, sorted (none: one range)
	page   int      // Scan: at most this many keys per answer (0: no cap)
	calls  map[string]int
	cas    []*kvpb.CompareAndSwapRequest // as received
	scans  []*kvpb.ScanRequest           // as received
}

// startNode serves a fake node until the test ends.
func startNode(t *testing.T, r role, data *fakeData, opts ...grpc.ServerOption) *fakeNode {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeNode{addr: lis.Addr().String(), data: data, role: r, calls: map[string]int{}}
	serve(t, f, lis, opts...)
	return f
}

// serve serves f on lis until the test ends.
func serve(t *testing.T, f *fakeNode, lis net.Listener, opts ...grpc.ServerOption) *grpc.Server {
	srv := grpc.NewServer(opts...)
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
	return srv
}

// downAddr returns a loopback address where nothing listens.
func downAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	return addr
}

// silentAddr returns a loopback address that accepts connections and
// never speaks: a connection to it never becomes ready.
func silentAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		lis.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return lis.Addr().String()
}

func (f *fakeNode) set(r role, hint string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.role, f.hint = r, hint
}

func (f *fakeNode) push(rs ...reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, rs...)
}

func (f *fakeNode) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// enter counts a request and returns the answer its script or role gives:
// a header error or a gRPC error; neither when it is to be served.
func (f *fakeNode) enter(ctx context.Context, method string) (*kvpb.ResponseHeader, error) {
	f.mu.Lock()
	f.calls[method]++
	if len(f.script) > 0 {
		r := f.script[0]
		f.script = f.script[1:]
		f.mu.Unlock()
		if r.err != nil {
			return nil, r.err
		}
		return &kvpb.ResponseHeader{Error: r.hdr}, nil
	}
	r, hint := f.role, f.hint
	f.mu.Unlock()
	switch r {
	case follower:
		return &kvpb.ResponseHeader{Error: &kvpb.Error{Message: "not the leader",
			Detail: &kvpb.Error_NotLeader{NotLeader: &kvpb.NotLeader{RangeId: 1, LeaderAddr: hint}}}}, nil
	case ambiguous:
		return &kvpb.ResponseHeader{Error: &kvpb.Error{Message: "proposal dropped by a lost leadership",
			Detail: &kvpb.Error_Ambiguous{Ambiguous: &kvpb.Ambiguous{}}}}, nil
	case stopped:
		return &kvpb.ResponseHeader{Error: &kvpb.Error{
			Detail: &kvpb.Error_StoreStopped{StoreStopped: &kvpb.StoreStopped{}}}}, nil
	case hang:
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return nil, nil
}

func (f *fakeNode) Get(ctx context.Context, req *kvpb.GetRequest) (*kvpb.GetResponse, error) {
	if hdr, err := f.enter(ctx, "Get"); hdr != nil || err != nil {
		return &kvpb.GetResponse{Header: hdr}, err
	}
	f.data.mu.Lock()
	defer f.data.mu.Unlock()
	v, ok := f.data.m[string(req.Key)]
	return &kvpb.GetResponse{Header: &kvpb.ResponseHeader{}, Found: ok, Value: v}, nil
}

func (f *fakeNode) Put(ctx context.Context, req *kvpb.PutRequest) (*kvpb.PutResponse, error) {
	if hdr, err := f.enter(ctx, "Put"); hdr != nil || err != nil {
		return &kvpb.PutResponse{Header: hdr}, err
	}
	f.data.mu.Lock()
	defer f.data.mu.Unlock()
	f.data.m[string(req.Key)] = append([]byte{}, req.Value...)
	return &kvpb.PutResponse{Header: &kvpb.ResponseHeader{}}, nil
}

func (f *fakeNode) Delete(ctx context.Context, req *kvpb.DeleteRequest) (*kvpb.DeleteResponse, error) {
	if hdr, err := f.enter(ctx, "Delete"); hdr != nil || err != nil {
		return &kvpb.DeleteResponse{Header: hdr}, err
	}
	f.data.mu.Lock()
	defer f.data.mu.Unlock()
	delete(f.data.m, string(req.Key))
	return &kvpb.DeleteResponse{Header: &kvpb.ResponseHeader{}}, nil
}

func (f *fakeNode) CompareAndSwap(ctx context.Context, req *kvpb.CompareAndSwapRequest) (*kvpb.CompareAndSwapResponse, error) {
	f.mu.Lock()
	f.cas = append(f.cas, req)
	f.mu.Unlock()
	if hdr, err := f.enter(ctx, "CompareAndSwap"); hdr != nil || err != nil {
		return &kvpb.CompareAndSwapResponse{Header: hdr}, err
	}
	f.data.mu.Lock()
	defer f.data.mu.Unlock()
	cur, ok := f.data.m[string(req.Key)]
	// An unset old (nil) requires the key to be absent.
	if ok != (req.Old != nil) || !bytes.Equal(cur, req.Old) {
		return &kvpb.CompareAndSwapResponse{Header: &kvpb.ResponseHeader{}}, nil
	}
	if req.New == nil {
		delete(f.data.m, string(req.Key))
	} else {
		f.data.m[string(req.Key)] = append([]byte{}, req.New...)
	}
	return &kvpb.CompareAndSwapResponse{Header: &kvpb.ResponseHeader{}, Swapped: true}, nil
}

// Scan answers for the range that holds req.Start: its keys in [start,
// min(end, range end)), at most limit (and page) of them.
func (f *fakeNode) Scan(ctx context.Context, req *kvpb.ScanRequest) (*kvpb.ScanResponse, error) {
	f.mu.Lock()
	f.scans = append(f.scans, req)
	splits, page := f.splits, f.page
	f.mu.Unlock()
	if hdr, err := f.enter(ctx, "Scan"); hdr != nil || err != nil {
		return &kvpb.ScanResponse{Header: hdr}, err
	}
	var rangeEnd []byte
	if i := sort.SearchStrings(splits, string(req.Start)+"\x00"); i < len(splits) {
		// The first boundary above start ends its range.
		rangeEnd = []byte(splits[i])
	}
	hi := req.End
	if len(rangeEnd) > 0 && (len(hi) == 0 || bytes.Compare(rangeEnd, hi) < 0) {
		hi = rangeEnd
	}
	f.data.mu.Lock()
	var ks []string
	for k := range f.data.m {
		if k >= string(req.Start) && (len(hi) == 0 || k < string(hi)) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	resp := &kvpb.ScanResponse{Header: &kvpb.ResponseHeader{}, RangeEnd: rangeEnd}
	for _, k := range ks {
		if req.Limit > 0 && len(resp.Kvs) == int(req.Limit) {
			break
		}
		if page > 0 && len(resp.Kvs) == page {
			// Capped: the scan continues after the last key returned.
			resp.RangeEnd = append([]byte(resp.Kvs[len(resp.Kvs)-1].Key), 0)
			break
		}
		resp.Kvs = append(resp.Kvs, &kvpb.KeyValue{Key: []byte(k), Value: f.data.m[k]})
	}
	f.data.mu.Unlock()
	return resp, nil
}

// newClient returns a client of endpoints, closed when the test ends.
func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// testContext returns a context that ends after d, or when the test ends.
func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
