package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/replica"
	"github.com/distributedkv/dkv/cluster/store"
	"github.com/distributedkv/dkv/cluster/transport"
	"github.com/distributedkv/dkv/vfs"
)

// Config configures a node. Zero fields take defaults.
type Config struct {
	NodeID        uint64 // --id: required with Cluster; checked against Dir otherwise
	Dir           string
	Addr          string // --addr: gRPC listen address
	AdvertiseAddr string // default Addr
	HTTPAddr      string // --http; empty: no HTTP listener

	Cluster []*kvpb.NodeRecord // --cluster: bootstrap members (a new directory)
	Join    string             // --join: an address of a running member (a new directory)

	// Listener and HTTPListener, when set, are used instead of listening
	// on Addr and HTTPAddr (tests pass listeners on 127.0.0.1:0).
	Listener     net.Listener
	HTTPListener net.Listener

	TickInterval   time.Duration // default 100ms
	ElectionTick   int
	HeartbeatTick  int
	Workers        int // default DefaultWorkers
	LogTailEntries uint64
	DownAfter      time.Duration // default 5m
	RequestTimeout time.Duration // server-side bound for requests without a deadline; default 30s
	// RangeMaxBytes: a range this node leads is split in two once its
	// live bytes pass it (--range-max-bytes). 0: 64 MiB; < 0: never.
	RangeMaxBytes int64
	// DisableQuiesce keeps idle ranges ticking (--no-quiesce, hidden: for
	// measuring what quiescence saves).
	DisableQuiesce bool
	// ReportInterval is how often the node reports its heartbeat and the
	// ranges it leads to the placement group (default 2s).
	ReportInterval time.Duration
	// RangeMaxQPS: a range this node leads that serves more requests a
	// second than this for LoadSplitChecks checks in a row is split at the
	// median of its sampled request keys (--range-max-qps). 0 or less:
	// never, the default (see DefaultRangeMaxQPS).
	RangeMaxQPS     float64
	LoadSplitChecks int // default 3
	// SplitCheckInterval is how often the node looks for ranges to split
	// (default 1s).
	SplitCheckInterval time.Duration

	FS        vfs.FS
	DBOptions *dkv.Options
	Faults    *transport.Faults // tests: the fault interposer
	Logger    *slog.Logger
}

// Node is a running dkv node.
type Node struct {
	cfg       Config
	logger    *slog.Logger
	store     *store.Store
	transport *transport.Transport
	grpc      *grpc.Server
	lis       net.Listener
	http      *http.Server
	httpLis   net.Listener
	started   time.Time

	loadMu sync.Mutex
	qps    map[uint64]float64 // range → requests a second at the last split check

	// Requests in flight, so that Stop can drain them before closing the
	// gRPC server (whose peer streams never end by themselves).
	reqs struct {
		sync.Mutex
		n        int
		draining bool
		idle     chan struct{} // closed when draining and n reaches 0
	}

	stopOnce sync.Once
	stopErr  error
	serving  chan struct{}
	wg       sync.WaitGroup
}

// Start opens and starts a node.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.Workers == 0 {
		// A worker runs one replica's Ready at a time, and a Ready's
		// synced write waits for its fsync: writes of different ranges
		// share an fsync (the engine's group commit) only when their
		// workers are in flight together. 64 ranges taking writes from 64
		// clients ran at 1.0k puts/s with 4 workers, 2.4k with 16, 3.0k
		// with 64; one range is the same with 4 or 64.
		cfg.Workers = DefaultWorkers
	}
	if cfg.DownAfter == 0 {
		cfg.DownAfter = 5 * time.Minute
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.RangeMaxBytes == 0 {
		cfg.RangeMaxBytes = DefaultRangeMaxBytes
	}
	if cfg.SplitCheckInterval <= 0 {
		cfg.SplitCheckInterval = time.Second
	}
	if cfg.ReportInterval <= 0 {
		cfg.ReportInterval = DefaultReportInterval
	}
	if cfg.LoadSplitChecks <= 0 {
		cfg.LoadSplitChecks = 3
	}
	if cfg.Dir == "" {
		return nil, errors.New("server: no data directory")
	}
	if cfg.Cluster != nil && cfg.Join != "" {
		return nil, errors.New("server: --cluster and --join exclude each other")
	}
	if err := preflight(&cfg); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, logger: cfg.Logger, serving: make(chan struct{}), started: time.Now()}
	st, err := store.Open(store.Config{
		Dir:            cfg.Dir,
		FS:             cfg.FS,
		DBOptions:      cfg.DBOptions,
		TickInterval:   cfg.TickInterval,
		Workers:        cfg.Workers,
		ElectionTick:   cfg.ElectionTick,
		HeartbeatTick:  cfg.HeartbeatTick,
		LogTailEntries: cfg.LogTailEntries,
		DisableQuiesce: cfg.DisableQuiesce,
		Logger:         cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	n.store = st
	defer func() {
		if err != nil {
			n.closeListeners()
			_ = st.Close()
		}
	}()
	if err := n.resolveIdentity(ctx); err != nil {
		return nil, err
	}
	if err := n.listen(); err != nil {
		return nil, err
	}
	ident := st.Ident()
	if ident == nil {
		// A joining node: ask the cluster for an ID now that it listens.
		if err := n.join(ctx); err != nil {
			return nil, err
		}
		ident = st.Ident()
	}
	n.transport = transport.New(transport.Config{
		NodeID:        ident.GetNodeId(),
		ClusterID:     ident.GetClusterId(),
		AdvertiseAddr: ident.GetAdvertiseAddr(),
		LocalHost:     hostOf(ident.GetAddr()),
		Resolve:       st.Resolve,
		Handler:       st,
		Unreachable:   st.ReportUnreachable,
		Faults:        cfg.Faults,
	})
	n.grpc = grpc.NewServer(transport.ServerOptions()...)
	kvpb.RegisterKVServer(n.grpc, &kvServer{n: n})
	kvpb.RegisterAdminServer(n.grpc, &adminServer{n: n})
	n.transport.Register(n.grpc)
	st.Start(n.transport)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		_ = n.grpc.Serve(n.lis)
	}()
	if n.httpLis != nil {
		n.http = &http.Server{Handler: n.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			_ = n.http.Serve(n.httpLis)
		}()
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.reportLoop()
	}()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.splitLoop()
	}()
	close(n.serving)
	n.logger.Info("node started", "node", ident.GetNodeId(), "cluster", fmt.Sprintf("%x", ident.GetClusterId()),
		"addr", n.Addr(), "http", n.HTTPAddr())
	return n, nil
}

// resolveIdentity bootstraps a new directory, or checks the flags of a
// restart against the identity the directory holds.
func (n *Node) resolveIdentity(ctx context.Context) error {
	cfg := &n.cfg
	if ident := n.store.Ident(); ident != nil {
		if err := checkRestart(cfg, ident); err != nil {
			return err
		}
		if cfg.Addr == "" {
			cfg.Addr = ident.GetAddr()
		}
		if cfg.HTTPAddr == "" {
			cfg.HTTPAddr = ident.GetHttpAddr()
		}
		return nil
	}
	if err := checkNew(cfg); err != nil {
		return err
	}
	if cfg.Listener != nil {
		cfg.Addr = cfg.Listener.Addr().String()
	}
	if cfg.HTTPListener != nil {
		cfg.HTTPAddr = cfg.HTTPListener.Addr().String()
	}
	if cfg.AdvertiseAddr == "" {
		cfg.AdvertiseAddr = cfg.Addr
	}
	if cfg.Cluster == nil {
		return nil // a joining node: after listening (join)
	}
	for _, m := range cfg.Cluster {
		if m.GetNodeId() == cfg.NodeID && m.GetHttpAddr() == "" {
			m.HttpAddr = cfg.HTTPAddr
		}
	}
	return n.store.Bootstrap(&kvpb.StoreIdent{
		ClusterId: store.ClusterIDFor(cfg.Cluster), NodeId: cfg.NodeID,
		Addr: cfg.Addr, AdvertiseAddr: cfg.AdvertiseAddr, HttpAddr: cfg.HTTPAddr,
	}, cfg.Cluster)
}

// preflight refuses the flags that contradict the directory, or that
// cannot start a new node, before the engine is opened for writing: a
// read-write open changes the directory (it starts a new log), and a
// refused start must change nothing. An existing directory is read
// through a read-only open, and only when a flag could contradict it.
func preflight(cfg *Config) error {
	fs := cfg.FS
	if fs == nil {
		fs = vfs.Default
	}
	engine := fs.PathJoin(cfg.Dir, "engine")
	if _, err := fs.Stat(engine); errors.Is(err, os.ErrNotExist) {
		return checkNew(cfg)
	}
	var opts dkv.Options
	if cfg.DBOptions != nil {
		opts = *cfg.DBOptions
	}
	opts.FS, opts.ReadOnly, opts.Logger = fs, true, slog.New(slog.DiscardHandler)
	db, err := dkv.Open(engine, &opts)
	if errors.Is(err, os.ErrNotExist) {
		return checkNew(cfg) // an engine directory that holds no database yet
	}
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := db.Get(keys.StoreIdent)
	if errors.Is(err, dkv.ErrNotFound) {
		return checkNew(cfg)
	}
	if err != nil {
		return err
	}
	ident := &kvpb.StoreIdent{}
	if err := proto.Unmarshal(v, ident); err != nil {
		return nil // store.Open reports the corruption
	}
	if v := ident.GetFormatVersion(); v != store.FormatVersion {
		// Refused before the engine is opened to write.
		return fmt.Errorf("server: %s holds cluster data in format version %d; this dkv reads version %d only (docs/format/keys.md): start a new directory",
			cfg.Dir, max(v, 1), store.FormatVersion)
	}
	if cfg.NodeID == 0 && cfg.Cluster == nil && cfg.Join == "" && cfg.Addr == "" && cfg.AdvertiseAddr == "" && cfg.HTTPAddr == "" {
		return nil // a restart with --dir only: nothing to contradict
	}
	return checkRestart(cfg, ident)
}

// checkRestart refuses the flags of a restart that contradict the
// identity the directory holds.
func checkRestart(cfg *Config, ident *kvpb.StoreIdent) error {
	if cfg.NodeID != 0 && cfg.NodeID != ident.GetNodeId() {
		return fmt.Errorf("server: --id %d contradicts %s, which holds node %d", cfg.NodeID, cfg.Dir, ident.GetNodeId())
	}
	if cfg.Join != "" {
		return fmt.Errorf("server: --join given, but %s already belongs to a cluster (node %d)", cfg.Dir, ident.GetNodeId())
	}
	if cfg.Cluster != nil && store.ClusterIDFor(cfg.Cluster) != ident.GetClusterId() {
		return fmt.Errorf("server: --cluster names another cluster than the one %s belongs to", cfg.Dir)
	}
	if cfg.Addr != "" && cfg.Listener == nil && cfg.Addr != ident.GetAddr() {
		return fmt.Errorf("server: --addr %s contradicts %s, which listens on %s", cfg.Addr, cfg.Dir, ident.GetAddr())
	}
	if cfg.AdvertiseAddr != "" && cfg.AdvertiseAddr != ident.GetAdvertiseAddr() {
		return fmt.Errorf("server: --advertise-addr %s contradicts %s, which advertises %s", cfg.AdvertiseAddr, cfg.Dir, ident.GetAdvertiseAddr())
	}
	if cfg.HTTPAddr != "" && cfg.HTTPListener == nil && cfg.HTTPAddr != ident.GetHttpAddr() {
		return fmt.Errorf("server: --http %s contradicts %s, which serves HTTP on %s", cfg.HTTPAddr, cfg.Dir, ident.GetHttpAddr())
	}
	return nil
}

// checkNew refuses the flags that cannot start a node in a new directory.
func checkNew(cfg *Config) error {
	addr, advertise := cfg.Addr, cfg.AdvertiseAddr
	if cfg.Listener != nil {
		addr = cfg.Listener.Addr().String()
	}
	if addr == "" {
		return errors.New("server: a new node needs --addr")
	}
	if advertise == "" {
		advertise = addr
	}
	switch {
	case cfg.Cluster != nil:
		if cfg.NodeID == 0 {
			return errors.New("server: bootstrapping (--cluster) needs --id")
		}
		var self *kvpb.NodeRecord
		for _, m := range cfg.Cluster {
			if m.GetNodeId() == cfg.NodeID {
				self = m
			}
		}
		if self == nil {
			return fmt.Errorf("server: --id %d is not among the --cluster members", cfg.NodeID)
		}
		if self.GetAddr() != advertise {
			return fmt.Errorf("server: --cluster lists node %d at %s, but it advertises %s", cfg.NodeID, self.GetAddr(), advertise)
		}
		return nil
	case cfg.Join != "":
		if cfg.NodeID != 0 {
			return errors.New("server: a joining node gets its ID from the cluster: drop --id")
		}
		return nil
	default:
		return fmt.Errorf("server: %s holds no node: give --cluster to bootstrap a new cluster or --join to join one", cfg.Dir)
	}
}

func (n *Node) listen() error {
	var err error
	n.lis = n.cfg.Listener
	if n.lis == nil {
		if n.lis, err = net.Listen("tcp", n.cfg.Addr); err != nil {
			return fmt.Errorf("server: listen on --addr: %w", err)
		}
	}
	n.httpLis = n.cfg.HTTPListener
	if n.httpLis == nil && n.cfg.HTTPAddr != "" {
		if n.httpLis, err = net.Listen("tcp", n.cfg.HTTPAddr); err != nil {
			return fmt.Errorf("server: listen on --http: %w", err)
		}
	}
	return nil
}

func (n *Node) closeListeners() {
	if n.lis != nil {
		_ = n.lis.Close()
	}
	if n.httpLis != nil {
		_ = n.httpLis.Close()
	}
}

// join asks a running member for a node ID (following leader hints) and
// records the identity it gets.
func (n *Node) join(ctx context.Context) error {
	target := n.cfg.Join
	// Every attempt of this start carries one random token: an attempt
	// whose answer was lost may have allocated an ID, and the retry gets
	// that same ID instead of a second one.
	token := joinToken()
	deadline := time.Now().Add(time.Minute)
	var lastErr error
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		resp, err := n.joinOnce(ctx, target, token)
		if err == nil {
			if e := resp.GetHeader().GetError(); e != nil {
				if nl := e.GetNotLeader(); nl != nil && nl.GetLeaderAddr() != "" {
					target = nl.GetLeaderAddr()
					continue
				}
				lastErr = errors.New(e.GetMessage())
			} else {
				return n.store.InitJoined(&kvpb.StoreIdent{
					ClusterId: resp.GetClusterId(), NodeId: resp.GetNodeId(),
					Addr: n.cfg.Addr, AdvertiseAddr: n.cfg.AdvertiseAddr, HttpAddr: n.cfg.HTTPAddr,
				}, resp.GetNodes())
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(100*(attempt+1)) * time.Millisecond):
		}
		target = n.cfg.Join
	}
	return fmt.Errorf("server: join %s: %w", n.cfg.Join, lastErr)
}

func joinToken() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if t := binary.LittleEndian.Uint64(b[:]); t != 0 {
			return t
		}
	}
}

func (n *Node) joinOnce(ctx context.Context, target string, token uint64) (*kvpb.JoinResponse, error) {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return kvpb.NewAdminClient(conn).Join(cctx, &kvpb.JoinRequest{Addr: n.cfg.AdvertiseAddr, HttpAddr: n.cfg.HTTPAddr, JoinToken: token})
}

// enter admits a client or admin request, or refuses it while the node
// drains; the caller must call leave when admitted.
func (n *Node) enter() bool {
	n.reqs.Lock()
	defer n.reqs.Unlock()
	if n.reqs.draining {
		return false
	}
	n.reqs.n++
	return true
}

func (n *Node) leave() {
	n.reqs.Lock()
	defer n.reqs.Unlock()
	n.reqs.n--
	if n.reqs.draining && n.reqs.n == 0 {
		close(n.reqs.idle)
	}
}

// drainingHeader is the answer to a request that arrives while the node
// drains: refused before anything was proposed.
func drainingHeader() *kvpb.ResponseHeader {
	return &kvpb.ResponseHeader{Error: &kvpb.Error{
		Message: "node is shutting down",
		Detail:  &kvpb.Error_StoreStopped{StoreStopped: &kvpb.StoreStopped{}},
	}}
}

// Store returns the node's Store.
func (n *Node) Store() *store.Store { return n.store }

// Transport returns the node's transport.
func (n *Node) Transport() *transport.Transport { return n.transport }

// Addr returns the address the gRPC listener is bound to.
func (n *Node) Addr() string { return n.lis.Addr().String() }

// HTTPAddr returns the address of the HTTP listener, or "".
func (n *Node) HTTPAddr() string {
	if n.httpLis == nil {
		return ""
	}
	return n.httpLis.Addr().String()
}

// Done is closed when the node's Store stopped (an engine error or Stop).
func (n *Node) Done() <-chan struct{} { return n.store.Done() }

// Err returns the engine error that stopped the node, or nil.
func (n *Node) Err() error { return n.store.Err() }

// Stop drains the node: it stops accepting requests, lets in-flight ones
// finish (up to a bound), then stops the Store, the transport and the
// listeners.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		n.reqs.Lock()
		n.reqs.draining = true
		n.reqs.idle = make(chan struct{})
		if n.reqs.n == 0 {
			close(n.reqs.idle)
		}
		idle := n.reqs.idle
		n.reqs.Unlock()
		select {
		case <-idle:
		case <-time.After(10 * time.Second):
		}
		n.grpc.Stop()
		if n.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = n.http.Shutdown(ctx)
			cancel()
		}
		err := n.transport.Close()
		if serr := n.store.Close(); err == nil {
			err = serr
		}
		n.wg.Wait()
		n.stopErr = err
	})
	return n.stopErr
}

// DefaultWorkers is how many replicas a node processes at once.
const DefaultWorkers = 64

// DefaultRangeMaxQPS is --range-max-qps's default: no splits by load. The
// halves of a range split by load stay on the same nodes, with their
// leaders on one of them, until the placement group's scheduler can move
// leaders and replicas apart (rebalancing, the next issue); until then a
// split adds a range's cost and no capacity: put/16 on one range fell
// from 3.5-4.0k to 2.6-2.9k writes/s when a 2,500 limit split it in two.
// CockroachDB's default, for when it can, is 2,500.
const DefaultRangeMaxQPS = 0

// DefaultRangeMaxBytes is --range-max-bytes's default.
const DefaultRangeMaxBytes = 64 << 20

// splitLoop splits, one at a time, the ranges this node leads that grew
// past RangeMaxBytes (at the key that halves their bytes) or that served
// more than RangeMaxQPS requests a second for LoadSplitChecks checks in a
// row (at the median of their sampled request keys, when it splits the
// samples about in half: one hot key cannot be split), until the Store
// stops. It records each range's requests a second for the reports.
func (n *Node) splitLoop() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-n.store.Done()
		cancel()
	}()
	t := time.NewTicker(n.cfg.SplitCheckInterval)
	defer t.Stop()
	hot := map[uint64]int{} // range → checks in a row above RangeMaxQPS
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n.splitCheck(ctx, now, hot)
		}
	}
}

func (n *Node) splitCheck(ctx context.Context, now time.Time, hot map[uint64]int) {
	qps := map[uint64]float64{}
	defer func() {
		n.loadMu.Lock()
		n.qps = qps
		n.loadMu.Unlock()
	}()
	for _, r := range n.store.Replicas() {
		st := r.Status()
		d := st.Descriptor
		if d == nil || d.GetPlacement() {
			continue
		}
		count, samples, window := r.TakeLoad(now)
		if st.RaftState != "StateLeader" || window < n.cfg.SplitCheckInterval/2 {
			delete(hot, d.GetRangeId())
			continue
		}
		rate := float64(count) / window.Seconds()
		qps[d.GetRangeId()] = rate
		var key []byte
		why := ""
		switch {
		case n.cfg.RangeMaxBytes > 0 && st.LiveBytes > n.cfg.RangeMaxBytes:
			why = "size"
		case n.cfg.RangeMaxQPS > 0 && rate > n.cfg.RangeMaxQPS:
			hot[d.GetRangeId()]++
			if hot[d.GetRangeId()] < n.cfg.LoadSplitChecks {
				continue
			}
			if key = replica.LoadSplitKey(samples, d.GetStartKey(), d.GetEndKey()); key == nil {
				continue // one hot key, or too few samples
			}
			why = "load"
		default:
			delete(hot, d.GetRangeId())
			continue
		}
		delete(hot, d.GetRangeId())
		sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
		left, right, err := n.store.SplitRange(sctx, d.GetRangeId(), key, d.GetEpoch(), n.allocateRangeID)
		scancel()
		if err != nil {
			n.logger.Info("split not done", "range", d.GetRangeId(), "why", why, "bytes", st.LiveBytes, "qps", rate, "err", err)
			continue
		}
		n.logger.Info("range split", "range", d.GetRangeId(), "why", why, "bytes", st.LiveBytes, "qps", rate,
			"left_end", fmt.Sprintf("%q", left.GetEndKey()), "new_range", right.GetRangeId())
	}
}

// rangeQPS returns the requests a second a range served at the last check
// (0: unknown).
func (n *Node) rangeQPS(rangeID uint64) float64 {
	n.loadMu.Lock()
	defer n.loadMu.Unlock()
	return n.qps[rangeID]
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return h
}
