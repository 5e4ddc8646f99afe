package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/client"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/server"
	"github.com/distributedkv/dkv/cluster/store"
	"github.com/distributedkv/dkv/cluster/transport"
	"github.com/distributedkv/dkv/vfs"
)

// ClusterConfig configures an in-process cluster.
type ClusterConfig struct {
	Nodes          int    // default 3
	Seed           int64  // for the fault interposer
	LogTailEntries uint64 // 0: the default
	TickInterval   time.Duration
	// RangeMaxBytes is the nodes' split size (0: the default).
	RangeMaxBytes int64
	// ReportInterval is how often nodes report to the placement group
	// (0: the default).
	ReportInterval time.Duration
	// RangeMaxQPS and SplitCheckInterval: splits by load (0: the
	// defaults).
	RangeMaxQPS        float64
	SplitCheckInterval time.Duration
	// WrapFS, if set, wraps each node's filesystem (an error-injecting
	// one, say).
	WrapFS func(id uint64, fs vfs.FS) vfs.FS
}

// Cluster is real nodes in one process: gRPC on 127.0.0.1, the fault
// interposer between them, and in-memory filesystems that can crash.
type Cluster struct {
	t      testing.TB
	cfg    ClusterConfig
	Faults *transport.Faults
	mu     sync.Mutex
	nodes  []*clusterNode
}

type clusterNode struct {
	id       uint64
	addr     string
	httpAddr string
	fs       *vfs.MemFS
	// frozen fails every change to fs from the instant of a crash: the
	// node must not go on writing, acknowledging or answering from state
	// the crash is about to lose while it is being stopped.
	frozen *vfs.Toggle
	node   *server.Node // nil while down
}

// errCrashed is what a crashed node's filesystem answers until it stops.
var errCrashed = errors.New("clustertest: the machine lost power")

// NewCluster bootstraps and starts a cluster; Close (registered with
// t.Cleanup) stops it.
func NewCluster(t testing.TB, cfg ClusterConfig) *Cluster {
	t.Helper()
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = 20 * time.Millisecond
	}
	c := &Cluster{t: t, cfg: cfg, Faults: transport.NewFaults(cfg.Seed)}
	var members []*kvpb.NodeRecord
	lis := make([]net.Listener, cfg.Nodes)
	hlis := make([]net.Listener, cfg.Nodes)
	for i := range cfg.Nodes {
		var err error
		if lis[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if hlis[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		n := &clusterNode{id: uint64(i + 1), addr: lis[i].Addr().String(), httpAddr: hlis[i].Addr().String(), fs: vfs.NewMem()}
		c.nodes = append(c.nodes, n)
		members = append(members, &kvpb.NodeRecord{NodeId: n.id, Addr: n.addr, HttpAddr: n.httpAddr})
	}
	t.Cleanup(c.Close)
	for i, n := range c.nodes {
		nd, err := server.Start(context.Background(), c.nodeConfig(n, members, lis[i], hlis[i]))
		if err != nil {
			t.Fatalf("start node %d: %v", n.id, err)
		}
		n.node = nd
	}
	return c
}

func (c *Cluster) nodeConfig(n *clusterNode, members []*kvpb.NodeRecord, l, hl net.Listener) server.Config {
	n.frozen = vfs.NewToggle(errCrashed, vfs.OpWrite|vfs.OpSync|vfs.OpCreate|vfs.OpRename|vfs.OpRemove|vfs.OpLink|vfs.OpTruncate, vfs.FileAll)
	var fs vfs.FS = vfs.NewErrorFS(n.fs, n.frozen)
	if c.cfg.WrapFS != nil {
		fs = c.cfg.WrapFS(n.id, fs)
	}
	return server.Config{
		NodeID:             n.id,
		Dir:                "/node",
		FS:                 fs,
		Cluster:            members,
		Listener:           l,
		HTTPListener:       hl,
		TickInterval:       c.cfg.TickInterval,
		LogTailEntries:     c.cfg.LogTailEntries,
		RangeMaxBytes:      c.cfg.RangeMaxBytes,
		ReportInterval:     c.cfg.ReportInterval,
		RangeMaxQPS:        c.cfg.RangeMaxQPS,
		SplitCheckInterval: c.cfg.SplitCheckInterval,
		Faults:             c.Faults,
		DBOptions:          &dkv.Options{MemTableSize: 1 << 20},
	}
}

// Endpoints returns every node's gRPC address.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.addr)
	}
	return out
}

// Node returns the running node with id, or nil while it is down.
func (c *Cluster) Node(id uint64) *server.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id-1].node
}

// HTTPAddr returns node id's HTTP address.
func (c *Cluster) HTTPAddr(id uint64) string { return c.nodes[id-1].httpAddr }

// Client returns a client of the cluster, closed at cleanup.
func (c *Cluster) Client(timeout time.Duration) *client.Client {
	cl, err := client.New(client.Config{Endpoints: c.Endpoints(), RequestTimeout: timeout, DialTimeout: 2 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Leader returns the node leading the first user range, waiting up to timeout.
func (c *Cluster) Leader(timeout time.Duration) (uint64, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			nd := c.Node(n.id)
			if nd == nil || nd.Err() != nil {
				continue
			}
			if r := nd.Store().Replica(store.FirstUserRangeID); r != nil && r.Status().RaftState == "StateLeader" {
				return n.id, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("no leader within %v", timeout)
}

// Crash stops node id as a power loss would: its filesystem keeps only
// what was synced.
func (c *Cluster) Crash(id uint64) {
	c.mu.Lock()
	n := c.nodes[id-1]
	nd := n.node
	n.node = nil
	if nd != nil {
		// From this instant nothing more reaches the disk (the node fails
		// the write and stops), and what was synced is what survives.
		n.frozen.On()
		n.fs = n.fs.CrashClone(vfs.CrashOptions{})
	}
	c.mu.Unlock()
	if nd != nil {
		_ = nd.Stop() // writes to the discarded filesystem
	}
}

// Restart brings node id back from its directory, on its old addresses.
func (c *Cluster) Restart(id uint64) error {
	c.mu.Lock()
	n := c.nodes[id-1]
	if n.node != nil {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	var l, hl net.Listener
	var err error
	for range 50 { // the port may linger a moment
		if l, err = net.Listen("tcp", n.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	if hl, err = net.Listen("tcp", n.httpAddr); err != nil {
		_ = l.Close()
		return err
	}
	cfg := c.nodeConfig(n, nil, l, hl)
	cfg.Cluster, cfg.NodeID = nil, 0
	nd, err := server.Start(context.Background(), cfg)
	if err != nil {
		return err
	}
	c.mu.Lock()
	n.node = nd
	c.mu.Unlock()
	return nil
}

// Close stops every node.
func (c *Cluster) Close() {
	c.mu.Lock()
	nodes := c.nodes
	c.mu.Unlock()
	for _, n := range nodes {
		c.mu.Lock()
		nd := n.node
		n.node = nil
		c.mu.Unlock()
		if nd != nil {
			_ = nd.Stop()
		}
	}
}

// ReportPath is where a test writes its report named name (a history as
// porcupine HTML): in DKV_REPORT_DIR when it is set, so that a failing
// seed can be looked at, else in the test's temporary directory.
func ReportPath(t testing.TB, name string) string {
	if d := os.Getenv("DKV_REPORT_DIR"); d != "" {
		return filepath.Join(d, name)
	}
	return filepath.Join(t.TempDir(), name)
}

// Join starts a new node that joins the cluster through node via's
// address, and returns its ID.
func (c *Cluster) Join(via uint64) (uint64, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = l.Close()
		return 0, err
	}
	n := &clusterNode{addr: l.Addr().String(), httpAddr: hl.Addr().String(), fs: vfs.NewMem()}
	cfg := c.nodeConfig(n, nil, l, hl)
	cfg.NodeID, cfg.Cluster, cfg.Join = 0, nil, c.nodes[via-1].addr
	nd, err := server.Start(context.Background(), cfg)
	if err != nil {
		return 0, err
	}
	n.id, n.node = nd.Store().NodeID(), nd
	c.mu.Lock()
	defer c.mu.Unlock()
	if int(n.id) != len(c.nodes)+1 {
		_ = nd.Stop()
		return 0, fmt.Errorf("joined node got ID %d, want %d", n.id, len(c.nodes)+1)
	}
	c.nodes = append(c.nodes, n)
	return n.id, nil
}
