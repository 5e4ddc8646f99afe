package transport

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

func batchOf(n int) []*kvpb.RaftMessage {
	msgs := make([]*kvpb.RaftMessage, n)
	for i := range msgs {
		msgs[i] = msg(1, 2, i)
	}
	return msgs
}

// The link rules: a partition is one-way, Isolate cuts a node both ways,
// Heal removes everything, and 0 is a wildcard whose most specific rule
// wins.
func TestFaultsRules(t *testing.T) {
	f := NewFaults(1)
	kept := func(from, to uint64) int {
		out, _ := f.FilterBatch(from, to, batchOf(10))
		return len(out)
	}
	f.Partition(1, 2)
	if kept(1, 2) != 0 || kept(2, 1) != 10 {
		t.Fatal("Partition(1, 2) is not exactly one-way")
	}
	f.PartitionBoth(3, 4)
	if kept(3, 4) != 0 || kept(4, 3) != 0 || kept(3, 1) != 10 {
		t.Fatal("PartitionBoth(3, 4)")
	}
	f.Isolate(5)
	if kept(5, 1) != 0 || kept(1, 5) != 0 || kept(5, 99) != 0 || kept(1, 3) != 10 {
		t.Fatal("Isolate(5)")
	}
	if m, _ := f.Dropped(); m != 60 {
		t.Fatalf("Dropped = %d messages, want 60", m)
	}
	f.SetDrop(0, 0, 1)
	f.SetDrop(1, 0, 0.000001)
	f.SetDrop(1, 2, 1)
	f.SetDelay(0, 2, time.Second, time.Second)
	f.Heal()
	for _, l := range [][2]uint64{{1, 2}, {3, 4}, {5, 1}, {7, 8}} {
		out, d := f.FilterBatch(l[0], l[1], batchOf(10))
		if len(out) != 10 || d != 0 {
			t.Fatalf("%d→%d after Heal: kept %d, delay %v", l[0], l[1], len(out), d)
		}
	}

	// Wildcards: (from, to) beats (from, *) beats (*, to) beats (*, *).
	f.SetDrop(0, 0, 1)
	f.SetDrop(0, 2, 0.0000001)
	if kept(3, 1) != 0 || kept(3, 2) != 10 {
		t.Fatal("(*, 2) should beat (*, *)")
	}
	f.SetDrop(1, 0, 1)
	if kept(1, 2) != 0 {
		t.Fatal("(1, *) should beat (*, 2)")
	}
	f.SetDrop(1, 2, 0.0000001)
	if kept(1, 2) != 10 {
		t.Fatal("(1, 2) should beat (1, *)")
	}
	f.SetDrop(1, 2, 0) // removes the rule: (1, *) applies again
	if kept(1, 2) != 0 {
		t.Fatal("SetDrop(1, 2, 0) did not remove the rule")
	}
}

// FilterBatch keeps survivors in order and leaves its input alone; a drop
// rate drops about that share; a delay lies in its range.
func TestFaultsFilterBatch(t *testing.T) {
	f := NewFaults(42)
	f.SetDrop(1, 2, 0.5)
	in := batchOf(2000)
	orig := slices.Clone(in)
	out, d := f.FilterBatch(1, 2, in)
	if d != 0 {
		t.Fatalf("delay %v without a delay rule", d)
	}
	if !slices.Equal(in, orig) {
		t.Fatal("FilterBatch modified its input")
	}
	if len(out) < 600 || len(out) > 1400 {
		t.Fatalf("a drop rate of 0.5 kept %d of 2000", len(out))
	}
	var got []string
	for _, m := range out {
		got = append(got, string(m.Message))
	}
	if s := seqs(t, 1, 2, got); !increasing(s) {
		t.Fatal("survivors out of order")
	}
	if m, _ := f.Dropped(); m != uint64(2000-len(out)) {
		t.Fatalf("Dropped = %d, want %d", m, 2000-len(out))
	}

	f.Heal()
	f.SetDelay(1, 2, 5*time.Millisecond, 9*time.Millisecond)
	f.SetDelay(2, 1, 3*time.Millisecond, time.Millisecond) // hi below lo: exactly lo
	for range 100 {
		if _, d := f.FilterBatch(1, 2, batchOf(1)); d < 5*time.Millisecond || d > 9*time.Millisecond {
			t.Fatalf("delay %v outside [5ms, 9ms]", d)
		}
		if _, d := f.FilterBatch(2, 1, batchOf(1)); d != 3*time.Millisecond {
			t.Fatalf("delay %v, want 3ms", d)
		}
	}
	f.SetDelay(1, 2, 0, 0)
	if _, d := f.FilterBatch(1, 2, batchOf(1)); d != 0 {
		t.Fatal("SetDelay(…, 0, 0) did not remove the rule")
	}
}

// The same seed and the same calls give the same choices: a single-caller
// simulation is reproducible.
func TestFaultsSeeded(t *testing.T) {
	run := func(seed int64) string {
		f := NewFaults(seed)
		f.SetDrop(0, 0, 0.3)
		f.SetDelay(0, 0, 0, time.Second)
		var trace []byte
		for i := range 200 {
			out, d := f.FilterBatch(uint64(i%3+1), uint64(i%5+1), batchOf(5))
			drop, sd := f.FilterSnapshot(1, 2)
			trace = fmt.Appendf(trace, "%d/%d/%v/%v ", len(out), d, drop, sd)
		}
		return string(trace)
	}
	if a, b := run(7), run(7); a != b {
		t.Fatal("the same seed gave different choices")
	}
	if run(7) == run(8) {
		t.Fatal("different seeds gave the same choices")
	}
}

// A one-way partition drops exactly that direction, and counts the drops;
// Heal restores it.
func TestPartitionOneWay(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1, 2)
	a, b := c.node(1), c.node(2)
	c.faults.Partition(1, 2)
	const n = 200
	for i := range n {
		a.tr.Send(2, []*kvpb.RaftMessage{msg(1, 2, i)})
		b.tr.Send(1, []*kvpb.RaftMessage{msg(2, 1, i)})
	}
	eventually(t, "node 1 to get node 2's messages", func() bool { return len(a.rec.from(2)) == n })
	eventually(t, "node 1's messages to be dropped", func() bool { return a.tr.Stats().MessagesDroppedFault == n })
	// Each was dropped before it went on the wire: none can arrive.
	if got := len(b.rec.from(1)); got != 0 {
		t.Fatalf("node 2 got %d messages across the partition", got)
	}
	if s := b.tr.Stats(); s.MessagesDroppedFault != 0 {
		t.Fatalf("node 2 had %d messages dropped", s.MessagesDroppedFault)
	}

	c.faults.Heal()
	for i := n; i < 2*n; i++ {
		a.tr.Send(2, []*kvpb.RaftMessage{msg(1, 2, i)})
	}
	eventually(t, "node 2 to get the messages sent after Heal", func() bool { return len(b.rec.from(1)) == n })
	got := seqs(t, 1, 2, b.rec.from(1))
	if got[0] != n || !increasing(got) {
		t.Fatalf("after Heal node 2 got %v…", got[:5])
	}
	checkAccounting(t, a)
}

// An isolated node neither sends nor receives; the others still talk.
func TestIsolate(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1, 2, 3)
	c.faults.Isolate(3)
	for i := range 50 {
		for _, from := range []uint64{1, 2, 3} {
			for _, to := range []uint64{1, 2, 3} {
				if from != to {
					c.node(from).tr.Send(to, []*kvpb.RaftMessage{msg(from, to, i)})
				}
			}
		}
	}
	eventually(t, "1 and 2 to exchange", func() bool {
		return len(c.node(1).rec.from(2)) == 50 && len(c.node(2).rec.from(1)) == 50
	})
	for _, id := range []uint64{1, 2, 3} {
		checkAccounting(t, c.node(id))
	}
	if s := c.node(3).tr.Stats(); s.MessagesDroppedFault != 100 {
		t.Fatalf("node 3: %d messages dropped, want 100", s.MessagesDroppedFault)
	}
	for _, id := range []uint64{1, 2} {
		if got := len(c.node(id).rec.from(3)); got != 0 {
			t.Fatalf("node %d got %d messages from the isolated node", id, got)
		}
		if got := len(c.node(3).rec.from(id)); got != 0 {
			t.Fatalf("the isolated node got %d messages from node %d", got, id)
		}
	}
}

// With a drop rate, what is not dropped arrives, in order, once.
func TestDropRate(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1, 2)
	a, b := c.node(1), c.node(2)
	c.faults.SetDrop(1, 2, 0.5)
	const n = 2000
	for i := range n {
		if !a.tr.Send(2, []*kvpb.RaftMessage{msg(1, 2, i)}) {
			t.Fatal("Send dropped")
		}
	}
	eventually(t, "every message sent or dropped", func() bool {
		s := a.tr.Stats()
		return s.MessagesSent+s.MessagesDroppedFault == n
	})
	s := a.tr.Stats()
	eventually(t, "every message sent to arrive", func() bool { return uint64(len(b.rec.from(1))) == s.MessagesSent })
	if s.MessagesDroppedFault < n/5 || s.MessagesDroppedFault > 4*n/5 {
		t.Fatalf("a drop rate of 0.5 dropped %d of %d", s.MessagesDroppedFault, n)
	}
	if got := seqs(t, 1, 2, b.rec.from(1)); !increasing(got) {
		t.Fatal("out of order or duplicated")
	}
}

// With a delay, every message still arrives exactly once (delayed batches
// may overtake each other).
func TestDelay(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1, 2)
	a, b := c.node(1), c.node(2)
	c.faults.SetDelay(1, 2, time.Millisecond, 20*time.Millisecond)
	const n = 300
	for i := range n {
		a.tr.Send(2, []*kvpb.RaftMessage{msg(1, 2, i)})
		if i%10 == 0 {
			time.Sleep(time.Millisecond) // spread the messages over several batches
		}
	}
	eventually(t, "every message to arrive", func() bool { return len(b.rec.from(1)) == n })
	got := seqs(t, 1, 2, b.rec.from(1))
	slices.Sort(got)
	for i, s := range got {
		if s != i {
			t.Fatalf("message %d missing or duplicated", i)
		}
	}
	if s := a.tr.Stats(); s.BatchesDelayed == 0 || s.MessagesSent != n {
		t.Fatalf("stats: %+v", s)
	}
}

// Messages delayed past the end of a session are dropped and counted, and
// Close does not wait for them.
func TestDelayedAtClose(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1, 2)
	a := c.node(1)
	c.faults.SetDelay(1, 2, time.Hour, time.Hour)
	a.tr.Send(2, batchOf(5))
	eventually(t, "the batch to be delayed", func() bool { return a.tr.Stats().BatchesDelayed == 1 })
	a.tr.Close()
	if s := a.tr.Stats(); s.MessagesDroppedUnreachable != 5 || s.MessagesSent != 0 {
		t.Fatalf("stats: %+v", s)
	}
}
