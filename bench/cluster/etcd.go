package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// etcdMemberPkg is the program each etcd member runs (etcdmember/): etcd's
// embed package with its default settings, listening on 127.0.0.1.
const etcdMemberPkg = "github.com/distributedkv/dkv/bench/cluster/etcdmember"

// buildEtcdMember builds etcdmember/ into dir and returns the binary's
// path. It builds in the bench module, so the etcd version is the one
// bench/go.mod requires.
func buildEtcdMember(ctx context.Context, dir string) (string, error) {
	src, err := exec.CommandContext(ctx, "go", "list", "-f", "{{.Dir}}", etcdMemberPkg).Output()
	if err != nil {
		return "", fmt.Errorf("locate %s: %w", etcdMemberPkg, err)
	}
	bin := filepath.Join(dir, "etcdmember")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = strings.TrimSpace(string(src))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w", etcdMemberPkg, err)
	}
	return bin, nil
}

// etcdNodes describes three etcd members on addrs (2 × nodeCount free
// addresses: each member's client URL, then its peer URL), each with its
// data in dir/eN and its output in dir/eN.log.
func etcdNodes(dir string, addrs []string) []*node {
	nodes := make([]*node, nodeCount)
	for i := range nodes {
		nodes[i] = &node{system: "etcd", id: i + 1, addr: addrs[2*i], peer: addrs[2*i+1],
			dir: filepath.Join(dir, fmt.Sprintf("e%d", i+1)), log: filepath.Join(dir, fmt.Sprintf("e%d.log", i+1))}
	}
	return nodes
}

// etcdArgs is the command line of member n of the cluster nodes.
func etcdArgs(bin string, n *node, nodes []*node, logLevel string, startTimeout time.Duration) []string {
	var initial []string
	for _, m := range nodes {
		initial = append(initial, fmt.Sprintf("e%d=http://%s", m.id, m.peer))
	}
	return []string{bin, "-name", fmt.Sprintf("e%d", n.id), "-data-dir", n.dir,
		"-client-url", "http://" + n.addr, "-peer-url", "http://" + n.peer,
		"-initial-cluster", strings.Join(initial, ","), "-log-level", logLevel,
		"-start-timeout", startTimeout.String()}
}

// startEtcd starts three etcd members bootstrapping one cluster; on error
// the members that started are stopped.
func startEtcd(bin, dir, logLevel string, addrs []string, startTimeout time.Duration) ([]*node, error) {
	nodes := etcdNodes(dir, addrs)
	return startAll(nodes, func(n *node) []string { return etcdArgs(bin, n, nodes, logLevel, startTimeout) })
}

// etcdEndpoints are the members' client URLs.
func etcdEndpoints(nodes []*node) []string {
	var eps []string
	for _, n := range nodes {
		eps = append(eps, "http://"+n.addr)
	}
	return eps
}

// etcdKV is etcd's Go client, clientv3, given every member's endpoint (it
// balances requests over them; a follower forwards a put to the leader).
// A Get is linearizable (clientv3's default, a ReadIndex through the
// leader); each operation's deadline is timeout, like dkv's
// RequestTimeout.
type etcdKV struct {
	c       *clientv3.Client
	timeout time.Duration
}

func newEtcdKV(nodes []*node, timeout time.Duration) (*etcdKV, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: etcdEndpoints(nodes), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	return &etcdKV{c, timeout}, nil
}

func (e *etcdKV) Put(ctx context.Context, key, value []byte) error {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	_, err := e.c.Put(ctx, string(key), string(value))
	return etcdPutError(err)
}

func (e *etcdKV) Get(ctx context.Context, key []byte) error {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	resp, err := e.c.Get(ctx, string(key))
	if err != nil {
		return err
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("etcd: %w: %q", errNotFound, key)
	}
	return nil
}

func (e *etcdKV) Close() error { return e.c.Close() }

// etcdPutError marks a put's error ambiguous (errAmbiguous) when the put
// may have been applied: a deadline or cancellation, etcd's own request
// timeouts (the proposal was made but not seen applied in time), or a
// connection that failed with the request possibly sent. etcd's other
// answers (no leader, too many requests, no space, ...) reject the put
// before it is proposed and stay plain failures.
func etcdPutError(err error) error {
	if err == nil {
		return nil
	}
	ambiguous := false
	var ee rpctypes.EtcdError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		ambiguous = true
	case errors.Is(err, rpctypes.ErrTimeout), errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail),
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost):
		ambiguous = true
	case errors.As(err, &ee):
	default:
		if st, ok := status.FromError(err); ok {
			switch st.Code() {
			case codes.DeadlineExceeded, codes.Canceled, codes.Unavailable, codes.Unknown:
				ambiguous = true
			}
		}
	}
	if ambiguous {
		return fmt.Errorf("etcd: %w: %w", errAmbiguous, err)
	}
	return err
}

// etcdReady returns what an etcd cluster still waits for, or "" when
// every member answers Status with the same leader. It also returns the
// members' version.
func etcdReady(ctx context.Context, c *clientv3.Client, nodes []*node) (string, string) {
	var leader uint64
	var version string
	for _, n := range nodes {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.Status(sctx, "http://"+n.addr)
		cancel()
		switch {
		case err != nil:
			return fmt.Sprintf("%v status: %v", n, err), ""
		case st.Leader == 0:
			return fmt.Sprintf("%v has no leader", n), ""
		case leader != 0 && st.Leader != leader:
			return fmt.Sprintf("members disagree on the leader (%x, %x)", leader, st.Leader), ""
		}
		leader, version = st.Leader, st.Version
	}
	return "", version
}
