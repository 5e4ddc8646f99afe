package main

import (
	"fmt"
	"log/slog"
	"net"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/cluster/server"
)

// startFlags are the flags of dkv start.
type startFlags struct {
	id        uint64
	addr      string
	advertise string
	http      string
	cluster   string
	join      string
	downAfter time.Duration
	insecure  bool
	logLevel  string
	rangeMax  string
	rangeQPS  float64
	noQuiesce bool
}

func newStartCmd(g *globals) *cobra.Command {
	f := &startFlags{}
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run a cluster node",
		Long: `start runs one node of a dkv cluster in the foreground, with its data in
--dir, until SIGTERM or SIGINT, which drain it (requests in flight finish,
new ones are refused) and exit 0. A node that stops on a disk error exits 1.

The first start of a cluster bootstraps it: every member is started with
the same --cluster list and its own --id, --addr and --http:

  dkv start --id 1 --dir d1 --addr 127.0.0.1:7001 --http 127.0.0.1:8001 \
            --cluster 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003

A new node joins a running cluster with --join (any member's address) and
gets its ID from the cluster:

  dkv start --dir d4 --addr 127.0.0.1:7004 --http 127.0.0.1:8004 --join 127.0.0.1:7001

A restart needs only --dir: the node's identity and addresses come from
the directory (repeating the first start's flags is allowed; a flag that
contradicts the directory is refused).

--addr serves gRPC (clients, admin, Raft between nodes); --advertise-addr
(default --addr) is what other nodes and clients dial. --http serves
GET /healthz (200 once the node serves requests) and the JSON API:
/api/v1/nodes and /api/v1/ranges. Without --insecure, a node listens only
on loopback addresses.

The key space is cut into ranges, each its own Raft group. A node splits
a range it leads once the range holds more than --range-max-bytes of
keys and values (at the key that halves it), or serves more than
--range-max-qps requests a second for three seconds (at the median of its
request keys; off by default until ranges can be moved apart); dkv range
split splits one by hand. Each node applies its own flags
(docs/ranges.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStart(cmd, g, f)
		},
	}
	fl := cmd.Flags()
	fl.Uint64Var(&f.id, "id", 0, "this node's `ID` (bootstrap: its entry in --cluster)")
	fl.StringVar(&f.addr, "addr", "", "gRPC listen `HOST:PORT`")
	fl.StringVar(&f.advertise, "advertise-addr", "", "the `HOST:PORT` other nodes and clients dial (default --addr)")
	fl.StringVar(&f.http, "http", "", "HTTP listen `HOST:PORT` (/healthz, /api/v1/...)")
	fl.StringVar(&f.cluster, "cluster", "", "bootstrap members `ID=HOST:PORT,...` (a new cluster)")
	fl.StringVar(&f.join, "join", "", "`HOST:PORT` of a running member to join (a new node)")
	fl.DurationVar(&f.downAfter, "down-after", 5*time.Minute, "time without a heartbeat before a node is dead")
	fl.StringVar(&f.rangeMax, "range-max-bytes", "64MiB", "split a range this node leads once its live data passes `SIZE` (bytes, or with a unit: 256KiB, 64MiB)")
	fl.Float64Var(&f.rangeQPS, "range-max-qps", server.DefaultRangeMaxQPS, "split a range this node leads once it serves more than `N` requests a second for 3 seconds (at the median of its sampled request keys); 0: never (the default, until ranges can be moved apart)")
	fl.BoolVar(&f.insecure, "insecure", false, "allow listening on non-loopback addresses without TLS")
	fl.BoolVar(&f.noQuiesce, "no-quiesce", false, "keep idle ranges ticking (for benchmarks of what quiescence saves)")
	_ = fl.MarkHidden("no-quiesce")
	fl.StringVar(&f.logLevel, "log-level", "info", "`LEVEL`: debug, info, warn or error")
	return cmd
}

func runStart(cmd *cobra.Command, g *globals, f *startFlags) error {
	cfg, err := f.config(g.dir)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return usageError("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	n, err := server.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "node %d serving gRPC on %s", n.Store().NodeID(), n.Addr())
	if n.HTTPAddr() != "" {
		fmt.Fprintf(cmd.OutOrStdout(), ", HTTP on %s", n.HTTPAddr())
	}
	fmt.Fprintln(cmd.OutOrStdout())
	select {
	case <-ctx.Done():
		cfg.Logger.Info("draining")
		return n.Stop()
	case <-n.Done():
		cause := n.Err()
		_ = n.Stop()
		if cause == nil {
			return nil
		}
		return fmt.Errorf("node stopped: %w", cause)
	}
}

// config checks the flags and turns them into a server.Config.
func (f *startFlags) config(dir string) (server.Config, error) {
	cfg := server.Config{NodeID: f.id, Dir: dir, Addr: f.addr, AdvertiseAddr: f.advertise, HTTPAddr: f.http,
		Join: f.join, DownAfter: f.downAfter}
	if f.cluster != "" && f.join != "" {
		return cfg, usageError("--cluster and --join exclude each other")
	}
	if f.downAfter <= 0 {
		return cfg, usageError("--down-after must be positive")
	}
	rm, err := parseSize(f.rangeMax)
	if err != nil || rm < 1024 {
		return cfg, usageError("--range-max-bytes %q: want a size of at least 1KiB (bytes, or a number with B, KiB, MiB or GiB)", f.rangeMax)
	}
	cfg.RangeMaxBytes = rm
	cfg.DisableQuiesce = f.noQuiesce
	switch {
	case f.rangeQPS < 0:
		return cfg, usageError("--range-max-qps %v: want a positive rate, or 0 for never", f.rangeQPS)
	default:
		cfg.RangeMaxQPS = f.rangeQPS
	}
	if f.cluster != "" {
		members, err := parseMembers(f.cluster)
		if err != nil {
			return cfg, err
		}
		if f.id == 0 {
			return cfg, usageError("--cluster needs --id: this node's entry in the list")
		}
		if !slices.ContainsFunc(members, func(m *kvpb.NodeRecord) bool { return m.GetNodeId() == f.id }) {
			return cfg, usageError("--id %d is not among the --cluster members", f.id)
		}
		cfg.Cluster = members
	}
	for _, a := range []struct{ flag, v string }{{"--addr", f.addr}, {"--advertise-addr", f.advertise}, {"--http", f.http}, {"--join", f.join}} {
		if a.v == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a.v)
		if err != nil {
			return cfg, usageError("%s %q: want HOST:PORT", a.flag, a.v)
		}
		if a.flag != "--join" && !f.insecure && !isLoopback(host) {
			return cfg, usageError("%s %s is not a loopback address: dkv listens beyond this machine only with --insecure (TLS comes with --certs-dir in a later release)", a.flag, a.v)
		}
	}
	return cfg, nil
}

// parseSize parses a size: plain bytes, or a number with a unit (B, KiB,
// MiB, GiB, or KB, MB, GB as their binary namesakes).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	num := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.ToLower(strings.TrimSpace(s[len(num):]))
	mult := map[string]int64{"": 1, "b": 1, "kib": 1 << 10, "kb": 1 << 10, "k": 1 << 10, "mib": 1 << 20, "mb": 1 << 20, "m": 1 << 20, "gib": 1 << 30, "gb": 1 << 30, "g": 1 << 30}[unit]
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || mult == 0 || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return v * mult, nil
}

// parseMembers parses --cluster: ID=HOST:PORT,...
func parseMembers(s string) ([]*kvpb.NodeRecord, error) {
	var out []*kvpb.NodeRecord
	seen := map[uint64]bool{}
	for _, part := range strings.Split(s, ",") {
		idStr, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		id, err := strconv.ParseUint(idStr, 10, 64)
		if !ok || err != nil || id == 0 {
			return nil, usageError("--cluster: %q is not ID=HOST:PORT with an ID above 0", part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, usageError("--cluster: %q: want HOST:PORT after the =", part)
		}
		if seen[id] {
			return nil, usageError("--cluster: node %d listed twice", id)
		}
		seen[id] = true
		out = append(out, &kvpb.NodeRecord{NodeId: id, Addr: addr})
	}
	return out, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
