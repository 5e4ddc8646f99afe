package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/distributedkv/dkv/client"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills the benchmark at once (and its nodes, by Pdeathsig)
	}()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// run is the whole benchmark: the binary, the nodes, the preload, the
// cells, the report. Whatever happens it stops the nodes before it
// returns; it writes the output files only when every cell ran.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) (err error) {
	r := &Report{Version: 1, Command: "go run ./cluster " + strings.Join(os.Args[1:], " "), Started: time.Now(),
		Host: hostInfo(), Settings: settings(cfg)}
	tmp, err := os.MkdirTemp(cfg.dir, "dkv-bench-cluster-")
	if err != nil {
		return err
	}
	defer func() {
		if cfg.keep {
			fmt.Fprintf(stderr, "kept the nodes' data and logs in %s\n", tmp)
		} else if rmErr := os.RemoveAll(tmp); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
	}()
	bin := cfg.dkv
	if bin == "" {
		fmt.Fprintln(stderr, "building dkv")
		if bin, err = buildDKV(ctx, tmp); err != nil {
			return err
		}
	}
	r.Settings.DKV = bin
	nodes, err := startNodes(bin, tmp, cfg.logLevel)
	if err != nil {
		return err
	}
	defer func() {
		r.Nodes = peakRSSes(nodes)
		if stopErr := stopNodes(nodes, 15*time.Second); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		r.Seconds = time.Since(r.Started).Seconds()
		fmt.Fprint(stdout, summary(r))
		if r.Completed && cfg.out != "" {
			if wErr := write(cfg.out, r); wErr != nil {
				err = errors.Join(err, wErr)
			} else {
				fmt.Fprintf(stderr, "wrote %s/summary.txt and %s/results.json\n", cfg.out, cfg.out)
			}
		}
	}()
	fmt.Fprintf(stderr, "nodes starting in %s (logs nN.log there)\n", tmp)
	wctx, cancel := context.WithTimeout(ctx, cfg.startAfter)
	err = waitReady(wctx, nodes)
	cancel()
	if err != nil {
		return err
	}
	return measure(ctx, cfg, nodes, r, stderr)
}

// measure preloads the keys and runs every cell, appending to r.
func measure(ctx context.Context, cfg config, nodes []*node, r *Report, stderr io.Writer) error {
	var eps []string
	for _, n := range nodes {
		eps = append(eps, n.addr)
	}
	newClient := func() (*client.Client, error) {
		return client.New(client.Config{Endpoints: eps, RequestTimeout: cfg.timeout})
	}
	shared, err := newClient()
	if err != nil {
		return err
	}
	defer shared.Close()
	vals := newValues(cfg.seed, cfg.valueSize)
	fmt.Fprintf(stderr, "preloading %d keys\n", cfg.keys)
	r.Preload, err = preload(ctx, shared, cfg, vals)
	if err != nil {
		return err
	}
	for _, w := range cfg.workloads {
		for _, n := range cfg.clients {
			clients := []*client.Client{shared}
			if cfg.perWorker {
				clients = nil
				for range n {
					cl, err := newClient()
					if err != nil {
						closeAll(clients)
						return err
					}
					clients = append(clients, cl)
				}
			}
			c, err := runCell(ctx, clients, cell{w, n}, cfg, nodes, vals)
			if cfg.perWorker {
				closeAll(clients)
			}
			if err != nil {
				return err
			}
			r.Cells = append(r.Cells, c)
			fmt.Fprintf(stderr, "%s/%d: %s ops/s, p50 %s, p99 %s, cpu/op %s, errors %s\n", w, n, fmtRate(c.OpsPerSec),
				fmtMicros(c.P50), fmtMicros(c.P99), fmtMicros(c.CPUMicrosPerOp), c.errorsCol())
			for _, nd := range nodes {
				if nd.exited() {
					return fmt.Errorf("node %d exited during %s/%d: %v\n%s", nd.id, w, n, nd.err, tail(nd.log, 20))
				}
			}
		}
	}
	r.Completed = true
	return nil
}

func closeAll(clients []*client.Client) {
	for _, cl := range clients {
		cl.Close()
	}
}

// peakRSSes reads each running node's VmHWM.
func peakRSSes(nodes []*node) []Node {
	var out []Node
	for _, n := range nodes {
		nd := Node{ID: n.id, Addr: n.addr, HTTP: n.http}
		if !n.exited() {
			nd.PeakRSS, _ = peakRSS(n.pid())
		}
		out = append(out, nd)
	}
	return out
}

func settings(cfg config) Settings {
	mode := "shared"
	if cfg.perWorker {
		mode = "per-worker"
	}
	return Settings{Nodes: 3, Keys: cfg.keys, KeySize: keyLen, ValueSize: cfg.valueSize,
		Workloads: strings.Join(cfg.workloads, ","), Clients: cfg.clients,
		Duration: cfg.duration.Seconds(), Warmup: cfg.warmup.Seconds(), ClientMode: mode,
		TimeoutSecs: cfg.timeout.Seconds(), Seed: cfg.seed,
		Sync: "every write fsynced (the nodes' default)"}
}
