package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distributedkv/dkv/bench/internal/units"
)

// Report is results.json. Version 2 has a result per system (version 1,
// dkv alone, had its preload, cells and nodes at the top level).
type Report struct {
	Version  int       `json:"version"`
	Command  string    `json:"command"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Host     Host      `json:"host"`
	Settings Settings  `json:"settings"`
	// Order says how the systems' cells were interleaved; each cell's Seq
	// is its place in the run.
	Order      string          `json:"order"`
	Systems    []*SystemResult `json:"systems"`
	Comparison *Comparison     `json:"comparison,omitempty"` // dkv against etcd, when both ran
	Completed  bool            `json:"completed"`            // false: interrupted or failed after the cells listed
}

// Settings are what the cells ran with, on every system.
type Settings struct {
	Systems     string  `json:"systems"` // in -systems order
	Order       string  `json:"order"`   // -order: fixed or alternate
	Nodes       int     `json:"nodes"`   // per cluster
	Keys        int     `json:"keys"`
	KeySize     int     `json:"key_size"`
	ValueSize   int     `json:"value_size"`
	Workloads   string  `json:"workloads"`
	Clients     []int   `json:"clients"`
	Duration    float64 `json:"duration_seconds"`
	Warmup      float64 `json:"warmup_seconds"`
	ClientMode  string  `json:"client_mode"` // "shared": one client per system; "per-worker": one per goroutine
	TimeoutSecs float64 `json:"timeout_seconds"`
	Seed        uint64  `json:"seed"`
	Ranges      int     `json:"ranges"`              // dkv's ranges (split before the preload)
	DKVFlags    string  `json:"dkv_flags,omitempty"` // extra flags of dkv start
}

// SystemResult is one system's cluster and cells.
type SystemResult struct {
	Name       string  `json:"name"`              // "dkv", "etcd"
	Version    string  `json:"version,omitempty"` // etcd: what its members report
	Binary     string  `json:"binary"`            // built: in the temporary directory
	Durability string  `json:"durability"`
	Preload    Preload `json:"preload"`
	Cells      []Cell  `json:"cells"`
	Nodes      []Node  `json:"nodes"`
}

// Preload is the load before the cells.
type Preload struct {
	Keys           int     `json:"keys"`
	Loaders        int     `json:"loaders"`
	Seconds        float64 `json:"seconds"`
	OpsPerSec      float64 `json:"ops_per_sec"`
	FailedAttempts int64   `json:"failed_attempts"` // puts that failed and were tried again
	FirstError     string  `json:"first_error,omitempty"`
}

// Cell is one workload at one number of client goroutines.
type Cell struct {
	System   string  `json:"system"`
	Seq      int     `json:"seq"` // its place in the run, from 1, over every system's cells
	Workload string  `json:"workload"`
	Clients  int     `json:"clients"`
	Seconds  float64 `json:"seconds"` // the measured window

	// Ops are the operations that started in the window and succeeded;
	// OpsPerSec is Ops / Seconds.
	Ops       int64   `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`

	// Latencies in microseconds of every operation that started in the
	// window, failed ones included.
	MeanMicros float64 `json:"mean_us"`
	P50        float64 `json:"p50_us"`
	P99        float64 `json:"p99_us"`
	P999       float64 `json:"p999_us"`
	MaxMicros  float64 `json:"max_us"`

	// Splits made during the cell (-split_every) and how long each took
	// (asked to answered), in milliseconds.
	Splits     int     `json:"splits,omitempty"`
	SplitP50Ms float64 `json:"split_p50_ms,omitempty"`
	SplitMaxMs float64 `json:"split_max_ms,omitempty"`

	Ambiguous  int64  `json:"ambiguous"` // writes that may or may not have been applied
	Failed     int64  `json:"failed"`    // other errors
	NotFound   int64  `json:"not_found"` // gets of preloaded keys that found none
	FirstError string `json:"first_error,omitempty"`

	// NodeCPUSeconds is each node's user + system CPU time over the
	// window; CPUMicrosPerOp is their sum per successful operation.
	NodeCPUSeconds []float64 `json:"node_cpu_seconds"`
	CPUMicrosPerOp float64   `json:"cpu_us_per_op"`
	// The same for the benchmark process: the client and its goroutines.
	BenchCPUSeconds     float64 `json:"bench_cpu_seconds"`
	BenchCPUMicrosPerOp float64 `json:"bench_cpu_us_per_op"`
}

// errorsCol is the errors column: 0, or the count of each kind.
func (c Cell) errorsCol() string {
	var parts []string
	for _, k := range []struct {
		n    int64
		name string
	}{{c.Ambiguous, "ambiguous"}, {c.Failed, "failed"}, {c.NotFound, "not found"}} {
		if k.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", k.n, k.name))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}

// Node is one node's (or etcd member's) identity and peak memory.
type Node struct {
	ID      int    `json:"id"`
	Addr    string `json:"addr"`           // what clients dial
	HTTP    string `json:"http,omitempty"` // dkv
	Peer    string `json:"peer,omitempty"` // etcd
	PeakRSS int64  `json:"peak_rss_bytes"` // VmHWM at the end of the run (0: not read)
}

// Comparison is dkv's cells against etcd's: one row per workload and
// client count that both ran, in the run's order.
type Comparison struct {
	Rows []ComparisonRow `json:"rows"`
	// GeoMeanRatio is the geometric mean of the rows' Ratio (0: none).
	GeoMeanRatio float64 `json:"geomean_ratio"`
}

// ComparisonRow is one cell on both systems.
type ComparisonRow struct {
	Workload      string  `json:"workload"`
	Clients       int     `json:"clients"`
	DKVOpsPerSec  float64 `json:"dkv_ops_per_sec"`
	EtcdOpsPerSec float64 `json:"etcd_ops_per_sec"`
	Ratio         float64 `json:"ratio"` // dkv / etcd ops/s; 0 when either is 0
	DKVP99        float64 `json:"dkv_p99_us"`
	EtcdP99       float64 `json:"etcd_p99_us"`
	DKVCPU        float64 `json:"dkv_cpu_us_per_op"`
	EtcdCPU       float64 `json:"etcd_cpu_us_per_op"`
}

// comparison compares dkv's cells with etcd's, or returns nil when the
// run did not have both.
func comparison(r *Report) *Comparison {
	var d, e *SystemResult
	for _, s := range r.Systems {
		switch s.Name {
		case "dkv":
			d = s
		case "etcd":
			e = s
		}
	}
	if d == nil || e == nil {
		return nil
	}
	c := &Comparison{Rows: []ComparisonRow{}}
	logSum, n := 0.0, 0
	for _, dc := range d.Cells {
		for _, ec := range e.Cells {
			if dc.Workload != ec.Workload || dc.Clients != ec.Clients {
				continue
			}
			row := ComparisonRow{Workload: dc.Workload, Clients: dc.Clients, DKVOpsPerSec: dc.OpsPerSec, EtcdOpsPerSec: ec.OpsPerSec,
				DKVP99: dc.P99, EtcdP99: ec.P99, DKVCPU: dc.CPUMicrosPerOp, EtcdCPU: ec.CPUMicrosPerOp}
			if dc.OpsPerSec > 0 && ec.OpsPerSec > 0 {
				row.Ratio = dc.OpsPerSec / ec.OpsPerSec
				logSum += math.Log(row.Ratio)
				n++
			}
			c.Rows = append(c.Rows, row)
		}
	}
	if n > 0 {
		c.GeoMeanRatio = math.Exp(logSum / float64(n))
	}
	return c
}

// summary returns the text of summary.txt: a heading, then each system's
// preload, table, peak RSS and first error of each cell that had errors,
// then, with dkv and etcd, the comparison. A run of dkv alone reads as
// before etcd was added.
func summary(r *Report) string {
	var b strings.Builder
	s := r.Settings
	var names []string
	for _, sys := range r.Systems {
		names = append(names, sys.Name)
	}
	what := fmt.Sprintf("%s cluster: %d nodes", strings.Join(names, ""), s.Nodes)
	if len(names) > 1 {
		what = fmt.Sprintf("%s clusters: %d nodes each", strings.Join(names, " and "), s.Nodes)
	}
	client := map[string]string{"shared": "one shared client", "per-worker": "one client per goroutine"}[s.ClientMode]
	if len(names) > 1 && s.ClientMode == "shared" {
		client += " per system"
	}
	fmt.Fprintf(&b, "%s on 127.0.0.1, fsync on; %d keys of %d bytes, %d-byte values; %s cells after %s warmup; %s\n",
		what, s.Keys, s.KeySize, s.ValueSize, fmtSeconds(s.Duration), fmtSeconds(s.Warmup), client)
	if s.Ranges > 1 || s.DKVFlags != "" {
		fmt.Fprintf(&b, "dkv: %d ranges (split before the preload)", max(s.Ranges, 1))
		if s.DKVFlags != "" {
			fmt.Fprintf(&b, ", dkv start %s", s.DKVFlags)
		}
		b.WriteString("\n")
	}
	if len(names) > 1 {
		fmt.Fprintf(&b, "order: %s\n", r.Order)
	}
	for _, sys := range r.Systems {
		if len(names) > 1 {
			b.WriteString("\n")
			b.WriteString(sysTitle(sys))
			b.WriteString("\n")
		}
		systemSection(&b, sys)
	}
	if r.Comparison != nil {
		b.WriteString("\ndkv / etcd: ops/s ratio per cell (above 1: dkv faster), p99 and cpu/op of both\n")
		b.WriteString(comparisonTable(r.Comparison))
	}
	if !r.Completed {
		b.WriteString("(incomplete: the run stopped before every cell was measured)\n")
	}
	return b.String()
}

// sysTitle heads a system's section: its name, version and durability.
func sysTitle(s *SystemResult) string {
	switch s.Name {
	case "etcd":
		v := s.Version
		if v == "" {
			v = "(version not read)"
		}
		return fmt.Sprintf("== etcd %s: embed, one process per member; %s", v, s.Durability)
	}
	return fmt.Sprintf("== %s: %s", s.Name, s.Durability)
}

// systemSection writes a system's preload, table, peak RSS and errors.
func systemSection(b *strings.Builder, sys *SystemResult) {
	if sys.Preload.Seconds > 0 {
		fmt.Fprintf(b, "preload: %d keys from %d goroutines in %.1fs (%s puts/s), %d failed attempts\n",
			sys.Preload.Keys, sys.Preload.Loaders, sys.Preload.Seconds, units.Rate(sys.Preload.OpsPerSec), sys.Preload.FailedAttempts)
	}
	b.WriteString("\n")
	b.WriteString(table(sys.Cells))
	if len(sys.Nodes) > 0 {
		label := "node"
		if sys.Name == "etcd" {
			label = "member"
		}
		b.WriteString("\npeak RSS (VmHWM):")
		for i, n := range sys.Nodes {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(b, " %s %d %s", label, n.ID, fmtBytes(n.PeakRSS))
		}
		b.WriteString("\n")
	}
	for _, c := range sys.Cells {
		if c.FirstError != "" {
			fmt.Fprintf(b, "%s/%d first error: %s\n", c.Workload, c.Clients, c.FirstError)
		}
	}
}

// comparisonTable formats the comparison, one row per cell, and the
// geometric mean of the ratios.
func comparisonTable(c *Comparison) string {
	var b strings.Builder
	row := func(cols ...string) {
		fmt.Fprintf(&b, "%-8s %7s %10s %10s %8s %9s %9s %10s %11s\n", cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8])
	}
	row("workload", "clients", "dkv ops/s", "etcd ops/s", "dkv/etcd", "dkv p99", "etcd p99", "dkv cpu/op", "etcd cpu/op")
	for _, r := range c.Rows {
		row(r.Workload, fmt.Sprint(r.Clients), units.Rate(r.DKVOpsPerSec), units.Rate(r.EtcdOpsPerSec), fmtRatio(r.Ratio),
			fmtMicros(r.DKVP99), fmtMicros(r.EtcdP99), fmtMicros(r.DKVCPU), fmtMicros(r.EtcdCPU))
	}
	if c.GeoMeanRatio > 0 {
		fmt.Fprintf(&b, "%-16s %10s %10s %8s\n", "geometric mean", "", "", fmtRatio(c.GeoMeanRatio))
	}
	return b.String()
}

// fmtRatio formats a ratio with two decimals; zero (no ratio) is "-".
func fmtRatio(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// table formats the cells, one row each. cpu/op is the three nodes' CPU
// time per successful operation; bench cpu/op is this process's.
func table(cells []Cell) string {
	var b strings.Builder
	row := func(cols ...string) {
		fmt.Fprintf(&b, "%-8s %7s %9s %9s %9s %9s %9s %12s  %s\n", cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8])
	}
	row("workload", "clients", "ops/s", "p50", "p99", "p99.9", "cpu/op", "bench cpu/op", "errors")
	for _, c := range cells {
		row(c.Workload, fmt.Sprint(c.Clients), units.Rate(c.OpsPerSec), fmtMicros(c.P50), fmtMicros(c.P99),
			fmtMicros(c.P999), fmtMicros(c.CPUMicrosPerOp), fmtMicros(c.BenchCPUMicrosPerOp), c.errorsCol())
	}
	return b.String()
}

// fmtMicros formats a time in microseconds with its unit and three
// significant digits (two above a second): 8.52µs, 85.2µs, 852µs, 1.23ms,
// 12.3ms, 123ms, 1.23s; zero is "-".
func fmtMicros(us float64) string {
	switch {
	case us <= 0:
		return "-"
	case us < 9.995:
		return fmt.Sprintf("%.2fµs", us)
	case us < 99.95:
		return fmt.Sprintf("%.1fµs", us)
	case us < 999.5:
		return fmt.Sprintf("%.0fµs", us)
	case us < 9995:
		return fmt.Sprintf("%.2fms", us/1e3)
	case us < 99950:
		return fmt.Sprintf("%.1fms", us/1e3)
	case us < 999500:
		return fmt.Sprintf("%.0fms", us/1e3)
	}
	return fmt.Sprintf("%.2fs", us/1e6)
}

// fmtSeconds formats a duration in seconds as Go writes durations: 10s, 1.5s, 0s.
func fmtSeconds(s float64) string {
	return time.Duration(s * float64(time.Second)).String()
}

// fmtBytes formats a byte count in binary units.
func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for x := n / unit; x >= unit; x /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// write writes summary.txt and results.json into dir.
func write(dir string, r *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(summary(r)), 0o644); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644)
}
