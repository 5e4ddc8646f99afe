package raftlog

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/raft/v3"

	"github.com/distributedkv/dkv/vfs"
)

// TestConcurrentReaders: while one goroutine appends (overwriting
// suffixes), truncates and applies, as a Ready loop does, others call
// every read. Readers never see corruption or an inconsistent answer: the
// bounds they read are ordered, Entries returns consecutive entries from
// lo, and an entry given up meanwhile is ErrCompacted or ErrUnavailable.
// Run it under -race.
func TestConcurrentReaders(t *testing.T) {
	db := openDB(t, vfs.NewMem())
	defer db.Close()
	bootstrap(t, db, testRange, 10, 5, 1)
	s, err := OpenWith(db, testRange, Options{CacheBytes: 4 << 10})
	require.NoError(t, err)

	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			for !done.Load() {
				if err := readOnce(s, rng); err != nil {
					errs <- err
					return
				}
			}
		}()
	}

	rng := rand.New(rand.NewPCG(1, 2))
	term, commit, last := uint64(5), uint64(10), uint64(10)
	for range 300 {
		lo := last + 1
		if last > commit && rng.IntN(4) == 0 {
			lo = commit + 1 + rng.Uint64N(last-commit)
			term++
		}
		hi := lo + uint64(rng.IntN(6))
		if hi > lo {
			last = hi - 1
		}
		commit = min(last, commit+uint64(rng.IntN(4)))
		appendSync(t, db, s, hardState(term, 1, commit), ents(lo, hi, term))
		applied, _ := s.AppliedIndex()
		if commit > applied {
			setApplied(t, db, s, commit, mustTerm(t, s, commit))
		}
		applied, _ = s.AppliedIndex()
		if first, _ := s.FirstIndex(); applied > first+20 {
			truncateSync(t, db, s, applied-10)
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func mustTerm(t *testing.T, s *Storage, i uint64) uint64 {
	term, err := s.Term(i)
	require.NoError(t, err)
	return term
}

func readOnce(s *Storage, rng *rand.Rand) error {
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if last+1 < first {
		return errors.New("last index below the truncated index")
	}
	_ = s.HardState()
	_ = s.TruncatedState()
	_ = s.Metrics()
	if _, _, err := s.InitialState(); err != nil {
		return err
	}
	if _, err := s.Snapshot(); err != nil && !errors.Is(err, raft.ErrSnapshotTemporarilyUnavailable) {
		return err
	}
	lo := first + rng.Uint64N(last-first+2)
	if _, err := s.Term(lo); err != nil && err != raft.ErrCompacted && err != raft.ErrUnavailable {
		return err
	}
	if lo > last {
		return nil
	}
	hi := lo + 1 + rng.Uint64N(last-lo+1)
	es, err := s.Entries(lo, hi, []uint64{0, 512, math.MaxUint64}[rng.IntN(3)])
	if err == raft.ErrCompacted || err == raft.ErrUnavailable {
		return nil
	}
	if err != nil {
		return err
	}
	if len(es) == 0 || uint64(len(es)) > hi-lo {
		return errors.New("Entries returned no entry, or too many")
	}
	for i, e := range es {
		if e.GetIndex() != lo+uint64(i) {
			return errors.New("Entries returned entries out of order")
		}
	}
	return nil
}
