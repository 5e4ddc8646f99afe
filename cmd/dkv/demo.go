package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv/client"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/server"
)

func newDemoCmd(g *globals) *cobra.Command {
	var duration time.Duration
	var quiet bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a three-node cluster on this machine, with a little traffic",
		Long: `demo starts three dkv nodes in this process, on loopback addresses
(gRPC on 127.0.0.1:7001-7003 and HTTP on 127.0.0.1:8001-8003, or free
ports when those are taken), writes a little traffic to it, and prints the
endpoints and what to try. Ctrl-C (or --duration) stops it.

The nodes' data goes to a temporary directory, removed at the end, unless
--dir is given explicitly: then each node keeps its data in DIR/n1, DIR/n2
and DIR/n3, and a later demo with the same --dir restarts the same cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := ""
			if cmd.Flags().Changed("dir") {
				dir = g.dir
			}
			return runDemo(cmd, dir, duration, quiet)
		},
	}
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after `D` (0: run until interrupted)")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "no node logs on standard error")
	return cmd
}

func runDemo(cmd *cobra.Command, dir string, duration time.Duration, quiet bool) error {
	out := cmd.OutOrStdout()
	temp := dir == ""
	if temp {
		d, err := os.MkdirTemp("", "dkv-demo-")
		if err != nil {
			return err
		}
		dir = d
		defer os.RemoveAll(d)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	var logw io.Writer = cmd.ErrOrStderr()
	if quiet {
		logw = io.Discard
	}
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))

	const n = 3
	lis := make([]net.Listener, n)
	hlis := make([]net.Listener, n)
	defer func() {
		for i := range n {
			if lis[i] != nil {
				_ = lis[i].Close()
			}
			if hlis[i] != nil {
				_ = hlis[i].Close()
			}
		}
	}()
	var members []*kvpb.NodeRecord
	for i := range n {
		var err error
		if lis[i], err = listenPreferred(dir, i, "addr", 7001+i); err != nil {
			return err
		}
		if hlis[i], err = listenPreferred(dir, i, "http", 8001+i); err != nil {
			return err
		}
		members = append(members, &kvpb.NodeRecord{NodeId: uint64(i + 1), Addr: lis[i].Addr().String(), HttpAddr: hlis[i].Addr().String()})
	}
	nodes := make([]*server.Node, 0, n)
	defer func() {
		for _, nd := range nodes {
			_ = nd.Stop()
		}
	}()
	for i := range n {
		nodeDir := filepath.Join(dir, fmt.Sprintf("n%d", i+1))
		cfg := server.Config{Dir: nodeDir, Listener: lis[i], HTTPListener: hlis[i], Logger: logger.With("node", i+1)}
		if _, err := os.Stat(filepath.Join(nodeDir, "engine")); errors.Is(err, os.ErrNotExist) {
			cfg.NodeID, cfg.Cluster = uint64(i+1), members
		}
		nd, err := server.Start(ctx, cfg)
		if err != nil {
			return fmt.Errorf("node %d: %w", i+1, err)
		}
		lis[i], hlis[i] = nil, nil // the node owns them now
		nodes = append(nodes, nd)
		_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("n%d.addrs", i+1)), []byte(nd.Addr()+"\n"+nd.HTTPAddr()+"\n"), 0o644)
	}
	var eps []string
	for _, nd := range nodes {
		eps = append(eps, nd.Addr())
	}
	cl, err := client.New(client.Config{Endpoints: eps})
	if err != nil {
		return err
	}
	defer cl.Close()

	where := dir
	if temp {
		where += " (removed when the demo stops)"
	}
	fmt.Fprintf(out, "dkv demo: a three-node cluster on this machine, data in %s\n\n", where)
	for i, nd := range nodes {
		fmt.Fprintf(out, "  node %d   gRPC %-16s  HTTP http://%s\n", i+1, nd.Addr(), nd.HTTPAddr())
	}
	fmt.Fprintf(out, `
Try, from another terminal:

  export DKV_ENDPOINTS=%s
  dkv put greeting hello
  dkv get greeting
  dkv cas greeting hello bonjour
  dkv scan --prefix demo/
  dkv range list
  dkv range split 2 --key demo/m
  curl -s http://%s/api/v1/ranges
  curl -s http://%s/api/v1/nodes

A little traffic runs meanwhile (keys demo/...). Ctrl-C stops the cluster.
`, strings.Join(eps, ","), nodes[0].HTTPAddr(), nodes[0].HTTPAddr())

	traffic(ctx, cl, out)
	fmt.Fprintln(out, "\nstopping")
	return nil
}

// listenPreferred listens on 127.0.0.1:port — or, when a demo directory
// remembers the node's address, on that — and on a free port when that
// one is taken.
func listenPreferred(dir string, i int, which string, port int) (net.Listener, error) {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("n%d.addrs", i+1))); err == nil {
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) == 2 {
			if which == "addr" {
				addr = lines[0]
			} else {
				addr = lines[1]
			}
			// A restart must listen where the cluster knows it.
			return net.Listen("tcp", addr)
		}
	}
	if l, err := net.Listen("tcp", addr); err == nil {
		return l, nil
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// traffic writes and reads a few keys until ctx ends, printing a line
// every few seconds.
func traffic(ctx context.Context, cl *client.Client, out io.Writer) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	report := time.Now()
	var writes, reads, failures int
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		octx, cancel := context.WithTimeout(ctx, 2*time.Second)
		key := fmt.Sprintf("demo/key-%04d", i%1000)
		if err := cl.Put(octx, []byte(key), []byte(time.Now().Format(time.RFC3339Nano))); err != nil {
			failures++
		} else {
			writes++
		}
		if _, err := cl.Get(octx, []byte(key)); err != nil {
			failures++
		} else {
			reads++
		}
		cancel()
		if time.Since(report) > 10*time.Second {
			fmt.Fprintf(out, "traffic: %d writes, %d reads, %d failures so far\n", writes, reads, failures)
			report = time.Now()
		}
	}
}
