package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distributedkv/dkv/bench/internal/histogram"
)

// A cell's row: rate from successful operations over the window,
// percentiles of every operation, CPU per operation corrected for when
// the CPU times were actually read, and each kind of error counted.
func TestCellResult(t *testing.T) {
	var h histogram.Histogram
	for i := range 1000 {
		h.Record(time.Duration(1000+i) * time.Microsecond) // 1ms .. 2ms
	}
	o := outcome{ok: 995, ambiguous: 3, failed: 1, notFound: 1, firstErr: "client: boom"}
	before := cpuSnapshot{nodes: []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}, self: time.Second}
	after := cpuSnapshot{nodes: []time.Duration{1500 * time.Millisecond, 2100 * time.Millisecond, 3100 * time.Millisecond}, self: 1200 * time.Millisecond}
	// 995 ops in a 1 s window; CPU read 1.1 s apart: 0.7 s of node CPU
	// over 1094.5 ops' worth of time.
	c := cellResult(cell{"mix", 16}, time.Second, &h, o, before, after, 1100*time.Millisecond)
	if c.Ops != 995 || c.OpsPerSec != 995 || c.Ambiguous != 3 || c.Failed != 1 || c.NotFound != 1 || c.FirstError != "client: boom" {
		t.Fatalf("counts: %+v", c)
	}
	if c.P50 < 1450 || c.P50 > 1550 || c.P999 < 1940 || c.P999 > 2000 || c.MaxMicros != 1999 {
		t.Fatalf("latencies: p50 %v p99.9 %v max %v", c.P50, c.P999, c.MaxMicros)
	}
	if want := 0.7 / 1094.5 * 1e6; c.CPUMicrosPerOp < want*0.999 || c.CPUMicrosPerOp > want*1.001 {
		t.Fatalf("cpu/op %v, want %v", c.CPUMicrosPerOp, want)
	}
	if want := 0.2 / 1094.5 * 1e6; c.BenchCPUMicrosPerOp < want*0.999 || c.BenchCPUMicrosPerOp > want*1.001 {
		t.Fatalf("bench cpu/op %v, want %v", c.BenchCPUMicrosPerOp, want)
	}
	if got := c.errorsCol(); got != "3 ambiguous, 1 failed, 1 not found" {
		t.Fatalf("errors column %q", got)
	}
	// No successful operation: no CPU per operation rather than infinity.
	if z := cellResult(cell{"put", 1}, time.Second, &histogram.Histogram{}, outcome{failed: 2}, before, after, time.Second); z.CPUMicrosPerOp != 0 || z.errorsCol() != "2 failed" {
		t.Fatalf("empty cell: %+v", z)
	}
}

func testReport() *Report {
	return &Report{
		Settings: Settings{Systems: "dkv", Order: "fixed", Nodes: 3, Keys: 2000, KeySize: 16, ValueSize: 100, Duration: 1, Warmup: 0, ClientMode: "shared"},
		Order:    "one system",
		Systems: []*SystemResult{{
			Name:       "dkv",
			Durability: "every write fsynced (the nodes' default)",
			Preload:    Preload{Keys: 2000, Loaders: 64, Seconds: 0.5, OpsPerSec: 4000},
			Cells: []Cell{
				{System: "dkv", Seq: 1, Workload: "put", Clients: 1, OpsPerSec: 812.4, P50: 1210, P99: 2345, P999: 5678, CPUMicrosPerOp: 412, BenchCPUMicrosPerOp: 88.1},
				{System: "dkv", Seq: 2, Workload: "get", Clients: 64, OpsPerSec: 23456, P50: 2400, P99: 15600, P999: 123456, CPUMicrosPerOp: 61.2, BenchCPUMicrosPerOp: 9.5,
					Ambiguous: 0, Failed: 2, FirstError: "client: get: deadline exceeded"},
			},
			Nodes: []Node{{ID: 1, PeakRSS: 100 << 20}, {ID: 2, PeakRSS: 90 << 20}, {ID: 3, PeakRSS: 95 << 20}},
		}},
		Completed: true,
	}
}

// testReport2 is testReport with etcd beside dkv, its cells interleaved.
func testReport2() *Report {
	r := testReport()
	r.Settings.Systems = "dkv,etcd"
	r.Order = describeOrder([]string{"dkv", "etcd"}, orderFixed)
	r.Systems[0].Cells[1].Seq = 3
	r.Systems = append(r.Systems, &SystemResult{
		Name:       "etcd",
		Version:    "3.7.3",
		Durability: "etcd's defaults",
		Preload:    Preload{Keys: 2000, Loaders: 64, Seconds: 0.25, OpsPerSec: 8000},
		Cells: []Cell{
			{System: "etcd", Seq: 2, Workload: "put", Clients: 1, OpsPerSec: 1624.8, P50: 600, P99: 1200, P999: 3000, CPUMicrosPerOp: 300, BenchCPUMicrosPerOp: 50},
			{System: "etcd", Seq: 4, Workload: "get", Clients: 64, OpsPerSec: 11728, P50: 5000, P99: 31200, P999: 50000, CPUMicrosPerOp: 80, BenchCPUMicrosPerOp: 20,
				Ambiguous: 3, FirstError: "etcd: the write may or may not have been applied: context deadline exceeded"},
		},
		Nodes: []Node{{ID: 1, PeakRSS: 60 << 20}, {ID: 2, PeakRSS: 50 << 20}, {ID: 3, PeakRSS: 55 << 20}},
	})
	r.Comparison = comparison(r)
	return r
}

// The summary of dkv alone is the table the README shows, column for
// column, as before etcd was added.
func TestSummary(t *testing.T) {
	want := `dkv cluster: 3 nodes on 127.0.0.1, fsync on; 2000 keys of 16 bytes, 100-byte values; 1s cells after 0s warmup; one shared client
preload: 2000 keys from 64 goroutines in 0.5s (4.00k puts/s), 0 failed attempts

workload clients     ops/s       p50       p99     p99.9    cpu/op bench cpu/op  errors
put            1       812    1.21ms    2.35ms    5.68ms     412µs       88.1µs  0
get           64     23.5k    2.40ms    15.6ms     123ms    61.2µs       9.50µs  2 failed

peak RSS (VmHWM): node 1 100.0 MiB, node 2 90.0 MiB, node 3 95.0 MiB
get/64 first error: client: get: deadline exceeded
`
	r := testReport()
	if r.Comparison = comparison(r); r.Comparison != nil {
		t.Fatalf("comparison of dkv alone: %+v", r.Comparison)
	}
	if got := summary(r); got != want {
		t.Fatalf("summary:\n%s\nwant:\n%s", got, want)
	}
	r.Completed = false
	if got := summary(r); !strings.HasSuffix(got, "(incomplete: the run stopped before every cell was measured)\n") {
		t.Fatalf("incomplete summary:\n%s", got)
	}
}

// With etcd: the order, a section per system, then the comparison.
func TestSummaryTwoSystems(t *testing.T) {
	want := `dkv and etcd clusters: 3 nodes each on 127.0.0.1, fsync on; 2000 keys of 16 bytes, 100-byte values; 1s cells after 0s warmup; one shared client per system
order: all 2 clusters up throughout, one loaded at a time: preloads in turn, then each cell on dkv, then on etcd, back to back (-order fixed)

== dkv: every write fsynced (the nodes' default)
preload: 2000 keys from 64 goroutines in 0.5s (4.00k puts/s), 0 failed attempts

workload clients     ops/s       p50       p99     p99.9    cpu/op bench cpu/op  errors
put            1       812    1.21ms    2.35ms    5.68ms     412µs       88.1µs  0
get           64     23.5k    2.40ms    15.6ms     123ms    61.2µs       9.50µs  2 failed

peak RSS (VmHWM): node 1 100.0 MiB, node 2 90.0 MiB, node 3 95.0 MiB
get/64 first error: client: get: deadline exceeded

== etcd 3.7.3: embed, one process per member; etcd's defaults
preload: 2000 keys from 64 goroutines in 0.2s (8.00k puts/s), 0 failed attempts

workload clients     ops/s       p50       p99     p99.9    cpu/op bench cpu/op  errors
put            1     1.62k     600µs    1.20ms    3.00ms     300µs       50.0µs  0
get           64     11.7k    5.00ms    31.2ms    50.0ms    80.0µs       20.0µs  3 ambiguous

peak RSS (VmHWM): member 1 60.0 MiB, member 2 50.0 MiB, member 3 55.0 MiB
get/64 first error: etcd: the write may or may not have been applied: context deadline exceeded

dkv / etcd: ops/s ratio per cell (above 1: dkv faster), p99 and cpu/op of both
workload clients  dkv ops/s etcd ops/s dkv/etcd   dkv p99  etcd p99 dkv cpu/op etcd cpu/op
put            1        812      1.62k     0.50    2.35ms    1.20ms      412µs       300µs
get           64      23.5k      11.7k     2.00    15.6ms    31.2ms     61.2µs      80.0µs
geometric mean                             1.00
`
	if got := summary(testReport2()); got != want {
		t.Fatalf("summary:\n%s\nwant:\n%s", got, want)
	}
}

// The comparison pairs the cells both systems ran, whatever the order of
// their sections; a cell one system lacks (an interrupted run) or with
// no successful operation gets no ratio.
func TestComparison(t *testing.T) {
	r := testReport2()
	r.Systems[0], r.Systems[1] = r.Systems[1], r.Systems[0]
	r.Systems[1].Cells = append(r.Systems[1].Cells, Cell{Workload: "mix", Clients: 1, OpsPerSec: 500}) // dkv only
	r.Systems[0].Cells[0].OpsPerSec = 0                                                                // etcd put/1: nothing succeeded
	c := comparison(r)
	if len(c.Rows) != 2 || c.Rows[0].Workload != "put" || c.Rows[0].Ratio != 0 || c.Rows[1].Ratio != 2 || c.GeoMeanRatio != 2 ||
		c.Rows[1].DKVP99 != 15600 || c.Rows[1].EtcdP99 != 31200 || c.Rows[1].EtcdCPU != 80 {
		t.Fatalf("comparison: %+v", c)
	}
	if got := comparisonTable(c); !strings.Contains(got, "put            1        812          0        -") {
		t.Fatalf("table:\n%s", got)
	}
	r.Systems = r.Systems[:1]
	if c := comparison(r); c != nil {
		t.Fatalf("comparison of etcd alone: %+v", c)
	}
}

// write puts the summary and the JSON, which reads back the same, in the
// output directory.
func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results", "cluster")
	r := testReport2()
	if err := write(dir, r); err != nil {
		t.Fatal(err)
	}
	txt, err := os.ReadFile(filepath.Join(dir, "summary.txt"))
	if err != nil || string(txt) != summary(r) {
		t.Fatalf("summary.txt: %v\n%s", err, txt)
	}
	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Systems) != 2 || back.Version != r.Version || back.Order != r.Order {
		t.Fatalf("results.json read back: %+v", back)
	}
	d, e := back.Systems[0], back.Systems[1]
	if d.Name != "dkv" || len(d.Cells) != 2 || d.Cells[1].Failed != 2 || d.Cells[0].P99 != 2345 || d.Nodes[2].PeakRSS != 95<<20 ||
		e.Name != "etcd" || e.Version != "3.7.3" || e.Cells[1].Seq != 4 || e.Cells[1].Ambiguous != 3 ||
		back.Comparison == nil || len(back.Comparison.Rows) != 2 || back.Comparison.Rows[1].Ratio != 2 {
		t.Fatalf("results.json read back: %+v", back)
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct {
		us   float64
		want string
	}{
		{0, "-"}, {8.523, "8.52µs"}, {9.996, "10.0µs"}, {85.24, "85.2µs"}, {999.4, "999µs"}, {999.6, "1.00ms"},
		{1234, "1.23ms"}, {12345, "12.3ms"}, {123456, "123ms"}, {1234567, "1.23s"},
	} {
		if got := fmtMicros(tc.us); got != tc.want {
			t.Errorf("fmtMicros(%v) = %q, want %q", tc.us, got, tc.want)
		}
	}
}
