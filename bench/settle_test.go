package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A wait ends once nothing runs, nothing is needed and the counters have
// not moved for the quiet period; it gives up on needed work that nothing
// starts, and on an engine that never settles. Driven by a script of
// observations on a fake clock, polled every 10 ms.
func TestSettleWatch(t *testing.T) {
	rule := settleRule{quiet: 100 * time.Millisecond, stuck: 2 * time.Second, timeout: time.Minute}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, tc := range []struct {
		name    string
		script  func(at time.Duration) Activity
		at      time.Duration // when the wait ends
		outcome string        // its outcome starts so
		timeout bool
	}{
		{"idle from the start", func(time.Duration) Activity { return Activity{Progress: "a"} },
			ms(100), "idle", false},
		{"a compaction runs for 500 ms", func(at time.Duration) Activity {
			if at < ms(500) {
				return Activity{Running: 1, Progress: "a"}
			}
			return Activity{Progress: "b"}
		}, ms(600), "idle", false},
		{"counters move until 1 s", func(at time.Duration) Activity {
			return Activity{Progress: fmt.Sprint(min(at, time.Second))}
		}, ms(1100), "idle", false},
		{"needed, then started and done", func(at time.Duration) Activity {
			switch {
			case at < ms(300):
				return Activity{Needed: []string{"L0 score 1.20"}, Progress: "a"}
			case at < ms(800):
				return Activity{Running: 1, Progress: "a"}
			}
			return Activity{Progress: "b"}
		}, ms(900), "idle", false},
		{"needed, never started", func(time.Duration) Activity {
			return Activity{Needed: []string{"L0 score 1.20"}, Progress: "a"}
		}, 2 * time.Second, "stopped waiting for L0 score 1.20: nothing ran for 2s", false},
		{"never settles", func(at time.Duration) Activity {
			return Activity{Running: 1, Progress: fmt.Sprint(at)}
		}, time.Minute, "timed out after 1m0s: 1 running", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := settleWatch{rule: rule}
			start := time.Unix(1000, 0)
			for at := time.Duration(0); at <= 2*rule.timeout; at += settlePoll {
				done, outcome, timedOut := w.observe(start.Add(at), tc.script(at))
				if !done {
					continue
				}
				if at != tc.at || !strings.HasPrefix(outcome, tc.outcome) || timedOut != tc.timeout {
					t.Errorf("ended at %s: %q, timed out %v; want %s: %q, %v", at, outcome, timedOut, tc.at, tc.outcome, tc.timeout)
				}
				return
			}
			t.Fatalf("never ended")
		})
	}
}

// Every Go adapter's settle returns once its engine has flushed and
// compacted what small memtables left behind, reports the wait, and
// leaves the engine with nothing running or needed by its own account.
func TestEngineSettles(t *testing.T) {
	o := &options{SettleTimeout: time.Minute}
	for _, name := range []string{"dkv", "pebble", "goleveldb", "badger"} {
		t.Run(name, func(t *testing.T) {
			// Small memtables and writes of three memtables' worth: a few
			// flushes, and L0 compactions on the engines that need them.
			// (Badger's memtable must hold a batch of its 1 MiB
			// ValueThreshold, in 15% of its size.)
			mem := int64(1 << 20)
			if name == "badger" {
				mem = 8 << 20
			}
			eng, settings, err := engines[name](t.TempDir(), Config{CacheSize: 8 << 20, BloomBits: 10, MemTable: mem, Settle: true})
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			if !hasSetting(settings, "settle") {
				t.Errorf("settings do not say how %s settles", name)
			}
			var kb [KeySize + 1]byte
			val := make([]byte, 100)
			n := 3 * mem / int64(KeySize+len(val))
			for i := int64(0); i < n; i += 1000 {
				b := eng.NewBatch()
				for j := i; j < min(i+1000, n); j++ {
					b.Put(makeKey(kb[:], uint64(j*7919%n)), val)
				}
				if err := b.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			s := settle(eng, newSettleRule(o, eng.Quiet()))
			if s.Outcome != "idle" || s.TimedOut || s.Seconds < eng.Quiet().Seconds() {
				t.Errorf("settle: %+v", s)
			}
			if a := eng.Activity(); a.Running != 0 || len(a.Needed) != 0 {
				t.Errorf("after settling: %+v", a)
			}
			t.Logf("%s: %s", name, settleLine(name, "readrandom", &s))
		})
	}
}

func hasSetting(settings []Setting, name string) bool {
	for _, s := range settings {
		if s.Name == name {
			return true
		}
	}
	return false
}

func TestParseLevelDBStats(t *testing.T) {
	const stats = "Compactions\n" +
		" Level |   Tables   |    Size(MB)   |    Time(sec)  |    Read(MB)   |   Write(MB)\n" +
		"-------+------------+---------------+---------------+---------------+---------------\n" +
		"   0   |          3 |       1.50000 |       0.01000 |       0.00000 |       1.50000\n" +
		"   2   |          1 |      12.25000 |       0.20000 |       3.00000 |       3.00000\n"
	got := fmt.Sprint(parseLevelDBStats(stats))
	if want := "[{0 3 1.5} {2 1 12.25}]"; got != want {
		t.Errorf("parsed %s, want %s", got, want)
	}
}
