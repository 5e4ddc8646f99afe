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
		Settings: Settings{Nodes: 3, Keys: 2000, KeySize: 16, ValueSize: 100, Duration: 1, Warmup: 0, ClientMode: "shared"},
		Preload:  Preload{Keys: 2000, Loaders: 64, Seconds: 0.5, OpsPerSec: 4000},
		Cells: []Cell{
			{Workload: "put", Clients: 1, OpsPerSec: 812.4, P50: 1210, P99: 2345, P999: 5678, CPUMicrosPerOp: 412, BenchCPUMicrosPerOp: 88.1},
			{Workload: "get", Clients: 64, OpsPerSec: 23456, P50: 2400, P99: 15600, P999: 123456, CPUMicrosPerOp: 61.2, BenchCPUMicrosPerOp: 9.5,
				Ambiguous: 0, Failed: 2, FirstError: "client: get: deadline exceeded"},
		},
		Nodes:     []Node{{ID: 1, PeakRSS: 100 << 20}, {ID: 2, PeakRSS: 90 << 20}, {ID: 3, PeakRSS: 95 << 20}},
		Completed: true,
	}
}

// The summary is the table the README shows, column for column.
func TestSummary(t *testing.T) {
	want := `dkv cluster: 3 nodes on 127.0.0.1, fsync on; 2000 keys of 16 bytes, 100-byte values; 1s cells after 0s warmup; one shared client
preload: 2000 keys from 64 goroutines in 0.5s (4.00k puts/s), 0 failed attempts

workload clients     ops/s       p50       p99     p99.9    cpu/op bench cpu/op  errors
put            1       812    1.21ms    2.35ms    5.68ms     412µs       88.1µs  0
get           64     23.5k    2.40ms    15.6ms     123ms    61.2µs       9.50µs  2 failed

peak RSS (VmHWM): node 1 100.0 MiB, node 2 90.0 MiB, node 3 95.0 MiB
get/64 first error: client: get: deadline exceeded
`
	if got := summary(testReport()); got != want {
		t.Fatalf("summary:\n%s\nwant:\n%s", got, want)
	}
	r := testReport()
	r.Completed = false
	if got := summary(r); !strings.HasSuffix(got, "(incomplete: the run stopped before every cell was measured)\n") {
		t.Fatalf("incomplete summary:\n%s", got)
	}
}

// write puts the summary and the JSON, which reads back the same, in the
// output directory.
func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results", "cluster")
	r := testReport()
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
	if len(back.Cells) != 2 || back.Cells[1].Failed != 2 || back.Cells[0].P99 != 2345 || back.Nodes[2].PeakRSS != 95<<20 {
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
	for _, tc := range []struct {
		v    float64
		want string
	}{{950, "950"}, {6100, "6.10k"}, {23456, "23.5k"}, {640e3, "640k"}, {1.72e6, "1.72M"}} {
		if got := fmtRate(tc.v); got != tc.want {
			t.Errorf("fmtRate(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
