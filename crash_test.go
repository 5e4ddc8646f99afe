package dkv

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
)

// modelOp is one acknowledged write: a batch of sets (value non-nil),
// deletes (value nil) and range deletions [key, end) (end non-empty), and
// the sequence number its last operation got.
type modelOp struct {
	keys   []string
	values [][]byte
	ends   []string
	last   base.SeqNum
	synced bool
}

// end returns the end of operation i when it is a range deletion, else "".
func (op *modelOp) end(i int) string {
	if i < len(op.ends) {
		return op.ends[i]
	}
	return ""
}

// applyTo applies the operation to a model state.
func (op *modelOp) applyTo(state map[string][]byte) {
	for i, k := range op.keys {
		switch {
		case op.end(i) != "":
			DeleteModelRange(state, k, op.end(i))
		case op.values[i] == nil:
			delete(state, k)
		default:
			state[k] = op.values[i]
		}
	}
}

// crashModel is the history of acknowledged writes since the last recovery
// and the state they started from.
type crashModel struct {
	base map[string][]byte // state at the last recovery
	seq  base.SeqNum       // sequence number at the last recovery
	ops  []modelOp
}

// stateAt returns the state after every op whose last sequence number is at
// or below seq. It fails unless seq is a batch boundary.
func (m *crashModel) stateAt(seq base.SeqNum) (map[string][]byte, error) {
	state := make(map[string][]byte, len(m.base))
	for k, v := range m.base {
		state[k] = v
	}
	if seq == m.seq {
		return state, nil
	}
	for _, op := range m.ops {
		op.applyTo(state)
		if op.last == seq {
			return state, nil
		}
		if op.last > seq {
			break
		}
	}
	return nil, fmt.Errorf("recovered sequence number %d is not the end of an acknowledged batch", seq)
}

// minRecoverable is the last sequence number a crash may not take back: the
// end of the last synced write.
func (m *crashModel) minRecoverable() base.SeqNum {
	for i := len(m.ops) - 1; i >= 0; i-- {
		if m.ops[i].synced {
			return m.ops[i].last
		}
	}
	return m.seq
}

// TestCrashRecovery checks the durability contract against a model. Random
// puts, deletes and batches, synced or not, run on the crashable in-memory
// filesystem with memtables small enough to rotate often; at a random moment
// the machine "loses power" (CrashClone, sometimes keeping torn fragments of
// unsynced bytes), and the database is reopened from what survived. Then:
//
//   - every synced write is present;
//   - what was recovered is exactly the state after some prefix of the
//     acknowledged writes, ending at a batch boundary — so batches are all
//     or nothing, deletes stay deleted, nothing is resurrected and no value
//     appears that was never written;
//
// and the reopened database takes more writes before the next crash.
func TestCrashRecovery(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	if s := os.Getenv("DKV_CRASH_SEEDS"); s != "" {
		seeds, _ = strconv.Atoi(s)
	}
	first := SoakSeedBase()
	for seed := first; seed < first+uint64(seeds); seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			runCrashSeed(t, seed)
		})
	}
	SoakCount(t, "crashes", int64(seeds)*crashGenerations)
}

// crashGenerations is how many times each seed of TestCrashRecovery
// crashes and recovers.
const crashGenerations = 6

func runCrashSeed(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0xc0ffee))
	mem := vfs.NewMem()
	k := &killableFS{FS: mem}
	opts := &Options{FS: k, MemTableSize: 16 << 10, NoSync: rng.IntN(2) == 0, Logger: discardLogger()}
	db, err := Open("/db", opts)
	require.NoError(t, err)
	m := &crashModel{base: map[string][]byte{}}
	keys := 50 + rng.IntN(200)

	for gen := 0; gen < crashGenerations; gen++ {
		nops := rng.IntN(400)
		for i := 0; i < nops; i++ {
			op := randomOp(rng, keys)
			require.NoError(t, applyOp(db, op), "seed %d gen %d op %d", seed, gen, i)
			op.last = base.SeqNum(db.visible.Load())
			m.ops = append(m.ops, op)
		}
		how := "kill"
		if rng.IntN(3) != 0 {
			// Power loss: only what was fsynced survives, or with Rand a
			// torn version of the unsynced rest, possibly with lost pages.
			var crashOpts vfs.CrashOptions
			if rng.IntN(3) != 0 {
				crashOpts.Rand = rand.New(rand.NewPCG(seed, uint64(gen)))
				crashOpts.Holes = rng.IntN(2) == 0
			}
			how = fmt.Sprintf("power loss %+v", crashOpts)
			crashed := mem.CrashClone(crashOpts)
			_ = db.Close()
			mem = crashed
		} else {
			// kill -9: what reached the OS stays, the rest of the process's
			// buffers are gone.
			killDB(k, db)
		}
		k = &killableFS{FS: mem}
		opts.FS = k
		db, err = Open("/db", opts)
		require.NoError(t, err, "seed %d gen %d: reopen after %s", seed, gen, how)
		got := base.SeqNum(db.visible.Load())
		require.GreaterOrEqual(t, got, m.minRecoverable(), "seed %d gen %d: a synced write was lost to %s", seed, gen, how)
		want, err := m.stateAt(got)
		require.NoError(t, err, "seed %d gen %d (%s)", seed, gen, how)
		checkState(t, db, want, keys)

		*m = crashModel{base: want, seq: got}
	}
	require.NoError(t, db.Close())
}

// randomOp returns a put, a delete, a range deletion or a batch of them
// over keys k0..k(n-1), synced or not.
func randomOp(rng *rand.Rand, nkeys int) modelOp {
	op := modelOp{synced: rng.IntN(3) == 0}
	n := 1
	if rng.IntN(4) == 0 {
		n = 2 + rng.IntN(20)
	}
	for range n {
		i := rng.IntN(nkeys)
		k := fmt.Sprintf("k%04d", i)
		if rng.IntN(25) == 0 {
			op.keys = append(op.keys, k)
			op.values = append(op.values, nil)
			op.ends = append(op.ends, fmt.Sprintf("k%04d", i+1+rng.IntN(nkeys/4+1)))
			continue
		}
		op.ends = append(op.ends, "")
		var v []byte
		if rng.IntN(4) != 0 {
			v = []byte(fmt.Sprintf("%s=%d", k, rng.Uint64()))
			if rng.IntN(10) == 0 {
				v = append(v, make([]byte, rng.IntN(3000))...)
			}
		}
		op.keys = append(op.keys, k)
		op.values = append(op.values, v)
	}
	return op
}

func applyOp(db *DB, op modelOp) error {
	wo := &WriteOptions{Sync: op.synced}
	if len(op.keys) == 1 && op.synced == !db.opts.NoSync {
		switch {
		case op.end(0) != "":
			return db.DeleteRange([]byte(op.keys[0]), []byte(op.end(0)))
		case op.values[0] == nil:
			return db.Delete([]byte(op.keys[0]))
		}
		return db.Put([]byte(op.keys[0]), op.values[0])
	}
	b := db.NewBatch()
	for i, k := range op.keys {
		var err error
		switch {
		case op.end(i) != "":
			err = b.DeleteRange([]byte(k), []byte(op.end(i)))
		case op.values[i] == nil:
			err = b.Delete([]byte(k))
		default:
			err = b.Put([]byte(k), op.values[i])
		}
		if err != nil {
			return err
		}
	}
	return db.Write(b, wo)
}

// checkState asserts that db holds exactly want over keys k0..k(n-1).
func checkState(t *testing.T, db *DB, want map[string][]byte, nkeys int) {
	t.Helper()
	for i := range nkeys {
		k := fmt.Sprintf("k%04d", i)
		v, err := db.Get([]byte(k))
		if w, ok := want[k]; ok {
			require.NoError(t, err, "key %s", k)
			require.Equal(t, w, v, "key %s", k)
		} else {
			require.True(t, errors.Is(err, ErrNotFound), "key %s: want not found, got %q, %v", k, v, err)
		}
	}
}

// TestCrashConcurrentWriters crashes the machine while several goroutines
// write, so that the crash lands inside group commits, log appends and
// memtable rotations. Each writer owns its keys; after reopening, each
// writer's keys must hold exactly the state after some prefix of its
// acknowledged writes (batches whole), and that prefix must include every
// synced write acknowledged before the crash.
func TestCrashConcurrentWriters(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 3
	}
	first := SoakSeedBase()
	for seed := first; seed < first+uint64(seeds); seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			runConcurrentCrash(t, seed)
		})
	}
	SoakCount(t, "crashes", int64(seeds))
}

func runConcurrentCrash(t *testing.T, seed uint64) {
	const writers, keysPer = 4, 6
	rng := rand.New(rand.NewPCG(seed, 99))
	fs := vfs.NewMem()
	opts := &Options{FS: fs, MemTableSize: 16 << 10, NoSync: seed%2 == 0, Logger: discardLogger()}
	db, err := Open("/db", opts)
	require.NoError(t, err)

	type writer struct {
		ops   []modelOp // every op it issued, in order
		acked atomic.Int64
	}
	ws := make([]*writer, writers)
	var wg sync.WaitGroup
	var stop atomic.Bool
	for g := range writers {
		w := &writer{}
		ws[g] = w
		wrng := rand.New(rand.NewPCG(seed, uint64(g)))
		for range 300 {
			op := randomOp(wrng, keysPer)
			for i := range op.keys {
				op.keys[i] = fmt.Sprintf("g%d-%s", g, op.keys[i])
				if op.ends[i] != "" {
					op.ends[i] = fmt.Sprintf("g%d-%s", g, op.ends[i])
				}
			}
			w.ops = append(w.ops, op)
		}
		wg.Go(func() {
			for i := range w.ops {
				if stop.Load() {
					return
				}
				if err := applyOp(db, w.ops[i]); err != nil {
					return // the DB was closed under us
				}
				w.acked.Add(1)
			}
		})
	}
	// Let the writers run, then lose power mid-flight.
	for db.Metrics().WAL.Records < int64(100+rng.IntN(600)) {
		runtime.Gosched()
	}
	ackedBefore := make([]int64, writers)
	for g, w := range ws {
		ackedBefore[g] = w.acked.Load()
	}
	var crashOpts vfs.CrashOptions
	if rng.IntN(2) == 0 {
		crashOpts.Rand = rand.New(rand.NewPCG(seed, 7))
		crashOpts.Holes = rng.IntN(2) == 0
	}
	crashed := fs.CrashClone(crashOpts)
	stop.Store(true)
	wg.Wait()
	_ = db.Close()

	opts.FS = crashed
	db, err = Open("/db", opts)
	require.NoError(t, err, "reopen after crash")
	defer db.Close()
	for g, w := range ws {
		// Find the prefix of w's ops whose state the database holds.
		state := map[string][]byte{}
		matches := func() bool {
			for k := range keysPer {
				key := fmt.Sprintf("g%d-k%04d", g, k)
				v, err := db.Get([]byte(key))
				want, ok := state[key]
				if ok != (err == nil) || (ok && string(v) != string(want)) {
					return false
				}
			}
			return true
		}
		mustInclude := 0 // ops up to the last synced one acked before the crash
		for i := int64(0); i < ackedBefore[g]; i++ {
			if w.ops[i].synced {
				mustInclude = int(i) + 1
			}
		}
		found := -1
		for p := 0; p <= int(w.acked.Load()) && p <= len(w.ops); p++ {
			if p > 0 {
				w.ops[p-1].applyTo(state)
			}
			if p >= mustInclude && matches() {
				found = p
			}
		}
		require.GreaterOrEqual(t, found, 0,
			"writer %d: the recovered keys match no prefix of its writes that includes its %d synced ones", g, mustInclude)
	}
}
