package main

import "time"

// pacer schedules operations at a fixed rate (-writes_per_sec, the writer
// of readwhilewriting): operation i is due at start + i/rate. A caller
// that falls behind (a sleep that overslept, a write that stalled) runs
// the operations that are due without waiting, so that the rate holds on
// average; but after a stall it runs at most burst+1 operations back to
// back (this one and burst more), as db_bench's rate limiter refills at
// most one 100 ms period's worth: a writer stalled for a second does not
// then write a second's worth at full speed.
//
// It is pure: the caller passes the time and sleeps.
type pacer struct {
	rate  int64 // operations per second
	burst int64 // operations that may run back to back after a stall, besides the first
	start time.Time
	n     int64 // operations scheduled since start
}

// newPacer returns a pacer of rate operations per second, with a burst of
// 100 ms worth (at least 1).
func newPacer(rate int64) *pacer {
	return &pacer{rate: rate, burst: max(rate/10, 1)}
}

// span is the time n operations take at the pacer's rate.
func (p *pacer) span(n int64) time.Duration {
	return time.Duration(n * int64(time.Second) / p.rate)
}

// delay schedules the next operation and returns how long the caller
// waits from now before running it (0: run it now).
func (p *pacer) delay(now time.Time) time.Duration {
	if p.start.IsZero() {
		p.start = now
	}
	due := p.start.Add(p.span(p.n))
	if now.Sub(due) > p.span(p.burst) {
		// More than burst operations behind: forget the missed ones. The
		// schedule restarts with this operation burst operations late, so
		// that it and burst more are due now.
		p.start, p.n = now.Add(-p.span(p.burst)), 0
		due = p.start
	}
	p.n++
	return max(due.Sub(now), 0)
}

// wait sleeps until the next operation is due, or until stop is closed
// (it then reports false). t is the caller's timer, reused between calls.
func (p *pacer) wait(t *time.Timer, stop <-chan struct{}) bool {
	d := p.delay(time.Now())
	if d == 0 {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	t.Reset(d)
	select {
	case <-t.C:
		return true
	case <-stop:
		t.Stop()
		return false
	}
}
