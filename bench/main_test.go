package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary serve as the harness's child: the parent
// re-executes os.Executable() with -child, which is the test binary here.
func TestMain(m *testing.M) {
	for _, a := range os.Args[1:] {
		if a == "-child" || strings.HasPrefix(a, "-child=") {
			os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
		}
	}
	os.Exit(m.Run())
}

// TestEveryWorkloadEveryEngine runs the whole harness — parent, one child
// process per engine and group, the report files — at a tiny key count, so
// that no workload or adapter can rot unnoticed. Contract: every Go engine
// reports every workload, with consistent figures.
func TestEveryWorkloadEveryEngine(t *testing.T) {
	const num = 2000
	out, dbDir := t.TempDir(), t.TempDir()
	var stdout, stderr bytes.Buffer
	// Settling is on (the default), with a short quiet period: each
	// engine's own would add seconds.
	args := []string{"-num", "2000", "-engines", "dkv,pebble,goleveldb,badger", "-out", out, "-db", dbDir, "-progress", "off",
		"-settle_quiet", "10ms"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d\nstderr:\n%s", code, stderr.String())
	}
	var rep Report
	data, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	idx := resultIndex(&rep)
	userBytes, diskBytes := map[string]int64{}, map[string]int64{}
	for _, r := range rep.Results {
		userBytes[r.Engine] += r.UserBytes
		diskBytes[r.Engine] += r.DiskWriteBytes
	}
	for e, u := range userBytes {
		// Per workload the kernel's count can miss a write that an engine
		// hands to the OS after the workload returns (dkv's log goroutine),
		// so the check is over the whole run.
		if diskBytes[e] < u/2 {
			t.Errorf("%s: wrote %d user bytes but the kernel counted %d", e, u, diskBytes[e])
		}
	}
	for _, w := range workloads {
		for _, e := range []string{"dkv", "pebble", "goleveldb", "badger"} {
			r := idx[w.name][e]
			if r == nil {
				t.Errorf("%s %s: no result", e, w.name)
				continue
			}
			checkResult(t, r, w, num)
			checkSettle(t, r, w)
		}
	}
	if len(rep.Engines) != 4 {
		t.Errorf("report lists %d engines, want 4", len(rep.Engines))
	}
	for _, e := range rep.Engines {
		if len(e.Settings) == 0 {
			t.Errorf("%s: no settings reported", e.Name)
		}
	}
	for _, name := range []string{"ops.svg", "latency.svg"} {
		checkSVG(t, filepath.Join(out, name))
	}
	bench, err := os.ReadFile(filepath.Join(out, "bench.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(bench), "\nBenchmark"); n != len(rep.Results) {
		t.Errorf("bench.txt has %d benchmark lines, want %d", n, len(rep.Results))
	}
	for _, want := range []string{"dkv/pebble", "geometric mean", "fillsync/16", "ycsb-e", "Caveats:"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
	if got := strings.Count(stderr.String(), " micros/op "); got != len(rep.Results) {
		t.Errorf("stderr has %d result lines, want %d", got, len(rep.Results))
	}
	settled := 0
	for _, r := range rep.Results {
		if r.Settle != nil {
			settled++
		}
	}
	if got := strings.Count(stderr.String(), " settled before "); got != settled || settled == 0 {
		t.Errorf("stderr has %d settle lines, want one per settled result: %d", got, settled)
	}
}

// checkSettle checks that a workload that reads, and only such a one,
// waited for background work first, and that the wait ended idle: at
// 2,000 keys nothing is flushed, so nothing can be pending long.
func checkSettle(t *testing.T, r *Result, w *workload) {
	t.Helper()
	switch {
	case w.reads && r.Settle == nil:
		t.Errorf("%s %s: no settle before a workload that reads", r.Engine, r.Workload)
	case !w.reads && r.Settle != nil:
		t.Errorf("%s %s: settled before a workload that only writes", r.Engine, r.Workload)
	case r.Settle != nil && (r.Settle.Outcome != "idle" || r.Settle.Seconds < 0.01 || r.Settle.Seconds > 5):
		t.Errorf("%s %s: settle %+v", r.Engine, r.Workload, r.Settle)
	}
}

// checkResult checks the figures a result must have whatever the engine.
func checkResult(t *testing.T, r *Result, w *workload, num int64) {
	t.Helper()
	name := r.Engine + " " + r.Workload
	if r.Ops <= 0 || r.OpsPerSec <= 0 || r.Seconds <= 0 || r.MicrosPerOp <= 0 {
		t.Errorf("%s: ops %d, %.0f ops/s, %.6f s, %.3f µs/op", name, r.Ops, r.OpsPerSec, r.Seconds, r.MicrosPerOp)
	}
	if !(r.P50 > 0 && r.P50 <= r.P99 && r.P99 <= r.P999 && r.P999 <= r.MaxMicros*1.04) {
		t.Errorf("%s: percentiles %.3f / %.3f / %.3f, max %.3f µs", name, r.P50, r.P99, r.P999, r.MaxMicros)
	}
	if r.PeakRSS <= 0 {
		t.Errorf("%s: peak RSS %d", name, r.PeakRSS)
	}
	if r.DiskSize <= 0 {
		t.Errorf("%s: disk size %d", name, r.DiskSize)
	}
	entry := int64(KeySize + 100)
	switch r.Workload {
	case "fillseq", "fillbatch", "fillrandom", "overwrite", "deleterandom", "ycsb-load":
		if r.Ops != num {
			t.Errorf("%s: %d ops, want %d", name, r.Ops, num)
		}
	}
	switch r.Workload {
	case "fillseq", "fillbatch", "fillrandom", "overwrite", "ycsb-load", "fillsync/1", "fillsync/16":
		if r.UserBytes != r.Ops*entry {
			t.Errorf("%s: %d user bytes, want %d", name, r.UserBytes, r.Ops*entry)
		}
	case "readmissing":
		if r.Found != 0 {
			t.Errorf("%s: found %d missing keys", name, r.Found)
		}
	case "readrandom", "seekrandom":
		// fillrandom + overwrite leave about 1-1/e² = 86% of the keys.
		if r.Found < r.Ops*3/4 || r.Found > r.Ops*19/20 {
			t.Errorf("%s: found %d of %d", name, r.Found, r.Ops)
		}
	case "readseq", "readreverse":
		if r.Ops < num*3/4 || r.Ops > num*19/20 {
			t.Errorf("%s: scanned %d keys of %d", name, r.Ops, num)
		}
	case "ycsb-c":
		if r.Found != r.Ops {
			t.Errorf("%s: found %d of %d loaded records", name, r.Found, r.Ops)
		}
	}
	if (r.Engine == "dkv" || r.Engine == "pebble" || r.Engine == "goleveldb") && r.EngineWriteAmp == nil {
		t.Errorf("%s: no engine write amplification", name)
	}
	if w.batch != (r.LatencyUnit == "batch") {
		t.Errorf("%s: latency unit %q", name, r.LatencyUnit)
	}
}

// checkSVG checks that a chart is well-formed XML with bars in it.
func checkSVG(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	rects := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	if rects < len(workloads)*4 {
		t.Errorf("%s: %d rects, want at least one bar per workload and engine", path, rects)
	}
}

func TestHelpListsFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("-h: exit status %d", code)
	}
	for _, want := range []string{"-num", "-benchmarks", "-engines", "-sync", "-threads", "-value_size", "-gobench", "readwhilewriting", "ycsb-e",
		"-preset", "-settle", "-settle_timeout", "-settle_quiet", "-writes_per_sec", "300k", "10m", "-writes_per_sec=20000"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("-h lacks %q", want)
		}
	}
	if strings.Contains(stderr.String(), "-child") {
		t.Errorf("-h shows the hidden -child flag")
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-benchmarks", "nosuch"},
		{"-engines", "nosuch"},
		{"-num", "0"},
		{"-threads", "0"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(append(args, "-out", ""), &stdout, &stderr); code == 0 {
			t.Errorf("%v: exit status 0", args)
		}
	}
}

// With -writes_per_sec, readwhilewriting's writer is paced, and its row
// says so. (The rate it reaches depends on the machine: the pacer's
// schedule is tested on a fake clock in pacer_test.go.)
func TestPacedReadWhileWriting(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"-num", "2000", "-reads", "20000", "-engines", "dkv", "-benchmarks", "readwhilewriting", "-writes_per_sec", "20000",
		"-settle_quiet", "10ms", "-out", out, "-db", t.TempDir(), "-progress", "off"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d\nstderr:\n%s", code, stderr.String())
	}
	data, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 || !strings.Contains(rep.Results[0].Note, "paced at 20000/s") || rep.Results[0].UserBytes == 0 {
		t.Errorf("results: %+v", rep.Results)
	}
	if rep.Options.WritesPerSec != 20000 || !strings.Contains(stdout.String(), "readwhilewriting's writer 20000/s") {
		t.Errorf("the report does not show the writer's rate:\n%s", stdout.String())
	}
}
