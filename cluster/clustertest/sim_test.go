package clustertest

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"slices"
	"strconv"
	"testing"
	"testing/cryptotest"

	"github.com/stretchr/testify/require"
)

// runUntil steps s until cond holds or steps run out.
func runUntil(s *Sim, steps int, cond func() bool) bool {
	for range steps {
		if cond() {
			return true
		}
		s.Step()
	}
	return cond()
}

func TestSimElectsAndReplicates(t *testing.T) {
	s, err := NewSim(SimConfig{Seed: 1})
	require.NoError(t, err)
	defer s.Close()
	require.True(t, runUntil(s, 200, func() bool { return s.Leader() != nil }), "no leader elected")
	w := NewSimWorkload(s, 3, 4)
	for range 300 {
		w.Issue(0.5)
		s.Step()
		w.Collect()
	}
	w.Drain(300)
	require.NoError(t, s.Err())
	require.Greater(t, w.Acked, 50, "acknowledged writes")
	require.Greater(t, w.ReadsOK, 50, "reads")
	requireConverged(t, s)
	require.NoError(t, w.Check(""))
}

// requireConverged heals the simulation, lets it settle and checks that
// every node holds the same user data.
func requireConverged(t *testing.T, s *Sim) {
	t.Helper()
	s.Heal()
	for _, n := range s.Nodes {
		require.NoError(t, s.Restart(n.ID))
	}
	settled := runUntil(s, 3000, func() bool {
		// Every range on every node, applied as far as every other
		// replica of it, with a leader.
		applied := map[uint64]uint64{}
		lead := map[uint64]bool{}
		ranges := 0
		for i, n := range s.Nodes {
			reps := n.Store.Replicas()
			if i == 0 {
				ranges = len(reps)
			} else if len(reps) != ranges {
				return false
			}
			for _, r := range reps {
				st := r.Status()
				if st.Descriptor == nil {
					return false
				}
				if a, ok := applied[st.RangeID]; ok && a != st.Applied {
					return false
				}
				applied[st.RangeID] = st.Applied
				if st.Commit != st.Applied && st.Commit != 0 {
					return false
				}
				lead[st.RangeID] = lead[st.RangeID] || st.RaftState == "StateLeader"
			}
		}
		for _, l := range lead {
			if !l {
				return false
			}
		}
		return len(applied) == ranges
	})
	require.True(t, settled, "replicas did not converge: %s", simStatus(s))
	var first map[string]string
	for i, n := range s.Nodes {
		data, err := n.UserData()
		require.NoError(t, err)
		if i == 0 {
			first = data
			continue
		}
		require.True(t, maps.Equal(first, data), "node %d's data differs from node 1's", n.ID)
	}
	require.NoError(t, s.Err())
}

func simStatus(s *Sim) string {
	out := ""
	for _, n := range s.Nodes {
		if !n.Up {
			out += fmt.Sprintf("[node %d: down] ", n.ID)
			continue
		}
		for _, r := range n.Store.Replicas() {
			st := r.Status()
			out += fmt.Sprintf("[node %d range %d: %s term %d commit %d applied %d first %d last %d init %v] ", n.ID, st.RangeID, st.RaftState, st.Term, st.Commit, st.Applied, st.FirstIndex, st.LastIndex, st.Descriptor != nil)
		}
	}
	return out
}

// simSeeds is how many seeds TestSimFaults runs: DKV_SIM_SEEDS, or a
// number that fits CI's budget.
func simSeeds(t *testing.T, def int) int {
	if v := os.Getenv("DKV_SIM_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		return n
	}
	if testing.Short() {
		return 2
	}
	return def
}

// TestSimFaults runs clients against a simulated cluster while the network
// drops, delays and reorders messages, links are cut (one way, both ways,
// the leader isolated) and nodes crash losing what they had not synced.
// Every seed checks: one leader per term, every index applied identically
// everywhere, convergence after healing, and a linearizable history.
func TestSimFaults(t *testing.T) {
	seeds := simSeeds(t, 16)
	base := uint64(1000)
	if v := os.Getenv("DKV_SEED_BASE"); v != "" {
		b, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err)
		base = b
	}
	for i := range seeds {
		seed := base + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runSimFaults(t, seed, 1500)
		})
	}
}

// TestSimIsDeterministic runs one seed twice: the same seed must replay
// the same run (entries applied at every index, messages, faults), or a
// failing seed could not be replayed.
func TestSimIsDeterministic(t *testing.T) {
	var fp [2]string
	for i := range fp {
		t.Run(fmt.Sprintf("run=%d", i), func(t *testing.T) {
			fp[i] = runSimFaults(t, 4242, 800)
		})
	}
	require.Equal(t, fp[0], fp[1])
}

func runSimFaults(t *testing.T, seed uint64, steps int) (fingerprint string) {
	// raft draws election timeouts from crypto/rand: seed it too, so that
	// a seed replays the same run.
	cryptotest.SetGlobalRandom(t, seed)
	nodes := 3 + int(seed%3) // 3, 4 or 5
	s, err := NewSim(SimConfig{Seed: seed, Nodes: nodes, DropRate: 0.05, MaxDelay: 3, LogTailEntries: 64})
	require.NoError(t, err)
	defer s.Close()
	w := NewSimWorkload(s, 4, 5)
	faults := 0
	for step := range steps {
		if step > 100 && step%100 == 0 {
			faults++
			switch s.rng.IntN(6) {
			case 0:
				s.Heal()
			case 1:
				if l := s.Leader(); l != nil {
					s.Isolate(l.ID)
				}
			case 2:
				a, b := s.rng.Uint64N(uint64(nodes))+1, s.rng.Uint64N(uint64(nodes))+1
				if a != b {
					s.Partition(a, b)
				}
			case 3:
				s.Crash(s.rng.Uint64N(uint64(nodes)) + 1)
			case 4:
				for _, n := range s.Nodes {
					require.NoError(t, s.Restart(n.ID))
				}
			case 5:
				if l := s.Leader(); l != nil {
					s.Crash(l.ID)
				}
			}
		}
		if step > 100 && step%120 == 60 {
			// Splits under traffic and faults, at one of the keys the
			// clients use (k1…k4; "k0" sorts first and cannot split).
			w.Split(fmt.Sprintf("k%d", 1+s.rng.IntN(w.Keys-1)))
		}
		w.Issue(0.3)
		s.Step()
		w.Collect()
		require.NoError(t, s.Err())
	}
	w.Drain(500)
	requireConverged(t, s)
	require.NoError(t, w.Check(ReportPath(t, fmt.Sprintf("sim-seed-%d.html", seed))))
	t.Logf("seed %d: %d nodes, %d faults (%d crashes), %d splits (%d ranges), %d terms, %d snapshots (%d refused), %d batches (%d dropped); %d writes acknowledged, %d ambiguous, %d refused, %d reads",
		seed, nodes, faults, s.Stats.Crashes, w.Splits, len(s.RangeMap()), len(s.leaders), s.Stats.SnapshotsSent, s.Stats.SnapshotsFailed, s.Stats.Batches, s.Stats.Dropped, w.Acked, w.Unknown, w.Refused, w.ReadsOK)
	h := fnv.New64a()
	at := slices.SortedFunc(maps.Keys(s.applied), func(a, b [2]uint64) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	})
	for _, k := range at {
		ae := s.applied[k]
		fmt.Fprintf(h, "%d/%d:%d:%x;", k[0], k[1], ae.term, ae.hash)
	}
	fingerprint = fmt.Sprintf("%x %+v acked=%d unknown=%d refused=%d reads=%d", h.Sum64(), s.Stats, w.Acked, w.Unknown, w.Refused, w.ReadsOK)
	t.Logf("soak-count: sim-seeds=1")
	t.Logf("soak-count: sim-faults=%d", faults)
	t.Logf("soak-count: sim-ops-checked=%d", len(w.History.Operations()))
	return fingerprint
}
