package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// ui writes to stderr: the db_bench-like line of each result and, when
// stderr is a terminal (or -progress=on), a progress bar on the last line.
// It is also the children's stderr, so that their lines do not tear the
// bar. Safe for concurrent use.
type ui struct {
	mu       sync.Mutex
	w        io.Writer
	bar      bool
	shown    bool   // a bar is on the last line
	current  string // engine and workload of the bar
	started  time.Time
	lastDraw time.Time
}

func newUI(w io.Writer, mode string) *ui {
	u := &ui{w: w}
	switch mode {
	case "on":
		u.bar = true
	case "auto":
		u.bar = isTerminal(w)
	}
	return u
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (u *ui) clearLocked() {
	if u.shown {
		fmt.Fprint(u.w, "\r\033[K")
		u.shown = false
	}
}

func (u *ui) clear() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.clearLocked()
}

// linef prints a line above the bar.
func (u *ui) linef(format string, args ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.clearLocked()
	fmt.Fprintf(u.w, format+"\n", args...)
}

// Write passes a child's stderr through.
func (u *ui) Write(p []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.clearLocked()
	return u.w.Write(p)
}

// progress draws the bar: done of total operations (total 0: unknown,
// elapsed time only).
func (u *ui) progress(engine, workload string, done, total int64) {
	if !u.bar {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	name := engine + " " + workload
	if name != u.current {
		u.current, u.started = name, time.Now()
	}
	if time.Since(u.lastDraw) < 100*time.Millisecond && u.shown {
		return
	}
	u.lastDraw = time.Now()
	const width = 30
	line := fmt.Sprintf("%-10s %-17s", engine, workload)
	if total > 0 {
		frac := min(float64(done)/float64(total), 1)
		n := int(frac * width)
		line += fmt.Sprintf(" [%s%s] %3.0f%%", strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*frac)
	}
	line += fmt.Sprintf(" %5.1fs", time.Since(u.started).Seconds())
	fmt.Fprint(u.w, "\r\033[K"+line)
	u.shown = true
}

// result prints a db_bench-like line for r.
func (u *ui) result(r *Result) {
	u.linef("%s", resultLine(r))
}

func resultLine(r *Result) string {
	s := fmt.Sprintf("%-9s %-16s: %10.3f micros/op %8.0f ops/sec %7.3f seconds %8d operations;",
		r.Engine, r.Workload, r.MicrosPerOp, r.OpsPerSec, r.Seconds, r.Ops)
	unit := "µs"
	if r.LatencyUnit == "batch" {
		unit = "µs per batch"
	}
	s += fmt.Sprintf(" p50 %s p99 %s p99.9 %s %s;", fmtMicros(r.P50), fmtMicros(r.P99), fmtMicros(r.P999), unit)
	if r.Found > 0 {
		s += fmt.Sprintf(" %d found;", r.Found)
	}
	s += fmt.Sprintf(" disk %s", fmtBytes(r.DiskSize))
	if r.UserBytes > 0 {
		s += fmt.Sprintf(", written/user %.2f", r.WriteBytesPerUserByte)
	}
	if r.EngineWriteAmp != nil {
		s += fmt.Sprintf(", w-amp %.2f", *r.EngineWriteAmp)
	}
	s += fmt.Sprintf(", rss %s", fmtBytes(r.PeakRSS))
	if r.Note != "" {
		s += "; " + r.Note
	}
	return s
}

// fmtMicros formats microseconds with three significant digits.
func fmtMicros(us float64) string {
	switch {
	case us == 0:
		return "0"
	case us < 10:
		return fmt.Sprintf("%.2f", us)
	case us < 100:
		return fmt.Sprintf("%.1f", us)
	}
	return fmt.Sprintf("%.0f", us)
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
