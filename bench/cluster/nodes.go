package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// node is one server process: a `dkv start` node or an etcd member.
type node struct {
	system string // "dkv" or "etcd"
	id     int
	addr   string // host:port clients dial (dkv: gRPC; etcd: its client URL's)
	http   string // dkv: /healthz, /api/v1/...
	peer   string // etcd: its peer URL's host:port
	dir    string // its data directory
	log    string // its stdout and stderr

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's, once done is closed
}

// String names the node in messages: "dkv node 2", "etcd member 2".
func (n *node) String() string {
	if n.system == "etcd" {
		return fmt.Sprintf("etcd member %d", n.id)
	}
	return fmt.Sprintf("%s node %d", n.system, n.id)
}

// pid returns the node's process ID as /proc names it.
func (n *node) pid() string { return strconv.Itoa(n.cmd.Process.Pid) }

func (n *node) exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// buildDKV builds ../cmd/dkv (the dkv module this one replaces) into dir
// and returns the binary's path.
func buildDKV(ctx context.Context, dir string) (string, error) {
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/distributedkv/dkv").Output()
	if err != nil {
		return "", fmt.Errorf("locate the dkv module: %w", err)
	}
	bin := filepath.Join(dir, "dkv")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/dkv")
	cmd.Dir = strings.TrimSpace(string(root))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/dkv in %s: %w", cmd.Dir, err)
	}
	return bin, nil
}

// freeAddrs returns n distinct free TCP addresses on 127.0.0.1. They are
// free when it returns; another process may take one before a node
// listens on it, and that node then fails to start (a rare race).
func freeAddrs(n int) ([]string, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// nodeCount is the size of each cluster.
const nodeCount = 3

// startNodes starts three dkv nodes bootstrapping one cluster on addrs
// (2 × nodeCount free addresses: each node's gRPC, then its HTTP), each
// with its data in dir/nN and its output in dir/nN.log. On error the
// nodes that started are stopped.
func startNodes(bin, dir, logLevel string, extra []string, addrs []string) ([]*node, error) {
	var members []string
	nodes := make([]*node, nodeCount)
	for i := range nodes {
		nodes[i] = &node{system: "dkv", id: i + 1, addr: addrs[2*i], http: addrs[2*i+1],
			dir: filepath.Join(dir, fmt.Sprintf("n%d", i+1)), log: filepath.Join(dir, fmt.Sprintf("n%d.log", i+1))}
		members = append(members, fmt.Sprintf("%d=%s", i+1, nodes[i].addr))
	}
	return startAll(nodes, func(n *node) []string {
		return append([]string{bin, "start", "--id", strconv.Itoa(n.id), "--dir", n.dir,
			"--addr", n.addr, "--http", n.http, "--cluster", strings.Join(members, ","), "--log-level", logLevel}, extra...)
	})
}

// startAll starts each node with the command line args(node) returns; on
// error it stops the ones that started.
func startAll(nodes []*node, args func(*node) []string) ([]*node, error) {
	var started []*node
	for _, nd := range nodes {
		if err := nd.start(args(nd)); err != nil {
			stopNodes(started, 10*time.Second)
			return nil, err
		}
		started = append(started, nd)
	}
	return nodes, nil
}

// start runs args with its output in n.log. The process is in its own
// process group (a Ctrl-C reaches the benchmark, which stops the nodes in
// order) and is killed if the benchmark dies.
func (n *node) start(args []string) error {
	logf, err := os.Create(n.log)
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own descriptor
	n.cmd = exec.Command(args[0], args[1:]...)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	n.done = make(chan struct{})
	go func() {
		n.err = n.cmd.Wait()
		close(n.done)
	}()
	return nil
}

// stopNodes sends SIGTERM to every node that runs (a drain), waits up to
// grace for them to exit, then kills the ones left. It returns the
// nodes' exit errors other than the kill's.
func stopNodes(nodes []*node, grace time.Duration) error {
	for _, n := range nodes {
		if !n.exited() {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(grace)
	var errs []error
	for _, n := range nodes {
		select {
		case <-n.done:
			if n.err != nil {
				errs = append(errs, fmt.Errorf("%v: %w (log: %s)", n, n.err, n.log))
			}
		case <-deadline:
			_ = n.cmd.Process.Kill()
			<-n.done
			errs = append(errs, fmt.Errorf("%v: did not exit within %v of SIGTERM; killed (log: %s)", n, grace, n.log))
		}
	}
	return errors.Join(errs...)
}

// waitReady polls ready every 100 ms until it returns "" (the cluster is
// ready) or ctx ends. A node that exits meanwhile fails the wait with the
// end of its log.
func waitReady(ctx context.Context, nodes []*node, ready func(context.Context) string) error {
	var last string
	for {
		last = ready(ctx)
		if last == "" {
			return nil
		}
		if err := checkRunning(nodes); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s cluster not ready: %s: %w", nodes[0].system, last, context.Cause(ctx))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkRunning returns an error with the end of its log for the first
// node that has exited.
func checkRunning(nodes []*node) error {
	for _, n := range nodes {
		if n.exited() {
			return fmt.Errorf("%v exited: %v\n%s", n, n.err, tail(n.log, 20))
		}
	}
	return nil
}

// dkvReady returns what a dkv cluster still waits for, or "" when every
// node answers /healthz with 200 and every range has a leader.
func dkvReady(ctx context.Context, hc *http.Client, nodes []*node) string {
	for _, n := range nodes {
		code, _, err := get(ctx, hc, "http://"+n.http+"/healthz")
		if err != nil || code != http.StatusOK {
			return fmt.Sprintf("%v /healthz: %d %v", n, code, err)
		}
	}
	code, body, err := get(ctx, hc, "http://"+nodes[0].http+"/api/v1/ranges")
	if err != nil || code != http.StatusOK {
		return fmt.Sprintf("/api/v1/ranges: %d %v", code, err)
	}
	var ranges []struct {
		ID           uint64 `json:"id"`
		LeaderNodeID uint64 `json:"leader_node_id"`
	}
	if err := json.Unmarshal(body, &ranges); err != nil {
		return fmt.Sprintf("/api/v1/ranges: %v", err)
	}
	if len(ranges) == 0 {
		return "/api/v1/ranges: no ranges yet"
	}
	for _, r := range ranges {
		if r.LeaderNodeID == 0 {
			return fmt.Sprintf("range %d has no leader", r.ID)
		}
	}
	return ""
}

func get(ctx context.Context, hc *http.Client, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// tail returns the last n lines of a file, indented, for an error.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	lines = lines[max(0, len(lines)-n):]
	return "  " + strings.Join(lines, "\n  ")
}
