package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
)

// generous bounds how long past its deadline a call may return: far more
// than the client needs, so that a slow machine does not fail the test,
// and far less than "never".
const generous = 5 * time.Second

// TestRedirectFollowed: a follower's NotLeader hint leads the client to
// the leader, which is not among the endpoints; the client then goes to
// the leader directly.
func TestRedirectFollowed(t *testing.T) {
	data := newFakeData()
	ld := startNode(t, leader, data)
	fl := startNode(t, follower, nil)
	fl.set(follower, ld.addr)
	c := newClient(t, Config{Endpoints: []string{fl.addr}})
	ctx := testContext(t, 10*time.Second)

	require.NoError(t, c.Put(ctx, []byte("k"), []byte("v")))
	require.Equal(t, 1, fl.count("Put"))
	require.Equal(t, 1, ld.count("Put"))

	v, err := c.Get(ctx, []byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	require.NoError(t, c.Delete(ctx, []byte("k")))
	require.Zero(t, fl.count("Get")+fl.count("Delete"), "the leader is remembered")
	_, err = c.Get(ctx, []byte("k"))
	require.ErrorIs(t, err, ErrNotFound)

	// The leader moves: the old one now redirects to a new one.
	nl := startNode(t, leader, data)
	ld.set(follower, nl.addr)
	require.NoError(t, c.Put(ctx, []byte("k"), []byte("w")))
	require.Equal(t, 1, nl.count("Put"))
	require.Equal(t, 2, ld.count("Put"), "one answer, one redirect")
}

// TestNoHint: followers that do not know the leader make the client try
// the other endpoints (pausing between rounds) until it finds it.
func TestNoHint(t *testing.T) {
	data := newFakeData()
	f1 := startNode(t, follower, nil)
	f2 := startNode(t, follower, nil)
	ld := startNode(t, leader, data)
	c := newClient(t, Config{Endpoints: []string{f1.addr, f2.addr, ld.addr}})
	ctx := testContext(t, 10*time.Second)
	require.NoError(t, c.Put(ctx, []byte("k"), []byte("v")))
	require.Equal(t, 1, f1.count("Put"))
	require.Equal(t, 1, f2.count("Put"))
	require.Equal(t, 1, ld.count("Put"))
}

// TestDownEndpointSkipped: an endpoint where nothing listens, and one that
// accepts connections but never answers, are skipped for reads and
// writes alike; the write is sent once, to the node that answers.
func TestDownEndpointSkipped(t *testing.T) {
	ld := startNode(t, leader, newFakeData())
	c := newClient(t, Config{
		Endpoints:   []string{downAddr(t), silentAddr(t), ld.addr},
		DialTimeout: 200 * time.Millisecond,
	})
	ctx := testContext(t, 10*time.Second)
	require.NoError(t, c.Put(ctx, []byte("k"), []byte("v")))
	v, err := c.Get(ctx, []byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	require.Equal(t, 1, ld.count("Put"))
}

// TestAmbiguousNeverRetried: a write that may have been applied (a node's
// Ambiguous answer, a gRPC error once the request went out, a node that
// hangs past the deadline, an error the client does not know) returns
// ErrAmbiguous after exactly one request, even with other endpoints to
// try.
func TestAmbiguousNeverRetried(t *testing.T) {
	type write func(ctx context.Context, c *Client) error
	writes := map[string]write{
		"Put":    func(ctx context.Context, c *Client) error { return c.Put(ctx, []byte("k"), []byte("v")) },
		"Delete": func(ctx context.Context, c *Client) error { return c.Delete(ctx, []byte("k")) },
		"CompareAndSwap": func(ctx context.Context, c *Client) error {
			_, err := c.CompareAndSwap(ctx, []byte("k"), nil, []byte("v"))
			return err
		},
	}
	answers := map[string]func(f *fakeNode){
		"ambiguous":   func(f *fakeNode) { f.set(ambiguous, "") },
		"unavailable": func(f *fakeNode) { f.push(reply{err: status.Error(codes.Unavailable, "connection reset")}) },
		"internal":    func(f *fakeNode) { f.push(reply{err: status.Error(codes.Internal, "boom")}) },
		"unknown":     func(f *fakeNode) { f.push(reply{hdr: &kvpb.Error{Message: "something new"}}) },
		"hang":        func(f *fakeNode) { f.set(hang, "") },
	}
	for method, w := range writes {
		for name, answer := range answers {
			t.Run(method+"/"+name, func(t *testing.T) {
				t.Parallel()
				ld := startNode(t, leader, newFakeData())
				other := startNode(t, leader, newFakeData())
				answer(ld)
				c := newClient(t, Config{Endpoints: []string{ld.addr, other.addr}})
				ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
				defer cancel()
				start := time.Now()
				err := w(ctx, c)
				require.ErrorIs(t, err, ErrAmbiguous)
				require.Contains(t, err.Error(), "may or may not have been applied")
				require.Less(t, time.Since(start), 500*time.Millisecond+generous)
				require.Equal(t, 1, ld.count(method), "sent once")
				require.Zero(t, other.count(method), "never retried elsewhere")
				if name == "hang" {
					require.ErrorIs(t, err, context.DeadlineExceeded)
				}
			})
		}
	}
}

// TestWritesRetriedWhenNotApplied: header errors that say the node refused
// the write before proposing it make the client send it again.
func TestWritesRetriedWhenNotApplied(t *testing.T) {
	data := newFakeData()
	ld := startNode(t, leader, data)
	ld.push(
		reply{hdr: &kvpb.Error{Detail: &kvpb.Error_NotLeader{NotLeader: &kvpb.NotLeader{}}}},
		reply{hdr: &kvpb.Error{Detail: &kvpb.Error_RangeNotFound{RangeNotFound: &kvpb.RangeNotFound{RangeId: 1}}}},
		reply{hdr: &kvpb.Error{Detail: &kvpb.Error_KeyNotInRange{KeyNotInRange: &kvpb.KeyNotInRange{Key: []byte("k")}}}},
		reply{hdr: &kvpb.Error{Detail: &kvpb.Error_EpochNotMatch{EpochNotMatch: &kvpb.EpochNotMatch{}}}},
		reply{hdr: &kvpb.Error{Detail: &kvpb.Error_StoreStopped{StoreStopped: &kvpb.StoreStopped{}}}},
	)
	c := newClient(t, Config{Endpoints: []string{ld.addr}})
	require.NoError(t, c.Put(testContext(t, 10*time.Second), []byte("k"), []byte("v")))
	require.Equal(t, 6, ld.count("Put"))
	require.Equal(t, "v", string(data.m["k"]))
}

// TestReadsRetried: a read is sent again after any failure, a gRPC error
// and an Ambiguous answer included, and after a stopped store it goes to
// another node.
func TestReadsRetried(t *testing.T) {
	data := newFakeData()
	data.m["k"] = []byte("v")
	ld := startNode(t, leader, data)
	ld.push(
		reply{err: status.Error(codes.Unavailable, "connection reset")},
		reply{err: status.Error(codes.Internal, "boom")},
		reply{hdr: &kvpb.Error{Detail: &kvpb.Error_Ambiguous{Ambiguous: &kvpb.Ambiguous{}}}},
		reply{hdr: &kvpb.Error{Message: "something new"}},
	)
	c := newClient(t, Config{Endpoints: []string{ld.addr}})
	ctx := testContext(t, 10*time.Second)
	v, err := c.Get(ctx, []byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	require.Equal(t, 5, ld.count("Get"))

	st := startNode(t, stopped, nil)
	c2 := newClient(t, Config{Endpoints: []string{st.addr, ld.addr}})
	v, err = c2.Get(ctx, []byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	require.Equal(t, 1, st.count("Get"))
}

// TestDeadlines: every call returns soon after its context's deadline
// (or, without one, after RequestTimeout), whether the node hangs or no
// node can be reached; a write that was never sent is not ambiguous.
func TestDeadlines(t *testing.T) {
	hung := startNode(t, hang, nil)
	down := downAddr(t)
	silent := silentAddr(t)
	const d = 300 * time.Millisecond
	for _, tc := range []struct {
		name      string
		endpoints []string
		ctx       bool // a deadline on ctx; otherwise RequestTimeout
		write     bool
		ambiguous bool
	}{
		{name: "get_hung", endpoints: []string{hung.addr}, ctx: true},
		{name: "get_hung_request_timeout", endpoints: []string{hung.addr}},
		{name: "put_hung", endpoints: []string{hung.addr}, ctx: true, write: true, ambiguous: true},
		{name: "put_hung_request_timeout", endpoints: []string{hung.addr}, write: true, ambiguous: true},
		{name: "get_down", endpoints: []string{down}, ctx: true},
		{name: "put_down", endpoints: []string{down}, ctx: true, write: true},
		{name: "put_silent", endpoints: []string{silent}, ctx: true, write: true},
		{name: "put_down_request_timeout", endpoints: []string{down, silent}, write: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, Config{Endpoints: tc.endpoints, RequestTimeout: d})
			ctx := t.Context()
			if tc.ctx {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
			}
			start := time.Now()
			var err error
			if tc.write {
				err = c.Put(ctx, []byte("k"), []byte("v"))
			} else {
				_, err = c.Get(ctx, []byte("k"))
			}
			took := time.Since(start)
			require.Error(t, err)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.Equal(t, tc.ambiguous, errors.Is(err, ErrAmbiguous), "%v", err)
			require.GreaterOrEqual(t, took, d/2, "returned before the deadline: %v", err)
			require.Less(t, took, d+generous)
		})
	}
}

// TestHungNodeLeftBehind: a read gives a node that hangs part of its
// time, then asks another within the same call; after a write that hung
// (ambiguous, sent once), the next write goes to another node.
func TestHungNodeLeftBehind(t *testing.T) {
	data := newFakeData()
	data.m["k"] = []byte("v")
	hung := startNode(t, hang, nil)
	ld := startNode(t, leader, data)
	c := newClient(t, Config{Endpoints: []string{hung.addr, ld.addr}})

	v, err := c.Get(testContext(t, 2*minReadAttempt+generous), []byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	require.Equal(t, 1, hung.count("Get"))

	c2 := newClient(t, Config{Endpoints: []string{hung.addr, ld.addr}})
	err = c2.Put(testContext(t, 300*time.Millisecond), []byte("k"), []byte("w"))
	require.ErrorIs(t, err, ErrAmbiguous)
	require.NoError(t, c2.Put(testContext(t, 10*time.Second), []byte("k"), []byte("w")))
	require.Equal(t, 1, hung.count("Put"))
	require.Equal(t, 1, ld.count("Put"))
}

// TestCompareAndSwapNilEmpty: nil old and new travel as unset fields and
// empty ones as set and empty, and mean "absent" and "delete" as opposed
// to the empty value.
func TestCompareAndSwapNilEmpty(t *testing.T) {
	data := newFakeData()
	ld := startNode(t, leader, data)
	c := newClient(t, Config{Endpoints: []string{ld.addr}})
	ctx := testContext(t, 10*time.Second)
	k := []byte("k")

	cas := func(old, new []byte) bool {
		t.Helper()
		ok, err := c.CompareAndSwap(ctx, k, old, new)
		require.NoError(t, err)
		return ok
	}
	last := func() *kvpb.CompareAndSwapRequest {
		ld.mu.Lock()
		defer ld.mu.Unlock()
		return ld.cas[len(ld.cas)-1]
	}

	require.True(t, cas(nil, []byte{}), "absent, set to empty")
	require.Nil(t, last().Old, "nil old is unset")
	require.NotNil(t, last().New, "empty new is set")
	require.Empty(t, last().New)
	v, err := c.Get(ctx, k)
	require.NoError(t, err)
	require.NotNil(t, v, "an empty value is not nil")
	require.Empty(t, v)

	require.False(t, cas(nil, []byte("x")), "not absent: it holds the empty value")
	require.True(t, cas([]byte(""), []byte("a")), `"" is the empty value`)
	require.NotNil(t, last().Old)
	require.Empty(t, last().Old)
	require.False(t, cas([]byte("b"), nil))
	require.True(t, cas([]byte("a"), nil), "a nil new deletes")
	require.Nil(t, last().New, "nil new is unset")
	_, err = c.Get(ctx, k)
	require.ErrorIs(t, err, ErrNotFound)
	require.True(t, cas(nil, nil), "absent, and stays so")
	require.Len(t, data.m, 0)
}

// TestScanAcrossRanges: a scan continues at each answer's range end until
// its end or its limit, each key once and in order; a node that caps its
// answer continues after its last key.
func TestScanAcrossRanges(t *testing.T) {
	data := newFakeData()
	for c := 'a'; c <= 'z'; c++ {
		data.m[string(c)] = []byte(strings.ToUpper(string(c)))
	}
	ld := startNode(t, leader, data)
	ld.splits = []string{"m"}
	c := newClient(t, Config{Endpoints: []string{ld.addr}})
	ctx := testContext(t, 10*time.Second)

	letters := func(from, to byte) string {
		var b strings.Builder
		for c := from; c <= to; c++ {
			b.WriteByte(c)
		}
		return b.String()
	}
	for _, tc := range []struct {
		start, end string
		limit      int
		want       string
		starts     []string // the start of each request
	}{
		{"", "", 0, letters('a', 'z'), []string{"", "m"}},
		{"c", "h", 0, "cdefg", []string{"c"}},
		{"c", "p", 5, "cdefg", []string{"c"}},
		{"k", "p", 0, "klmno", []string{"k", "m"}},
		{"k", "", 4, "klmn", []string{"k", "m"}},
		{"k", "m", 0, "kl", []string{"k"}},
		{"m", "", 0, letters('m', 'z'), []string{"m"}},
		{"p", "c", 0, "", nil},
		{"zz", "", 0, "", []string{"zz"}},
	} {
		t.Run(fmt.Sprintf("%s_%s_%d", tc.start, tc.end, tc.limit), func(t *testing.T) {
			ld.mu.Lock()
			ld.scans = nil
			ld.mu.Unlock()
			var start, end []byte
			if tc.start != "" {
				start = []byte(tc.start)
			}
			if tc.end != "" {
				end = []byte(tc.end)
			}
			kvs, err := c.Scan(ctx, start, end, tc.limit)
			require.NoError(t, err)
			var got strings.Builder
			for _, kv := range kvs {
				got.Write(kv.Key)
				require.Equal(t, strings.ToUpper(string(kv.Key)), string(kv.Value))
			}
			require.Equal(t, tc.want, got.String())
			var starts []string
			ld.mu.Lock()
			for _, r := range ld.scans {
				starts = append(starts, string(r.Start))
			}
			ld.mu.Unlock()
			require.Equal(t, tc.starts, starts)
		})
	}

	t.Run("capped", func(t *testing.T) {
		ld.mu.Lock()
		ld.page = 3
		ld.scans = nil
		ld.mu.Unlock()
		kvs, err := c.Scan(ctx, []byte("h"), []byte("r"), 0)
		require.NoError(t, err)
		require.Len(t, kvs, 10)
		require.Equal(t, "h", string(kvs[0].Key))
		require.Equal(t, "q", string(kvs[9].Key))
		ld.mu.Lock()
		defer ld.mu.Unlock()
		require.Len(t, ld.scans, 4) // hij, kl (to the range end m), mno, pq
		ld.page = 0
	})
}

// TestScanPages: a scan of more keys than one request asks for reads
// them page by page, each key once.
func TestScanPages(t *testing.T) {
	data := newFakeData()
	const n = 2*scanPage + 10
	for i := range n {
		data.m[fmt.Sprintf("key%05d", i)] = []byte{byte(i)}
	}
	ld := startNode(t, leader, data)
	c := newClient(t, Config{Endpoints: []string{ld.addr}})
	kvs, err := c.Scan(testContext(t, 10*time.Second), nil, nil, 0)
	require.NoError(t, err)
	require.Len(t, kvs, n)
	for i, kv := range kvs {
		require.Equal(t, fmt.Sprintf("key%05d", i), string(kv.Key))
	}
	require.Equal(t, 3, ld.count("Scan"))
}

// TestScanNoProgress: a node whose range end does not move the scan on is
// not followed in circles.
func TestScanNoProgress(t *testing.T) {
	data := newFakeData()
	data.m["b"] = []byte("1")
	ld := startNode(t, leader, data)
	ld.splits = []string{"\x00"} // the range of "b" is [\x00, ∅): fine
	c := newClient(t, Config{Endpoints: []string{ld.addr}})
	kvs, err := c.Scan(testContext(t, 10*time.Second), []byte("a"), nil, 0)
	require.NoError(t, err)
	require.Len(t, kvs, 1)

	_, err = scanStep([]byte("c"), nil, 10, &kvpb.ScanResponse{RangeEnd: []byte("b")})
	require.ErrorContains(t, err, "does not move the scan on")
}

// TestSuccessor: the key a full page continues at is the smallest
// storable key above the last one.
func TestSuccessor(t *testing.T) {
	long := func(tail ...byte) []byte {
		k := bytes.Repeat([]byte("k"), keys.MaxKeySize-len(tail))
		return append(k, tail...)
	}
	require.Equal(t, []byte("a\x00"), successor([]byte("a")))
	require.Equal(t, []byte("\x00"), successor(nil))
	require.Equal(t, append(long()[:keys.MaxKeySize-1], 'l'), successor(long()))
	require.Equal(t, append(long()[:keys.MaxKeySize-3], 'l'), successor(long(0xff, 0xff)))
	require.Equal(t, append(long(1, 0xff)[:keys.MaxKeySize-2:keys.MaxKeySize-2], 2), successor(long(1, 0xff)))
	require.Nil(t, successor(bytes.Repeat([]byte{0xff}, keys.MaxKeySize)))
}

// TestValidation: keys and values the cluster cannot store are refused
// before anything is sent; a node's InvalidArgument is a plain error with
// its message, not retried and not ambiguous.
func TestValidation(t *testing.T) {
	ld := startNode(t, leader, newFakeData())
	c := newClient(t, Config{Endpoints: []string{ld.addr}})
	ctx := testContext(t, 10*time.Second)
	big := make([]byte, keys.MaxValueSize+1)
	longKey := make([]byte, keys.MaxKeySize+1)

	require.ErrorContains(t, c.Put(ctx, nil, []byte("v")), "empty key")
	require.ErrorContains(t, c.Put(ctx, []byte("k"), big), "exceeds the limit")
	require.ErrorContains(t, c.Delete(ctx, longKey), "exceeds the limit")
	_, err := c.Get(ctx, []byte{})
	require.ErrorContains(t, err, "empty key")
	_, err = c.CompareAndSwap(ctx, []byte("k"), big, nil)
	require.ErrorContains(t, err, "exceeds the limit")
	_, err = c.Scan(ctx, longKey, nil, 0)
	require.ErrorContains(t, err, "exceeds the limit")
	ld.mu.Lock()
	require.Empty(t, ld.calls, "nothing sent")
	ld.mu.Unlock()

	ld.push(reply{err: status.Error(codes.InvalidArgument, "key has a reserved prefix")})
	err = c.Put(ctx, []byte("k"), []byte("v"))
	require.ErrorContains(t, err, "key has a reserved prefix")
	require.NotErrorIs(t, err, ErrAmbiguous)
	require.Equal(t, 1, ld.count("Put"))
}

// TestConcurrent: many goroutines share a client through a redirect.
func TestConcurrent(t *testing.T) {
	data := newFakeData()
	ld := startNode(t, leader, data)
	fl := startNode(t, follower, nil)
	fl.set(follower, ld.addr)
	c := newClient(t, Config{Endpoints: []string{fl.addr}})
	ctx := testContext(t, 30*time.Second)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				k := fmt.Appendf(nil, "g%d/%d", g, i)
				if err := c.Put(ctx, k, k); err != nil {
					t.Error(err)
					return
				}
				v, err := c.Get(ctx, k)
				if err != nil || string(v) != string(k) {
					t.Errorf("get %s: %q, %v", k, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.Len(t, data.m, 400)
}

// TestClose: calls after Close fail at once; Close is idempotent.
func TestClose(t *testing.T) {
	ld := startNode(t, leader, newFakeData())
	c, err := New(Config{Endpoints: []string{ld.addr}})
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.NoError(t, c.Close())
	err = c.Put(t.Context(), []byte("k"), []byte("v"))
	require.ErrorIs(t, err, errClosed)
	require.Zero(t, ld.count("Put"))

	_, err = New(Config{Endpoints: []string{" ", ""}})
	require.Error(t, err)
}

// TestReconnect: a node that goes away and comes back at the same address
// is used again.
func TestReconnect(t *testing.T) {
	data := newFakeData()
	data.m["k"] = []byte("v")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	f := &fakeNode{addr: addr, data: data, calls: map[string]int{}}
	srv := serve(t, f, lis)
	c := newClient(t, Config{Endpoints: []string{addr}})
	_, err = c.Get(testContext(t, 10*time.Second), []byte("k"))
	require.NoError(t, err)

	srv.Stop()
	_, err = c.Get(testContext(t, 300*time.Millisecond), []byte("k"))
	require.ErrorIs(t, err, context.DeadlineExceeded)

	lis, err = net.Listen("tcp", addr)
	require.NoError(t, err)
	serve(t, f, lis)
	v, err := c.Get(testContext(t, 10*time.Second), []byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
}
