package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/distributedkv/dkv/bench/internal/units"
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

// run is the whole benchmark: the binaries, the clusters, the preloads,
// the cells, the report. Whatever happens it stops every process before it
// returns; it writes the output files only when every cell ran.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) (err error) {
	r := &Report{Version: 2, Command: "go run ./cluster " + strings.Join(os.Args[1:], " "), Started: time.Now(),
		Host: hostInfo(), Settings: settings(cfg), Order: describeOrder(cfg.systems, cfg.order)}
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
	bins := map[string]string{"dkv": cfg.dkv, "etcd": cfg.etcd}
	for _, name := range cfg.systems {
		switch {
		case bins[name] != "":
		case name == "dkv":
			fmt.Fprintln(stderr, "building dkv")
			bins[name], err = buildDKV(ctx, tmp)
		case name == "etcd":
			fmt.Fprintln(stderr, "building etcdmember (etcd through its embed package)")
			bins[name], err = buildEtcdMember(ctx, tmp)
		}
		if err != nil {
			return err
		}
	}
	// Every address at once, so no two clusters are handed the same port.
	addrs, err := freeAddrs(2 * nodeCount * len(cfg.systems))
	if err != nil {
		return err
	}
	var systems []*system
	defer func() {
		for _, s := range systems {
			s.res.Nodes = peakRSSes(s.nodes)
			if s.shared != nil {
				s.shared.Close()
			}
		}
		for _, s := range systems {
			if stopErr := stopNodes(s.nodes, 15*time.Second); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
		}
		r.Seconds = time.Since(r.Started).Seconds()
		r.Comparison = comparison(r)
		fmt.Fprint(stdout, summary(r))
		if r.Completed && cfg.out != "" {
			if wErr := write(cfg.out, r); wErr != nil {
				err = errors.Join(err, wErr)
			} else {
				fmt.Fprintf(stderr, "wrote %s/summary.txt and %s/results.json\n", cfg.out, cfg.out)
			}
		}
	}()
	for i, name := range cfg.systems {
		s, err := startSystem(name, bins[name], tmp, cfg, addrs[2*nodeCount*i:2*nodeCount*(i+1)])
		if err != nil {
			return err
		}
		systems = append(systems, s)
		r.Systems = append(r.Systems, s.res)
	}
	fmt.Fprintf(stderr, "%s starting in %s (logs nN.log for dkv, eN.log for etcd)\n", strings.Join(cfg.systems, " and "), tmp)
	for _, s := range systems {
		if err := s.waitReady(ctx, cfg); err != nil {
			return err
		}
		if s.name == "dkv" && cfg.idleRanges > 0 {
			return measureIdle(ctx, cfg, s, stderr)
		}
		if s.name == "dkv" && cfg.ranges > 1 {
			fmt.Fprintf(stderr, "dkv: splitting into %d ranges\n", cfg.ranges)
			if err := splitInto(ctx, s.nodes, cfg.ranges, cfg.keys); err != nil {
				return err
			}
		}
	}
	return measure(ctx, cfg, systems, r, stderr)
}

// startSystem starts the processes of one system's cluster. Its client is
// made once the cluster is ready (waitReady).
func startSystem(name, bin, dir string, cfg config, addrs []string) (*system, error) {
	s := &system{name: name, res: &SystemResult{Name: name, Binary: bin}}
	var err error
	switch name {
	case "dkv":
		s.res.Durability = "every write fsynced (the nodes' default)"
		s.nodes, err = startNodes(bin, dir, cfg.logLevel, strings.Fields(cfg.dkvFlags), addrs)
		s.newKV = func() (kv, error) { return newDKVKV(s.nodes, cfg.timeout) }
	case "etcd":
		s.res.Durability = "every write fsynced to the WAL of a quorum before it is acknowledged (etcd's defaults, embed.NewConfig)"
		s.nodes, err = startEtcd(bin, dir, cfg.logLevel, addrs, cfg.startAfter)
		s.newKV = func() (kv, error) { return newEtcdKV(s.nodes, cfg.timeout) }
	default:
		err = fmt.Errorf("unknown system %q", name)
	}
	return s, err
}

// waitReady waits up to cfg.startAfter for the cluster to be ready and
// makes its shared client.
func (s *system) waitReady(ctx context.Context, cfg config) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.startAfter)
	defer cancel()
	switch s.name {
	case "dkv":
		hc := &http.Client{Timeout: time.Second}
		if err := waitReady(ctx, s.nodes, func(ctx context.Context) string { return dkvReady(ctx, hc, s.nodes) }); err != nil {
			return err
		}
	case "etcd":
		e, err := newEtcdKV(s.nodes, cfg.timeout)
		if err != nil {
			return err
		}
		s.shared = e // closed with the system
		return waitReady(ctx, s.nodes, func(ctx context.Context) string {
			msg, version := etcdReady(ctx, e.c, s.nodes)
			s.res.Version = version
			return msg
		})
	}
	var err error
	s.shared, err = s.newKV()
	return err
}

// measure preloads each system's keys, one system after the other, then
// runs every cell on every system, the systems of a cell back to back in
// the order cellOrder gives, appending to r.
func measure(ctx context.Context, cfg config, systems []*system, r *Report, stderr io.Writer) error {
	vals := newValues(cfg.seed, cfg.valueSize)
	for _, s := range systems {
		fmt.Fprintf(stderr, "%s: preloading %d keys\n", s.name, cfg.keys)
		var err error
		s.res.Preload, err = preload(ctx, s.shared, cfg, vals)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	seq, k := 0, 0 // seq: runs so far of a cell on one system; k: cells so far
	for _, w := range cfg.workloads {
		for _, n := range cfg.clients {
			order := cellOrder(len(systems), k, cfg.order)
			k++
			for _, i := range order {
				s := systems[i]
				seq++
				var stopSplits func() []time.Duration
				if s.name == "dkv" && cfg.splitEvery > 0 {
					stopSplits = startSplitter(ctx, s.nodes, cfg)
				}
				c, err := runSystemCell(ctx, cfg, s, cell{w, n}, vals)
				if stopSplits != nil {
					c.Splits, c.SplitP50Ms, c.SplitMaxMs = splitStats(stopSplits())
				}
				if err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				c.System, c.Seq = s.name, seq
				s.res.Cells = append(s.res.Cells, c)
				fmt.Fprintf(stderr, "%s %s/%d: %s ops/s, p50 %s, p99 %s, cpu/op %s, errors %s\n", s.name, w, n, units.Rate(c.OpsPerSec),
					fmtMicros(c.P50), fmtMicros(c.P99), fmtMicros(c.CPUMicrosPerOp), c.errorsCol())
				if c.Splits > 0 {
					fmt.Fprintf(stderr, "%s %s/%d: %d splits during the cell, each %.1f ms p50, %.1f ms max\n", s.name, w, n, c.Splits, c.SplitP50Ms, c.SplitMaxMs)
				}
				for _, other := range systems {
					if err := checkRunning(other.nodes); err != nil {
						return fmt.Errorf("during %s %s/%d: %w", s.name, w, n, err)
					}
				}
			}
		}
	}
	r.Completed = true
	return nil
}

// runSystemCell runs one cell on one system, through its shared client or,
// with -client_per_worker, through a client per goroutine.
func runSystemCell(ctx context.Context, cfg config, s *system, c cell, vals values) (Cell, error) {
	clients := []kv{s.shared}
	if cfg.perWorker {
		clients = nil
		defer func() { closeAll(clients) }()
		for range c.clients {
			cl, err := s.newKV()
			if err != nil {
				return Cell{}, err
			}
			clients = append(clients, cl)
		}
	}
	return runCell(ctx, clients, c, cfg, s.nodes, vals)
}

func closeAll(clients []kv) {
	for _, cl := range clients {
		cl.Close()
	}
}

// peakRSSes reads each running node's VmHWM.
func peakRSSes(nodes []*node) []Node {
	var out []Node
	for _, n := range nodes {
		nd := Node{ID: n.id, Addr: n.addr, HTTP: n.http, Peer: n.peer}
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
	return Settings{Systems: strings.Join(cfg.systems, ","), Order: cfg.order, Nodes: nodeCount, Keys: cfg.keys,
		KeySize: keyLen, ValueSize: cfg.valueSize, Workloads: strings.Join(cfg.workloads, ","), Clients: cfg.clients,
		Duration: cfg.duration.Seconds(), Warmup: cfg.warmup.Seconds(), ClientMode: mode,
		TimeoutSecs: cfg.timeout.Seconds(), Seed: cfg.seed, Ranges: cfg.ranges, DKVFlags: cfg.dkvFlags}
}
