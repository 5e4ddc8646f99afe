package main

import (
	"testing"
	"time"
)

// fakeWriter drives a pacer on a fake clock: before each operation it
// waits what the pacer says, its sleeps rounded up to a multiple of
// granularity (a coarse timer), and each operation takes cost.
type fakeWriter struct {
	p           *pacer
	now         time.Time
	granularity time.Duration
	cost        time.Duration
	waits       int // operations that had to wait
}

func (f *fakeWriter) op() {
	if d := f.p.delay(f.now); d > 0 {
		f.waits++
		if g := f.granularity; g > 0 {
			d = (d + g - 1) / g * g
		}
		f.now = f.now.Add(d)
	}
	f.now = f.now.Add(f.cost)
}

// opsIn counts the operations that start within d.
func (f *fakeWriter) opsIn(d time.Duration) int {
	end := f.now.Add(d)
	n := 0
	for {
		f.op()
		if f.now.After(end) {
			return n
		}
		n++
	}
}

// With exact sleeps, operation i starts at i/rate: 20,000/s is one every
// 50 µs, and the first one at once.
func TestPacerSchedule(t *testing.T) {
	start := time.Unix(1000, 0)
	p := newPacer(20000)
	for i := range 1000 {
		now := start.Add(time.Duration(i) * 50 * time.Microsecond)
		if d := p.delay(now); d != 0 {
			t.Fatalf("operation %d, called when due: wait %s", i, d)
		}
	}
	// Called early, the next one waits for its time.
	if d := p.delay(start.Add(1000*50*time.Microsecond - 20*time.Microsecond)); d != 20*time.Microsecond {
		t.Errorf("called 20 µs early: wait %s", d)
	}
	if p := newPacer(1); p.delay(start) != 0 || p.delay(start) != time.Second {
		t.Errorf("1/s: the second operation does not wait a second")
	}
}

// The rate holds over a second whatever the timer's granularity and the
// operations' cost, as long as an operation takes less than 1/rate: a
// writer that oversleeps catches up on the operations that came due.
func TestPacerRate(t *testing.T) {
	for _, tc := range []struct {
		rate              int64
		granularity, cost time.Duration
	}{
		{20000, 0, 0},
		{20000, time.Millisecond, 2 * time.Microsecond},
		{20000, 4 * time.Millisecond, 20 * time.Microsecond},
		{1000, 0, 100 * time.Microsecond},
		{100, 15 * time.Millisecond, 0},
	} {
		f := &fakeWriter{p: newPacer(tc.rate), now: time.Unix(1000, 0), granularity: tc.granularity, cost: tc.cost}
		got := int64(f.opsIn(time.Second))
		if got < tc.rate-1 || got > tc.rate+1 {
			t.Errorf("rate %d/s, timer granularity %s, %s per operation: %d operations in a second", tc.rate, tc.granularity, tc.cost, got)
		}
		if f.waits == 0 {
			t.Errorf("rate %d/s: no operation waited", tc.rate)
		}
	}
}

// After a stall the writer catches up by at most burst operations (100 ms
// worth): it does not write the whole stall's worth at full speed.
func TestPacerBurstAfterStall(t *testing.T) {
	start := time.Unix(1000, 0)
	p := newPacer(20000)
	for i := range 100 {
		p.delay(start.Add(time.Duration(i) * 50 * time.Microsecond))
	}
	stalled := start.Add(time.Second) // 19,900 operations late
	immediate := 0
	for p.delay(stalled) == 0 {
		immediate++
	}
	if want := int(p.burst) + 1; immediate != want {
		t.Errorf("%d operations at once after a 1 s stall, want burst+1 = %d", immediate, want)
	}
	// Slightly late is not a stall: the operations due run at once, and
	// the schedule is kept.
	q := newPacer(20000)
	q.delay(start)
	late := start.Add(10 * time.Millisecond) // 200 operations due, burst is 2000
	n := 0
	for q.delay(late) == 0 {
		n++
	}
	if n != 200 {
		t.Errorf("%d operations at once 10 ms late, want the 200 due", n)
	}
}
