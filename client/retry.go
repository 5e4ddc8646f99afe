package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// request is one call's work for the retry loop: how to send it once, and
// whether it may be sent again.
type request struct {
	op  string // "get", "put", "delete", "cas", "scan": for errors
	key []byte // routes the request to its range's leader
	// write requests are sent again only when the previous attempt is
	// known not to have been applied.
	write bool
	// send sends the request once on kv with header h (the range and
	// epoch the client routes it to; nil: by key) and returns the
	// response's header.
	send func(ctx context.Context, kv kvpb.KVClient, h *kvpb.RequestHeader) (*kvpb.ResponseHeader, error)
}

// verdict is what an attempt's outcome tells the retry loop to do.
type verdict int

const (
	done       verdict = iota // the request succeeded
	fail                      // return the attempt's error
	redirected                // a node named the leader: try it now
	elsewhere                 // try another node, after a pause
)

// Backoff between attempts: the n-th pause in a row is a random duration
// in [d/2, d), d = backoffBase·2ⁿ, at most backoffMax.
const (
	backoffBase = 10 * time.Millisecond
	backoffMax  = 500 * time.Millisecond
)

// minReadAttempt is the least time a read gives one node before asking
// another; a read's attempt gets half the time left, at least this.
const minReadAttempt = time.Second

// do sends r until it succeeds, fails for good, or ctx ends (ctx carries
// the call's deadline: see Client.context). It follows leader hints, and
// tries the endpoints in turn when it knows no leader. A write is sent
// again only after an attempt that was not applied: a header error that
// says the request was refused before being proposed, or a connection
// that was never ready to send it.
func (c *Client) do(ctx context.Context, r request) error {
	var (
		last      error // why the latest attempt failed
		pauses    int   // pauses in a row, for the backoff
		redirects int   // redirects in a row without a pause
		looked    bool  // the placement group was asked where the key is
		n         = uint64(len(c.endpoints))
		cursor    = c.cursor.Load()
	)
	// The next call starts where this one found an answer, or past the
	// nodes that failed it.
	defer func() { c.cursor.Store(cursor) }()
	for {
		if err := ctx.Err(); err != nil {
			if last == nil {
				return fmt.Errorf("client: %s %s: %w", r.op, showKey(r.key), err)
			}
			return fmt.Errorf("client: %s %s: %w (last error: %v)", r.op, showKey(r.key), err, last)
		}
		addr := c.ranges.leader(r.key)
		if addr == "" && !looked && c.ranges.header(r.key) == nil {
			// Nothing cached for the key: ask the placement group once.
			looked = true
			addr = c.lookup(ctx, r.key, c.endpoints[cursor%n])
		}
		if addr == "" {
			addr = c.endpoints[cursor%n]
		}
		v, err := c.attempt(ctx, addr, r)
		if v == done {
			c.ranges.setLeader(r.key, addr)
			return nil
		}
		if v == fail {
			if errors.Is(err, ErrAmbiguous) && c.endpoints[cursor%n] == addr {
				cursor++ // it may hang: the next call asks another first
			}
			return err
		}
		if c.endpoints[cursor%n] == addr {
			cursor++ // the next node to ask, when no leader is known
		}
		last = fmt.Errorf("%s: %w", addr, err)
		if v == redirected && redirects < 2*len(c.endpoints) {
			redirects++
			continue
		}
		redirects = 0
		sleep(ctx, pause(pauses))
		pauses++
	}
}

// lookupTimeout bounds one question to the placement group.
const lookupTimeout = time.Second

// lookup asks the placement group, through the node at via (following
// its hint to the group's leader once), where key's range is and who
// leads it, caches the answer, and returns the leader's address; "" when
// it learned nothing (the group has no record yet, or did not answer:
// the request is then routed by key as before).
func (c *Client) lookup(ctx context.Context, key []byte, via string) string {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	for range 2 {
		cc, err := c.conn(via)
		if err != nil {
			return ""
		}
		resp, err := kvpb.NewAdminClient(cc).LookupRange(ctx, &kvpb.LookupRangeRequest{Key: key})
		if err != nil {
			return ""
		}
		if e := resp.GetHeader().GetError(); e != nil {
			hint := e.GetNotLeader().GetLeaderAddr()
			if hint == "" || hint == via {
				return ""
			}
			via = hint
			continue
		}
		rec := resp.GetRange()
		c.ranges.update(rec.GetRange())
		if resp.GetLeaderAddr() != "" && c.ranges.header(key).GetRangeId() == rec.GetRange().GetRangeId() {
			c.ranges.setLeader(key, resp.GetLeaderAddr())
		}
		return c.ranges.leader(key)
	}
	return ""
}

// attempt sends r to addr once and judges the outcome.
func (c *Client) attempt(ctx context.Context, addr string, r request) (verdict, error) {
	cc, err := c.conn(addr)
	if errors.Is(err, errClosed) {
		return fail, err
	}
	if err != nil {
		return elsewhere, err
	}
	if err := c.ready(ctx, cc); err != nil {
		// Nothing was sent: any request may go elsewhere.
		c.ranges.clearLeader(r.key, addr)
		return elsewhere, err
	}
	sendCtx := ctx
	if !r.write {
		// A read may be tried again: give one node part of the time, so
		// that a node that hangs (paused, cut off while it believes it
		// leads) leaves time to ask another.
		if dl, ok := ctx.Deadline(); ok {
			left := time.Until(dl)
			if d := max(left/2, minReadAttempt); d < left {
				var cancel context.CancelFunc
				sendCtx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
			}
		}
	}
	hdr, err := r.send(sendCtx, kvpb.NewKVClient(cc), c.ranges.header(r.key))
	if err != nil {
		return c.rpcError(ctx, addr, r, err)
	}
	e := hdr.GetError()
	if e == nil {
		c.ranges.update(hdr.GetRange())
		return done, nil
	}
	herr := headerError(e)
	switch d := e.GetDetail().(type) {
	case *kvpb.Error_NotLeader:
		if hint := d.NotLeader.GetLeaderAddr(); hint != "" && hint != addr {
			c.ranges.setLeader(r.key, hint)
			return redirected, herr
		}
		c.ranges.clearLeader(r.key, addr)
		return elsewhere, herr
	case *kvpb.Error_RangeNotFound:
		// The range the client named is not on that node (or no
		// longer exists): route by key until it learns better.
		c.ranges.forget(r.key)
		return elsewhere, herr
	case *kvpb.Error_StoreStopped:
		c.ranges.clearLeader(r.key, addr)
		return elsewhere, herr
	case *kvpb.Error_KeyNotInRange:
		c.ranges.clearLeader(r.key, addr)
		c.ranges.update(d.KeyNotInRange.GetRange())
		return elsewhere, herr
	case *kvpb.Error_EpochNotMatch:
		for _, rd := range d.EpochNotMatch.GetCurrent() {
			c.ranges.update(rd)
		}
		return elsewhere, herr
	}
	// Ambiguous, or an error the client does not know: a write's fate is
	// unknown. A read changed nothing and may go elsewhere. Either way
	// the next request asks afresh who leads.
	c.ranges.clearLeader(r.key, addr)
	if r.write {
		return fail, &ambiguousError{op: r.op, key: r.key, cause: fmt.Errorf("%s: %w", addr, herr)}
	}
	return elsewhere, herr
}

// rpcError judges an RPC that failed after the connection was ready, so
// that the request may have reached the node.
func (c *Client) rpcError(ctx context.Context, addr string, r request, err error) (verdict, error) {
	st := status.Convert(err)
	switch st.Code() {
	case codes.InvalidArgument:
		// The node refused the request as it is: nothing was proposed,
		// and no node will take it.
		return fail, fmt.Errorf("client: %s %s: %s", r.op, showKey(r.key), st.Message())
	case codes.Unimplemented, codes.Unauthenticated, codes.PermissionDenied, codes.ResourceExhausted:
		// Refused before the request was handled.
		return fail, fmt.Errorf("client: %s %s: %s: %w", r.op, showKey(r.key), addr, err)
	}
	c.ranges.clearLeader(r.key, addr)
	if r.write {
		cause := err
		switch cerr := ctx.Err(); {
		case cerr != nil:
			cause = fmt.Errorf("%w (%s)", cerr, st.Message())
		case st.Code() == codes.DeadlineExceeded:
			// The node's end of the deadline (gRPC sends it along) came
			// a moment before ours.
			cause = fmt.Errorf("%w (%s)", context.DeadlineExceeded, st.Message())
		}
		return fail, &ambiguousError{op: r.op, key: r.key, cause: fmt.Errorf("%s: %w", addr, cause)}
	}
	return elsewhere, err
}

// headerError is the error a response header carries, as an error.
func headerError(e *kvpb.Error) error {
	msg := e.GetMessage()
	var kind string
	switch d := e.GetDetail().(type) {
	case *kvpb.Error_NotLeader:
		kind = "not leader"
		if a := d.NotLeader.GetLeaderAddr(); a != "" {
			kind += " (leader " + a + ")"
		}
	case *kvpb.Error_RangeNotFound:
		kind = fmt.Sprintf("range %d not found", d.RangeNotFound.GetRangeId())
	case *kvpb.Error_KeyNotInRange:
		kind = "key not in range"
	case *kvpb.Error_EpochNotMatch:
		kind = "range epoch changed"
	case *kvpb.Error_Ambiguous:
		kind = "outcome unknown"
	case *kvpb.Error_StoreStopped:
		kind = "store stopped"
	default:
		kind = "error"
	}
	if msg == "" {
		return errors.New(kind)
	}
	return fmt.Errorf("%s: %s", kind, msg)
}

// ready waits until cc can send, for at most the dial timeout (and ctx).
// It returns an error, having sent nothing, when cc's connection failed or
// does not come up in time. A connection in failure is not waited for:
// gRPC reconnects it in the background, and another node may answer
// meanwhile.
func (c *Client) ready(ctx context.Context, cc *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	for {
		s := cc.GetState()
		switch s {
		case connectivity.Ready:
			return nil
		case connectivity.Idle:
			cc.Connect()
		case connectivity.TransientFailure:
			return errors.New("connection failed")
		case connectivity.Shutdown:
			return errClosed
		}
		if !cc.WaitForStateChange(ctx, s) {
			return fmt.Errorf("no connection: %w", ctx.Err())
		}
	}
}

// pause returns the n-th pause in a row before another attempt.
func pause(n int) time.Duration {
	d := backoffMax
	if n < 10 {
		d = min(backoffBase<<n, backoffMax)
	}
	return d/2 + rand.N(d/2)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
