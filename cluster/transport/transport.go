package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// Sizes and defaults. The gRPC limits hold on both sides: the sender sets
// them as call options; the receiver's grpc.Server must be built with
// ServerOptions (a default server accepts only 4 MiB).
const (
	// MaxMessageSize is the largest gRPC message a transport sends or
	// accepts: a batch of Raft messages or a snapshot chunk.
	MaxMessageSize = 16 << 20
	// MaxRaftMessageBytes is the largest marshalled raftpb.Message that
	// Send accepts (kvpb.RaftMessage.message). It travels in a batch of
	// its own; the headroom is for the batch's and the message's fields.
	MaxRaftMessageBytes = MaxMessageSize - 64<<10
	// SnapshotChunkBytes is the most key and value bytes one snapshot
	// chunk carries (a single larger pair travels alone).
	SnapshotChunkBytes = 256 << 10
	// DefaultQueueSize is the number of messages a peer's queue holds when
	// Config.QueueSize is 0.
	DefaultQueueSize = 4096
	// DefaultDialTimeout bounds a dial when Config.DialTimeout is 0.
	DefaultDialTimeout = 5 * time.Second
	// DefaultSendTimeout bounds one batch's write when Config.SendTimeout
	// is 0.
	DefaultSendTimeout = 10 * time.Second

	// maxBatchBytes and maxBatchMessages bound one batch on the wire. A
	// message larger than maxBatchBytes travels alone.
	maxBatchBytes    = 1 << 20
	maxBatchMessages = 1024
	// minBackoff and maxBackoff bound the wait between redials of a peer.
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
	// healthySession is how long a stream that carried batches must have
	// lasted for its failure to restart the backoff at minBackoff.
	healthySession = time.Second
	// logEvery is how often the same line is logged again.
	logEvery = time.Minute
)

var (
	// ErrClosed is returned by SendSnapshot after Close.
	ErrClosed = errors.New("transport: closed")
	// ErrNoAddress means Config.Resolve knows no address for the node.
	ErrNoAddress = errors.New("transport: no address for node")
	// ErrSnapshotRejected means the receiver's Handler refused a snapshot
	// (or it arrived incomplete); the error's text carries its reason.
	ErrSnapshotRejected = errors.New("transport: snapshot rejected")
	// ErrFault means the fault interposer (Config.Faults) dropped it.
	ErrFault = errors.New("transport: dropped by fault injection")
)

// Handler receives what peers send. Its methods are called from the
// transport's receiving goroutines, one per incoming stream, so calls for
// different streams are concurrent.
type Handler interface {
	// HandleRaftBatch is called for each batch received, from any peer,
	// in the order the peer sent them on one stream. It must not block
	// for long (it enqueues): while it runs, that peer's stream is not
	// read. The batch is the handler's; it holds at least one message,
	// each non-nil with a non-empty message field, and its to_node_id is
	// this node.
	HandleRaftBatch(b *kvpb.RaftMessageBatch)
	// HandleSnapshot consumes one incoming snapshot stream: header first
	// (its cluster ID and destination node already checked), then next()
	// returns chunks, each with at least one key, until io.EOF after the
	// final chunk. Any other error from next means the stream broke or
	// was malformed; the snapshot is then refused whatever the handler
	// returns. HandleSnapshot returns nil if it accepted the snapshot,
	// which it may do only after next returned io.EOF. It must return
	// soon after ctx is done (the sender left, or Close).
	HandleSnapshot(ctx context.Context, header *kvpb.SnapshotHeader, next func() (*kvpb.SnapshotChunk, error)) error
}

// Config configures a Transport.
type Config struct {
	NodeID, ClusterID uint64
	// AdvertiseAddr is put in every RaftMessageBatch.from_addr.
	AdvertiseAddr string
	// LocalHost is the IP address to dial peers from ("" = any). It may
	// carry a port, which is ignored: dials use an ephemeral port.
	LocalHost string
	// Resolve returns a peer's advertised address. It is called when a
	// peer is first sent to and before every dial, never under a lock of
	// the transport. nil: no peer is known.
	Resolve func(nodeID uint64) (addr string, ok bool)
	// Handler receives incoming batches and snapshots. nil: incoming
	// streams are refused (codes.Unavailable).
	Handler Handler
	// Unreachable is called once per failed dial or broken stream to
	// nodeID; the messages dropped while it is down (until the next dial)
	// go unreported. A cut made by Faults is not a failure. It is called
	// from the peer's sending goroutine, holding no lock of the
	// transport; it may call Send, but not Close. Send itself never calls
	// it: a false return is the caller's report.
	Unreachable func(nodeID uint64)
	// QueueSize is the number of messages each peer's queue holds; 0:
	// DefaultQueueSize.
	QueueSize int
	// DialTimeout bounds connecting to a peer; 0: DefaultDialTimeout.
	DialTimeout time.Duration
	// SendTimeout bounds writing one batch on a stream: a peer that stops
	// reading (a paused process, a black-holed link) fills gRPC's
	// flow-control window, and its stream is broken after this long
	// instead of blocking its sender forever. 0: DefaultSendTimeout.
	SendTimeout time.Duration
	// DialOptions are added after the transport's own (insecure
	// credentials, its dialer, message sizes), so they may replace the
	// credentials with TLS.
	DialOptions []grpc.DialOption
	// Faults, if non-nil, is applied to everything this transport sends.
	Faults *Faults
	// Logf, if non-nil, receives a line when sending to a peer fails and
	// when an incoming stream is refused; the same line at most once a
	// minute.
	Logf func(format string, args ...any)
}

// ServerOptions returns the options the grpc.Server that a Transport is
// registered on must be built with: message sizes matching the sender's,
// and keepalive pings that end streams from peers that vanished.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}
}

// Transport sends Raft messages and snapshots to peer nodes and receives
// theirs. It is safe for concurrent use.
type Transport struct {
	cfg       Config
	localIP   net.IP // nil: dial from any address
	localErr  error  // LocalHost is not an IP: every dial fails with it
	queueSize int

	// ctx is cancelled by Close; every goroutine the transport starts
	// watches it and is counted in wg.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.RWMutex
	closed bool
	peers  map[uint64]*peer

	logMu  sync.Mutex
	logged map[string]time.Time // line → when last logged

	stats counters
}

// New returns a Transport. It starts nothing until the first Send (which
// starts that peer's goroutine) or until it is registered on a server.
func New(cfg Config) *Transport {
	t := &Transport{cfg: cfg, peers: make(map[uint64]*peer), queueSize: cfg.QueueSize}
	if t.queueSize <= 0 {
		t.queueSize = DefaultQueueSize
	}
	if t.cfg.DialTimeout <= 0 {
		t.cfg.DialTimeout = DefaultDialTimeout
	}
	if t.cfg.SendTimeout <= 0 {
		t.cfg.SendTimeout = DefaultSendTimeout
	}
	if h := cfg.LocalHost; h != "" {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		if t.localIP = net.ParseIP(h); t.localIP == nil {
			t.localErr = fmt.Errorf("transport: LocalHost %q is not an IP address", cfg.LocalHost)
		}
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t
}

// Send enqueues msgs for node to, in order, and returns at once: it never
// blocks on the network. It returns false if any message was dropped: the
// peer's queue is full, the node has no address, a message exceeds
// MaxRaftMessageBytes, or the transport is closed. A dropped message is not
// retried (Raft retries). nil entries are skipped. The transport owns the
// messages from the call on; the caller must not change them.
func (t *Transport) Send(to uint64, msgs []*kvpb.RaftMessage) bool {
	p := t.peer(to)
	if p == nil {
		n := 0
		for _, m := range msgs {
			if m != nil {
				n++
			}
		}
		t.stats.droppedNoPeer.Add(uint64(n))
		return n == 0
	}
	ok := true
	for _, m := range msgs {
		switch {
		case m == nil:
		case len(m.Message) > MaxRaftMessageBytes:
			t.stats.droppedTooLarge.Add(1)
			ok = false
		default:
			select {
			case p.queue <- m:
				t.stats.queued.Add(1)
			default:
				t.stats.droppedQueue.Add(1)
				ok = false
			}
		}
	}
	return ok
}

// peer returns the peer for node to, starting its goroutine on first use,
// or nil if the transport is closed or the node has no address.
func (t *Transport) peer(to uint64) *peer {
	t.mu.RLock()
	p, closed := t.peers[to], t.closed
	t.mu.RUnlock()
	if closed {
		return nil
	}
	if p != nil {
		return p
	}
	if _, ok := t.resolve(to); !ok {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	if p = t.peers[to]; p == nil {
		p = &peer{t: t, id: to, queue: make(chan *kvpb.RaftMessage, t.queueSize)}
		p.ctx, p.cancel = context.WithCancel(t.ctx)
		t.peers[to] = p
		t.wg.Add(1)
		go p.run()
	}
	return p
}

func (t *Transport) resolve(id uint64) (string, bool) {
	if t.cfg.Resolve == nil {
		return "", false
	}
	return t.cfg.Resolve(id)
}

// Close stops every goroutine the transport started: peers' senders (their
// queued messages are dropped and their connections closed) and the
// receivers of incoming streams, which end with codes.Unavailable, so a
// grpc.Server's GracefulStop does not wait for peers. No Handler call
// starts after Close returns, and none is running. SendSnapshot calls in
// progress fail. Close is idempotent and always returns nil.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
	return nil
}

// track counts a goroutine about to start in wg, unless the transport is
// closed. Every goroutine the transport starts outside a peer's own is
// counted this way, so Close never races wg.Add with wg.Wait.
func (t *Transport) track() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

// RemovePeer stops sending to node id: its goroutine ends (soon, not
// before RemovePeer returns), its queued messages are dropped and its
// connection closed. A later Send to id starts afresh. Use it for a node
// that left the cluster.
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	p := t.peers[id]
	delete(t.peers, id)
	t.mu.Unlock()
	if p != nil {
		p.cancel()
	}
}

// logOnce logs a line unless the same line was logged within logEvery.
func (t *Transport) logOnce(format string, args ...any) {
	if t.cfg.Logf == nil {
		return
	}
	line := fmt.Sprintf(format, args...)
	now := time.Now()
	t.logMu.Lock()
	last, ok := t.logged[line]
	if !ok || now.Sub(last) >= logEvery {
		if t.logged == nil || len(t.logged) > 1000 {
			t.logged = make(map[string]time.Time)
		}
		t.logged[line] = now
	} else {
		line = ""
	}
	t.logMu.Unlock()
	if line != "" {
		t.cfg.Logf("%s", line)
	}
}
