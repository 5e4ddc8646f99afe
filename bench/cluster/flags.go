package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// workloadNames are the workloads, in the order cells run.
var workloadNames = []string{"put", "get", "mix"}

// config is the command line, checked.
type config struct {
	systems    []string      // in the order each cell runs them (-order fixed)
	order      string        // orderFixed or orderAlternate
	dkv        string        // the dkv binary; empty: build one from ../cmd/dkv
	etcd       string        // the etcdmember binary; empty: build one from etcdmember/
	keys       int           // keys preloaded, and the range random keys come from
	valueSize  int           // bytes per value
	workloads  []string      // in workloadNames order
	clients    []int         // goroutines per cell, ascending
	duration   time.Duration // measured time of each cell
	warmup     time.Duration // unmeasured time before each cell
	loaders    int           // goroutines of the preload
	perWorker  bool          // one client.Client per goroutine instead of one shared
	timeout    time.Duration // client.Config.RequestTimeout
	seed       uint64
	out        string // output directory; empty: none
	dir        string // parent of the nodes' data directories; empty: a temporary directory
	keep       bool   // keep the data directories
	logLevel   string // the nodes' and members' log level
	startAfter time.Duration
	ranges     int           // dkv: ranges the key space is split into before the preload
	idleRanges int           // dkv: >0 measures the CPU of this many idle ranges instead of the workloads
	idleFor    time.Duration // how long the idle CPU is measured
	dkvFlags   string        // extra flags of every dkv start
	splitEvery time.Duration // dkv: split a random range this often during each cell (0: never)
}

// parseFlags parses the command line into a config; usage and errors go
// to stderr. flag.ErrHelp means -h.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./cluster [flags]\n\n"+
			"Starts a three-node cluster of each of -systems (dkv, etcd) on 127.0.0.1,\n"+
			"preloads -keys keys into each, and measures put, get and mix at each -clients\n"+
			"count through each system's Go client, one system at a time, cell by cell.\n"+
			"Flags:\n\n")
		fs.PrintDefaults()
	}
	systems := fs.String("systems", strings.Join(systemNames, ","), "comma-separated systems, each a three-node cluster: dkv, etcd (v3.7.3 through its embed package); each cell runs them in this order")
	fs.StringVar(&c.order, "order", orderFixed, "with several systems: fixed (every cell runs them in -systems order) or alternate (every other cell in reverse order)")
	workloads := fs.String("workloads", strings.Join(workloadNames, ","), "comma-separated workloads: put, get (linearizable), mix (50% put, 50% get)")
	clients := fs.String("clients", "1,16,64", "comma-separated counts of concurrent client goroutines, one cell each")
	fs.StringVar(&c.dkv, "dkv", "", "the dkv `binary` to run (empty: go build ../cmd/dkv into the temporary directory)")
	fs.StringVar(&c.etcd, "etcd", "", "the etcdmember `binary` to run (empty: go build ./cluster/etcdmember into the temporary directory)")
	fs.IntVar(&c.keys, "keys", 100000, "keys preloaded; every operation picks one of them uniformly")
	fs.IntVar(&c.valueSize, "value_size", 100, "value bytes; keys are 16 bytes")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time of each cell")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured time before each cell, same traffic")
	fs.IntVar(&c.loaders, "load_clients", 64, "concurrent goroutines of the preload")
	fs.BoolVar(&c.perWorker, "client_per_worker", false, "one client per goroutine instead of one shared by all (per system)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "each operation's deadline (dkv: client RequestTimeout; etcd: the context's)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the keys, values and mix choices")
	fs.StringVar(&c.out, "out", "results/cluster", "directory of summary.txt and results.json (empty: none)")
	fs.StringVar(&c.dir, "dir", "", "where the nodes' data directories go (empty: a temporary directory)")
	fs.BoolVar(&c.keep, "keep", false, "keep the data directories and node logs (nN.log, eN.log) afterwards")
	fs.StringVar(&c.logLevel, "node_log_level", "warn", "the dkv nodes' --log-level and the etcd members' (their logs go to DIR/nN.log and DIR/eN.log)")
	fs.IntVar(&c.ranges, "ranges", 1, "dkv: split the key space into this many ranges (at evenly spaced keys) before the preload; etcd is one group whatever it is")
	fs.IntVar(&c.idleRanges, "idle_ranges", 0, "dkv: instead of the workloads, split into this many ranges, leave them idle, and report the nodes' CPU")
	fs.DurationVar(&c.idleFor, "idle_for", 20*time.Second, "with -idle_ranges: how long the idle nodes' CPU is measured")
	fs.DurationVar(&c.splitEvery, "split_every", 0, "dkv: during each cell, split the range holding a random preloaded key at that key this often (0: never); the cell reports the splits' durations")
	fs.StringVar(&c.dkvFlags, "dkv_flags", "", "extra flags for every dkv start, space-separated (e.g. --no-quiesce)")
	fs.DurationVar(&c.startAfter, "start_timeout", time.Minute, "longest wait for each cluster to be ready (dkv: every /healthz and a leader; etcd: every member's status and a leader)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if c.systems, err = parseSystems(*systems); err != nil {
		return c, err
	}
	if c.order != orderFixed && c.order != orderAlternate {
		return c, fmt.Errorf("-order %q: want %s or %s", c.order, orderFixed, orderAlternate)
	}
	if c.workloads, err = parseWorkloads(*workloads); err != nil {
		return c, err
	}
	if c.clients, err = parseCounts(*clients); err != nil {
		return c, err
	}
	switch {
	case c.keys < 1 || c.keys > 1e15:
		return c, fmt.Errorf("-keys %d: want 1 to 10^15 (keys are 16 decimal digits)", c.keys)
	case c.valueSize < 0:
		return c, fmt.Errorf("-value_size %d: want ≥ 0", c.valueSize)
	case c.duration <= 0:
		return c, fmt.Errorf("-duration %v: want > 0", c.duration)
	case c.warmup < 0:
		return c, fmt.Errorf("-warmup %v: want ≥ 0", c.warmup)
	case c.loaders < 1:
		return c, fmt.Errorf("-load_clients %d: want ≥ 1", c.loaders)
	case c.timeout <= 0:
		return c, fmt.Errorf("-timeout %v: want > 0", c.timeout)
	case c.startAfter <= 0:
		return c, fmt.Errorf("-start_timeout %v: want > 0", c.startAfter)
	case c.ranges < 1 || c.ranges > c.keys:
		return c, fmt.Errorf("-ranges %d: want 1 to -keys", c.ranges)
	case c.idleRanges < 0 || c.idleFor <= 0:
		return c, fmt.Errorf("-idle_ranges %d / -idle_for %v: want ≥ 0 and > 0", c.idleRanges, c.idleFor)
	}
	return c, nil
}

// parseWorkloads parses -workloads, returning each named workload once,
// in workloadNames order.
func parseWorkloads(s string) ([]string, error) {
	seen := map[string]bool{}
	for _, w := range strings.Split(s, ",") {
		w = strings.TrimSpace(w)
		if !slices.Contains(workloadNames, w) {
			return nil, fmt.Errorf("-workloads: unknown workload %q (want %s)", w, strings.Join(workloadNames, ", "))
		}
		seen[w] = true
	}
	var out []string
	for _, w := range workloadNames {
		if seen[w] {
			out = append(out, w)
		}
	}
	return out, nil
}

// parseCounts parses -clients: positive integers, returned ascending and
// without repeats.
func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-clients: %q is not a positive integer", f)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
