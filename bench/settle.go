package main

import (
	"fmt"
	"strings"
	"time"
)

// Settling. With -settle, before each workload that reads, the child waits
// until its engine has no background work left: no memtable waiting for
// its flush, no flush or compaction running, no level that the engine's
// own rules say needs a compaction. Each adapter reports what its engine
// exposes (Engine.Activity) and how long its counters must stay still
// before it believes them (Engine.Quiet); the wait adds the process's own
// write_bytes to the adapter's counters, so that work an engine does not
// report still shows as progress. The time waited and the bytes written meanwhile
// are stored with the workload (Result.Settle): they are the work the
// workloads before it left behind, which without the wait would be
// charged to this one. RocksDB waits the same way inside db_bench
// (waitforcompaction, rocksdb.go).

// Activity is an engine's background work at one moment, as its adapter
// sees it.
type Activity struct {
	// Running counts flushes and compactions running and memtables queued
	// for their flush; 0 where the engine does not say.
	Running int
	// Needed lists work that the engine's own rules call for and that has
	// not started, such as "L0 score 1.25"; empty where the engine does not
	// say.
	Needed []string
	// Progress is a fingerprint of counters that move while background
	// work runs (flush and compaction counts and bytes): it stays the same
	// while the engine is idle.
	Progress string
}

// Settle is one wait for background work, stored with the workload that
// followed it.
type Settle struct {
	Seconds float64 `json:"seconds"`
	// WriteBytes are the bytes the engine's process wrote meanwhile
	// (/proc/PID/io write_bytes).
	WriteBytes int64 `json:"write_bytes"`
	// Outcome says how the wait ended: "idle" (nothing running or needed,
	// the counters still for the quiet period), or why it stopped waiting.
	Outcome  string `json:"outcome"`
	TimedOut bool   `json:"timed_out,omitempty"`
}

// settleRule bounds a wait.
type settleRule struct {
	// quiet: the engine is idle once nothing runs, nothing is needed and
	// Progress has not changed for this long.
	quiet time.Duration
	// stuck: work the engine says it needs but that nothing runs for this
	// long (Progress unchanged) is not waited for any more; the engine
	// may never start it.
	stuck time.Duration
	// timeout bounds the whole wait.
	timeout time.Duration
}

// newSettleRule returns the rule for an engine whose adapter asks for
// quiet, unless -settle_quiet overrides it.
func newSettleRule(o *options, quiet time.Duration) settleRule {
	if o.SettleQuiet > 0 {
		quiet = o.SettleQuiet
	}
	return settleRule{quiet: quiet, stuck: max(2*time.Second, 10*quiet), timeout: o.SettleTimeout}
}

// settleWatch decides, from successive observations of an engine, when a
// wait is over. It is pure: the caller polls and passes the time.
type settleWatch struct {
	rule     settleRule
	begun    bool
	start    time.Time
	progress string
	moved    time.Time // when Progress last changed or work last ran
}

// observe takes the activity seen at now and reports whether the wait is
// over, how it ended, and whether it timed out.
func (w *settleWatch) observe(now time.Time, a Activity) (done bool, outcome string, timedOut bool) {
	if !w.begun {
		w.begun, w.start, w.moved, w.progress = true, now, now, a.Progress
	}
	if a.Progress != w.progress || a.Running > 0 {
		w.progress, w.moved = a.Progress, now
	}
	still := now.Sub(w.moved)
	switch {
	case a.Running == 0 && len(a.Needed) == 0 && still >= w.rule.quiet:
		return true, "idle", false
	case a.Running == 0 && still >= w.rule.stuck:
		return true, fmt.Sprintf("stopped waiting for %s: nothing ran for %s", strings.Join(a.Needed, ", "), still), false
	case now.Sub(w.start) >= w.rule.timeout:
		return true, fmt.Sprintf("timed out after %s: %s", w.rule.timeout, a.describe()), true
	}
	return false, "", false
}

// describe says what is pending.
func (a Activity) describe() string {
	parts := []string{fmt.Sprintf("%d running", a.Running)}
	if len(a.Needed) > 0 {
		parts = append(parts, "needed: "+strings.Join(a.Needed, ", "))
	}
	return strings.Join(parts, "; ")
}

// settlePoll is how often a wait looks at the engine.
const settlePoll = 10 * time.Millisecond

// settle waits until eng has settled by rule, polling its activity and this
// process's write counters, and reports the wait.
func settle(eng Engine, rule settleRule) Settle {
	w := settleWatch{rule: rule}
	io0, ioErr := readIO("self")
	start := time.Now()
	for {
		a := eng.Activity()
		if io, err := readIO("self"); err == nil {
			// Not wchar: the Go runtime writes to an eventfd to wake
			// its poller, so it moves in an idle process.
			a.Progress += fmt.Sprintf(" write_bytes=%d", io.WriteBytes)
		}
		now := time.Now()
		if done, outcome, timedOut := w.observe(now, a); done {
			s := Settle{Seconds: now.Sub(start).Seconds(), Outcome: outcome, TimedOut: timedOut}
			if io1, err := readIO("self"); err == nil && ioErr == nil {
				s.WriteBytes = io1.WriteBytes - io0.WriteBytes
			}
			return s
		}
		time.Sleep(settlePoll)
	}
}

// settleLine is the stderr line of a wait.
func settleLine(engine, workload string, s *Settle) string {
	return fmt.Sprintf("%-9s settled before %s in %.3f s, %s written meanwhile: %s",
		engine, workload, s.Seconds, fmtBytes(s.WriteBytes), s.Outcome)
}
