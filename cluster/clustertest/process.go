package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distributedkv/dkv/client"
)

// The dkv binary the process tests run, built once per test binary (with
// the test binary's -race and -tags, so that the build reuses its cache and
// a data race in a node fails the test too).
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// DkvBinary builds cmd/dkv once per test binary and returns its path.
// RemoveDkvBinary removes it (TestMain calls it).
func DkvBinary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "dkv-process-test-")
		if binary.err != nil {
			return
		}
		args := []string{"build", "-o", filepath.Join(binary.dir, "dkv")}
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				switch {
				case s.Key == "-race" && s.Value == "true":
					args = append(args, "-race")
				case s.Key == "-tags" && s.Value != "":
					args = append(args, "-tags", s.Value)
				}
			}
		}
		args = append(args, "github.com/distributedkv/dkv/cmd/dkv")
		gobin, err := exec.LookPath("go")
		if err != nil {
			binary.err = fmt.Errorf("no go command to build dkv: %w", err)
			return
		}
		cmd := exec.Command(gobin, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			return
		}
		binary.path = filepath.Join(binary.dir, "dkv")
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// RemoveDkvBinary removes the binary DkvBinary built, if any.
func RemoveDkvBinary() {
	if binary.dir != "" {
		_ = os.RemoveAll(binary.dir)
	}
}

// FreeAddrs returns n distinct 127.0.0.1:PORT addresses that were free a
// moment ago. The ports come from below the kernel's ephemeral range when
// it can say where that is, so that an outgoing connection cannot take a
// port while a node is down between a kill and its restart.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	low := 0
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			low, _ = strconv.Atoi(f[0])
		}
	}
	var lis []net.Listener
	defer func() {
		for _, l := range lis {
			_ = l.Close()
		}
	}()
	var out []string
	for tries := 0; len(out) < n; tries++ {
		addr := "127.0.0.1:0"
		if low > 12000 && tries < 1000 {
			addr = fmt.Sprintf("127.0.0.1:%d", 10000+rand.IntN(low-10000))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if tries > 2000 {
				t.Fatalf("no free port: %v", err)
			}
			continue
		}
		lis = append(lis, l)
		out = append(out, l.Addr().String())
	}
	return out
}

// Process is one `dkv start` process: its node's identity and addresses,
// its directory, and its log (standard output and error, one file over
// every start).
type Process struct {
	ID       uint64
	Dir      string
	Addr     string // gRPC
	HTTPAddr string
	Log      string

	t   testing.TB
	bin string

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd ended; state is then set
	state    *os.ProcessState
	expected bool // the test stopped it (a kill or SIGTERM), not a crash
	paused   bool
	starts   int
	crashed  []string // unexpected exits
}

// NewProcess describes a node without starting it; every process it
// starts is killed at cleanup, and its log is shown when the test failed.
func NewProcess(t testing.TB, id uint64, dir, addr, httpAddr string) *Process {
	p := &Process{ID: id, Dir: dir, Addr: addr, HTTPAddr: httpAddr, t: t, bin: DkvBinary(t),
		Log: filepath.Join(filepath.Dir(dir), fmt.Sprintf("%s.log", filepath.Base(dir)))}
	t.Cleanup(p.cleanup)
	return p
}

// Start runs `dkv start ARGS...` and returns without waiting for it to
// serve (WaitHealthy waits).
func (p *Process) Start(args ...string) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.state == nil {
		p.t.Fatalf("node %d: started while running", p.ID)
	}
	logf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer logf.Close()
	p.starts++
	fmt.Fprintf(logf, "=== %s start %d: dkv start %s\n", time.Now().Format("15:04:05.000"), p.starts, strings.Join(args, " "))
	cmd := exec.Command(p.bin, append([]string{"start"}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("node %d: %v", p.ID, err)
	}
	p.cmd, p.state, p.expected, p.paused = cmd, nil, false, false
	exited := make(chan struct{})
	p.exited = exited
	go func() {
		_ = cmd.Wait()
		p.mu.Lock()
		p.state = cmd.ProcessState
		if !p.expected {
			p.crashed = append(p.crashed, fmt.Sprintf("start %d: %v", p.starts, cmd.ProcessState))
		}
		p.mu.Unlock()
		close(exited)
	}()
}

// dieWithParent asks Linux to SIGKILL a node when the test process dies
// (a test timeout's panic runs no cleanup); other systems lack the field.
func dieWithParent() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{}
	if f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig"); f.IsValid() && f.CanSet() {
		f.Set(reflect.ValueOf(syscall.SIGKILL))
	}
	return attr
}

// Restart starts the node again from its directory alone (`--dir DIR`)
// and waits until it serves.
func (p *Process) Restart(timeout time.Duration) {
	p.t.Helper()
	p.Start("--dir", p.Dir)
	p.WaitHealthy(timeout)
}

// Running reports whether the process runs (paused or not).
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && p.state == nil
}

// Paused reports whether the test stopped the process with SIGSTOP.
func (p *Process) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

func (p *Process) signal(sig syscall.Signal, expectExit bool) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.state != nil {
		p.t.Fatalf("node %d: signal %v, but it does not run", p.ID, sig)
	}
	if expectExit {
		p.expected = true
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("node %d: signal %v: %v", p.ID, sig, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		p.paused = true
	case syscall.SIGCONT, syscall.SIGKILL:
		p.paused = false
	}
}

// Kill sends SIGKILL and waits for the process to end.
func (p *Process) Kill() {
	p.t.Helper()
	p.signal(syscall.SIGKILL, true)
	if _, err := p.Wait(time.Minute); err != nil {
		p.t.Fatal(err)
	}
}

// Pause sends SIGSTOP; Resume sends SIGCONT.
func (p *Process) Pause() { p.t.Helper(); p.signal(syscall.SIGSTOP, false) }

// Resume sends SIGCONT to a paused process.
func (p *Process) Resume() { p.t.Helper(); p.signal(syscall.SIGCONT, false) }

// Terminate sends SIGTERM (the process is expected to drain and exit).
func (p *Process) Terminate() { p.t.Helper(); p.signal(syscall.SIGTERM, true) }

// Wait waits up to timeout for the process to end and returns its state.
func (p *Process) Wait(timeout time.Duration) (*os.ProcessState, error) {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	if exited == nil {
		return nil, fmt.Errorf("node %d was never started", p.ID)
	}
	select {
	case <-exited:
	case <-time.After(timeout):
		return nil, fmt.Errorf("node %d still runs after %v", p.ID, timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state, nil
}

// WaitHealthy waits until GET /healthz answers 200, failing the test when
// the process ends first or timeout passes.
func (p *Process) WaitHealthy(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if !p.Running() {
			st, _ := p.Wait(0)
			p.t.Fatalf("node %d exited before serving: %v\n%s", p.ID, st, p.LogTail(4096))
		}
		if code, body, err := httpGet(p.HTTPAddr, "/healthz"); err != nil {
			last = err.Error()
		} else if code == http.StatusOK {
			return
		} else {
			last = fmt.Sprintf("%d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("node %d: /healthz not 200 within %v (last: %s)", p.ID, timeout, last)
}

// LogTail returns up to the last n bytes of the process's log.
func (p *Process) LogTail(n int64) string {
	f, err := os.Open(p.Log)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// cleanup kills the process, reports an exit the test did not cause, and
// shows the log when the test failed (copying it into DKV_REPORT_DIR when
// that is set).
func (p *Process) cleanup() {
	p.mu.Lock()
	running := p.cmd != nil && p.state == nil
	if running {
		p.expected = true
		_ = p.cmd.Process.Kill()
	}
	p.mu.Unlock()
	if running {
		_, _ = p.Wait(time.Minute)
	}
	p.mu.Lock()
	crashed := p.crashed
	p.mu.Unlock()
	if len(crashed) > 0 {
		p.t.Errorf("node %d exited when the test did not stop it: %v", p.ID, crashed)
	}
	if !p.t.Failed() || p.starts == 0 {
		return
	}
	p.t.Logf("node %d log (%s), last 8 KiB:\n%s", p.ID, p.Log, p.LogTail(8<<10))
	if d := os.Getenv("DKV_REPORT_DIR"); d != "" {
		if b, err := os.ReadFile(p.Log); err == nil && os.MkdirAll(d, 0o755) == nil {
			name := strings.NewReplacer("/", "_", " ", "_").Replace(p.t.Name())
			_ = os.WriteFile(filepath.Join(d, fmt.Sprintf("%s-node%d.log", name, p.ID)), b, 0o644)
		}
	}
}

// ProcessCluster is a cluster of `dkv start` processes on 127.0.0.1, each
// with its directory under the test's temporary directory.
type ProcessCluster struct {
	t     testing.TB
	Nodes []*Process // Nodes[i] has ID i+1
}

// StartProcessCluster bootstraps n nodes with --cluster (extra flags are
// added to each first start) and waits until every one serves and range
// 1 has a leader.
func StartProcessCluster(t testing.TB, n int, extra ...string) *ProcessCluster {
	t.Helper()
	root := t.TempDir()
	addrs := FreeAddrs(t, 2*n)
	c := &ProcessCluster{t: t}
	var members []string
	for i := range n {
		p := NewProcess(t, uint64(i+1), filepath.Join(root, fmt.Sprintf("n%d", i+1)), addrs[2*i], addrs[2*i+1])
		c.Nodes = append(c.Nodes, p)
		members = append(members, fmt.Sprintf("%d=%s", p.ID, p.Addr))
	}
	for _, p := range c.Nodes {
		args := []string{"--id", strconv.FormatUint(p.ID, 10), "--dir", p.Dir, "--addr", p.Addr,
			"--http", p.HTTPAddr, "--cluster", strings.Join(members, ",")}
		p.Start(append(args, extra...)...)
	}
	for _, p := range c.Nodes {
		p.WaitHealthy(time.Minute)
	}
	c.Leader(time.Minute)
	return c
}

// Node returns the process of node id.
func (c *ProcessCluster) Node(id uint64) *Process { return c.Nodes[id-1] }

// Endpoints returns every node's gRPC address.
func (c *ProcessCluster) Endpoints() []string {
	var out []string
	for _, p := range c.Nodes {
		out = append(out, p.Addr)
	}
	return out
}

// Client returns a Go client of the cluster, closed at cleanup.
func (c *ProcessCluster) Client(requestTimeout time.Duration) *client.Client {
	c.t.Helper()
	cl, err := client.New(client.Config{Endpoints: c.Endpoints(), DialTimeout: time.Second, RequestTimeout: requestTimeout})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Leader waits up to timeout until a running, unpaused node not among
// exclude answers GET /api/v1/ranges with a leader of the first range
// that is itself running, unpaused and not excluded, and returns it.
func (c *ProcessCluster) Leader(timeout time.Duration, exclude ...uint64) uint64 {
	c.t.Helper()
	skip := func(id uint64) bool {
		for _, e := range exclude {
			if e == id {
				return true
			}
		}
		return id == 0 || id > uint64(len(c.Nodes)) || !c.Node(id).Running() || c.Node(id).Paused()
	}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		for _, p := range c.Nodes {
			if skip(p.ID) {
				continue
			}
			lead, err := p.RangeLeader()
			if err != nil {
				last = err.Error()
				continue
			}
			last = fmt.Sprintf("node %d names leader %d", p.ID, lead)
			if !skip(lead) {
				return lead
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("no leader (excluding %v) within %v; last: %s", exclude, timeout, last)
	return 0
}

// RangeLeader asks the node's GET /api/v1/ranges for the leader of the
// range that starts the key space (0: none known).
func (p *Process) RangeLeader() (uint64, error) {
	code, body, err := httpGet(p.HTTPAddr, "/api/v1/ranges")
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("node %d: /api/v1/ranges: %d %s", p.ID, code, body)
	}
	var ranges []struct {
		ID       uint64 `json:"id"`
		StartKey []byte `json:"start_key"`
		Leader   uint64 `json:"leader_node_id"`
	}
	if err := json.Unmarshal(body, &ranges); err != nil {
		return 0, fmt.Errorf("node %d: /api/v1/ranges: %w", p.ID, err)
	}
	for _, r := range ranges {
		if len(r.StartKey) == 0 {
			return r.Leader, nil
		}
	}
	return 0, fmt.Errorf("node %d: /api/v1/ranges lists no range at the start of the key space", p.ID)
}

// httpClient never reuses a connection: a killed or paused node must not
// hold one, and every call ends within its timeout.
var httpClient = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func httpGet(addr, path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, bytes.TrimSpace(body), err
}

// RunDkv runs `dkv ARGS...` to completion (bounded by timeout) and
// returns its exit code, standard output and standard error.
func RunDkv(t testing.TB, timeout time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, DkvBinary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.SysProcAttr = dieWithParent()
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		code = ee.ExitCode()
	default:
		t.Fatalf("dkv %s: %v (stderr: %s)", strings.Join(args, " "), err, errb.String())
	}
	return code, out.String(), errb.String()
}
