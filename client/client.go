package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Config says how to reach a cluster.
type Config struct {
	// Endpoints are addresses (host:port, a node's advertised --addr) of
	// any nodes of the cluster; one that answers is enough.
	Endpoints []string
	// DialTimeout bounds the wait for a connection to one node before the
	// client tries another. Zero: DefaultDialTimeout.
	DialTimeout time.Duration
	// RequestTimeout bounds a call whose context has no deadline. Zero:
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// TLS secures every connection (LoadTLS makes one from a certs
	// directory). nil: plaintext.
	TLS *tls.Config
}

// The defaults of Config's zero durations.
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 10 * time.Second
)

// maxRecvMsgSize is the largest response the client accepts: a Get's value
// is at most keys.MaxValueSize, and a node caps a Scan response well below
// this (see doc.go).
const maxRecvMsgSize = 16 << 20

var (
	// ErrNotFound is Get's answer for a key that has no value.
	ErrNotFound = errors.New("client: key not found")
	// ErrAmbiguous marks the error of a write that may or may not have
	// been applied: the request reached a node, and then its answer was
	// lost (a timeout, a broken connection, a leader that lost its
	// leadership with the write in flight). The client never retries such
	// a write; a caller that retries must make the write safe to repeat
	// (CompareAndSwap can tell whether it already happened).
	ErrAmbiguous = errors.New("client: the write may or may not have been applied")

	errClosed = errors.New("client: closed")
)

// Client is a connection to a cluster. It is safe for concurrent use by
// many goroutines.
type Client struct {
	cfg       Config
	endpoints []string
	// cursor is the index (modulo len(endpoints)) of the endpoint tried
	// first when the range cache names no leader: the last one that
	// answered.
	cursor atomic.Uint64
	ranges rangeCache

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn // by address: endpoints and leader hints
	closed bool
}

// New returns a client of the cluster that cfg names. It does not wait
// for a connection: it starts connecting to the endpoints and returns, and
// a call that finds no node reachable fails by its deadline.
func New(cfg Config) (*Client, error) {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	var eps []string
	for _, e := range cfg.Endpoints {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		eps = append(eps, e)
	}
	if len(eps) == 0 {
		return nil, errors.New("client: no endpoints")
	}
	c := &Client{cfg: cfg, endpoints: eps, conns: map[string]*grpc.ClientConn{}}
	for _, e := range eps {
		cc, err := c.conn(e)
		if err != nil {
			c.Close()
			return nil, err
		}
		cc.Connect()
	}
	return c, nil
}

// Close closes the client's connections. Calls in flight fail (a write
// among them with ErrAmbiguous); later calls fail at once.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for addr, cc := range c.conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("client: close %s: %w", addr, err))
		}
	}
	c.conns = nil
	return errors.Join(errs...)
}

// conn returns the connection to addr, creating it (without waiting for
// it to connect) the first time.
func (c *Client) conn(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	if cc, ok := c.conns[addr]; ok {
		return cc, nil
	}
	creds := insecure.NewCredentials()
	if c.cfg.TLS != nil {
		creds = credentials.NewTLS(c.cfg.TLS)
	}
	// passthrough: the address goes to the dialer as given (a name is
	// resolved when dialing), as a node's --addr is written.
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{
			// Reconnect soon to a node that comes back: a node restarts
			// in seconds, and a connection in failure is skipped.
			Backoff: backoff.Config{
				BaseDelay:  50 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   time.Second,
			},
			MinConnectTimeout: c.cfg.DialTimeout,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize)),
	)
	if err != nil {
		return nil, fmt.Errorf("client: endpoint %q: %w", addr, err)
	}
	c.conns[addr] = cc
	return cc, nil
}

// context bounds ctx by the request timeout when it has no deadline.
func (c *Client) context(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.cfg.RequestTimeout)
}

// showKey formats a key for an error message: quoted, cut after 64 bytes.
func showKey(k []byte) string {
	const max = 64
	if len(k) > max {
		return strconv.Quote(string(k[:max])) + "…"
	}
	return strconv.Quote(string(k))
}

// ambiguousError is the error of a write whose outcome is unknown.
type ambiguousError struct {
	op    string // "put", "delete", "cas"
	key   []byte
	cause error
}

func (e *ambiguousError) Error() string {
	return fmt.Sprintf("client: %s %s: the write may or may not have been applied: %v", e.op, showKey(e.key), e.cause)
}

// Is makes errors.Is(err, ErrAmbiguous) true.
func (e *ambiguousError) Is(target error) bool { return target == ErrAmbiguous }

// Unwrap returns the cause: a context's error when the deadline passed,
// otherwise the server's or the connection's.
func (e *ambiguousError) Unwrap() error { return e.cause }
