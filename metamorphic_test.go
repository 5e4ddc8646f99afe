package dkv_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// The metamorphic test, after Pebble's: one generated sequence of
// operations — writes, batches, reads, iterators moved in both directions
// while writes go on, snapshots, flushes, compactions, reopens — runs
// against dkv under several option sets that take very different internal
// paths (tiny memtables and tables, no compression or Zstd, concurrent
// compactions, no cache or filters, the OS filesystem), and against a
// plain sorted-map model. Each run prints one line per operation; every run
// must print exactly what the model prints.
//
// A failure names the seed and the first line that differs, and keeps
// every run's output in a directory it prints. Replay one seed with
//
//	DKV_METAMORPHIC_SEED=<seed> go test -tags invariants -run TestMetamorphic .
//
// DKV_METAMORPHIC_SEEDS and DKV_METAMORPHIC_OPS make the run longer (make
// soak does).

// mKind is the kind of a metamorphic operation.
type mKind int

const (
	mPut mKind = iota
	mDelete
	mBatch
	mGet
	mNewIter
	mIterMove
	mCloseIter
	mNewSnapshot
	mCloseSnapshot
	mFlush
	mCompact
	mReopen
	mDeleteRange
)

// mOp is one generated operation. Snapshots and iterators are named by the
// number of the operation that created them.
type mOp struct {
	kind         mKind
	key, value   []byte
	batch        []mBatchEntry
	snap         int // reads: -1 for the DB, else the snapshot's op number
	iter         int // iterator moves and closes
	lower, upper []byte
	move         string // First, Last, SeekGE, SeekLT, Next, Prev
}

type mBatchEntry struct {
	key, value []byte // value nil: delete
	end        []byte // set: delete the range [key, end)
}

// mKey returns a key from a small key space with awkward neighbours: a key
// and its extensions, and a key followed by a zero byte.
func mKey(rng *rand.Rand) []byte {
	k := fmt.Sprintf("k%03d", rng.IntN(120))
	switch rng.IntN(12) {
	case 0:
		k += "\x00"
	case 1:
		k += "a"
	case 2:
		k = k[:3] // a prefix of ten other keys
	}
	return []byte(k)
}

// mRange returns the bounds of a range deletion: mostly a few keys wide,
// sometimes wide, rarely empty or reversed (refused).
func mRange(rng *rand.Rand) (start, end []byte) {
	start = mKey(rng)
	switch rng.IntN(10) {
	case 0:
		return start, mKey(rng) // anything, reversed or empty included
	case 1:
		return []byte("k"), []byte("k1") // a third of the key space
	}
	n, _ := strconv.Atoi(string(start[1:4]))
	return start, fmt.Appendf(nil, "k%03d", n+1+rng.IntN(6))
}

func mValue(rng *rand.Rand, i int) []byte {
	if rng.IntN(20) == 0 {
		return []byte{} // empty values are values
	}
	return fmt.Appendf(nil, "v%d.%s", i, strings.Repeat(string(rune('a'+rng.IntN(26))), rng.IntN(80)))
}

// generateOps returns n operations drawn from rng. It tracks which
// snapshots and iterators are open so that every operation is valid.
func generateOps(rng *rand.Rand, n int) []mOp {
	var snaps, iters []int
	ops := make([]mOp, 0, n)
	reader := func() int {
		if len(snaps) > 0 && rng.IntN(3) == 0 {
			return snaps[rng.IntN(len(snaps))]
		}
		return -1
	}
	for i := 0; i < n; i++ {
		var op mOp
		switch r := rng.IntN(100); {
		case r < 25:
			op = mOp{kind: mPut, key: mKey(rng), value: mValue(rng, i)}
		case r < 31:
			op = mOp{kind: mDelete, key: mKey(rng)}
		case r < 33:
			op = mOp{kind: mDeleteRange}
			op.lower, op.upper = mRange(rng)
			switch rng.IntN(16) { // unbounded
			case 0:
				op.lower = nil
			case 1:
				op.upper = nil
			}
		case r < 40:
			op = mOp{kind: mBatch}
			for range rng.IntN(12) { // empty batches too
				e := mBatchEntry{key: mKey(rng)}
				switch rng.IntN(12) {
				case 0:
					e.key, e.end = mRange(rng)
				case 1, 2, 3:
				default:
					e.value = mValue(rng, i)
				}
				op.batch = append(op.batch, e)
			}
		case r < 55:
			op = mOp{kind: mGet, key: mKey(rng), snap: reader()}
		case r < 60:
			op = mOp{kind: mNewIter, snap: reader()}
			if rng.IntN(2) == 0 {
				op.lower = mKey(rng)
			}
			if rng.IntN(2) == 0 {
				op.upper = mKey(rng)
			}
			if op.lower != nil && op.upper != nil && bytes.Compare(op.lower, op.upper) > 0 {
				op.lower, op.upper = op.upper, op.lower
			}
			if rng.IntN(10) == 0 {
				op.lower, op.upper = dkv.PrefixBounds([]byte(fmt.Sprintf("k%02d", rng.IntN(12))))
			}
			iters = append(iters, i)
		case r < 80 && len(iters) > 0:
			op = mOp{kind: mIterMove, iter: iters[rng.IntN(len(iters))]}
			op.move = []string{"First", "Last", "SeekGE", "SeekLT", "Next", "Next", "Next", "Prev", "Prev"}[rng.IntN(9)]
			if op.move == "SeekGE" || op.move == "SeekLT" {
				op.key = mKey(rng)
			}
		case r < 84 && len(iters) > 0:
			j := rng.IntN(len(iters))
			op = mOp{kind: mCloseIter, iter: iters[j]}
			iters = slices.Delete(iters, j, j+1)
		case r < 87:
			op = mOp{kind: mNewSnapshot}
			snaps = append(snaps, i)
		case r < 89 && len(snaps) > 0:
			// A snapshot closes only when no open iterator reads from it.
			j := rng.IntN(len(snaps))
			used := false
			for _, it := range iters {
				used = used || ops[it].snap == snaps[j]
			}
			if used {
				op = mOp{kind: mGet, key: mKey(rng), snap: snaps[j]}
				break
			}
			op = mOp{kind: mCloseSnapshot, snap: snaps[j]}
			snaps = slices.Delete(snaps, j, j+1)
		case r < 93:
			op = mOp{kind: mFlush}
		case r < 96:
			op = mOp{kind: mCompact}
			if rng.IntN(2) == 0 {
				op.lower, op.upper = mKey(rng), mKey(rng)
				if bytes.Compare(op.lower, op.upper) > 0 && rng.IntN(4) != 0 {
					op.lower, op.upper = op.upper, op.lower // else: an invalid range
				}
			}
		case r < 97:
			op = mOp{kind: mReopen} // closes every iterator and snapshot first
			iters, snaps = nil, nil
		default:
			op = mOp{kind: mPut, key: mKey(rng), value: mValue(rng, i)}
		}
		ops = append(ops, op)
	}
	return ops
}

// mRunner runs operations and returns the line each prints.
type mRunner interface {
	run(i int, op mOp) string
	close() error
}

// TestMetamorphic runs generated operation sequences under every option
// set and the model, and requires identical output.
func TestMetamorphic(t *testing.T) {
	seeds, nops := 4, 3000
	if testing.Short() {
		seeds, nops = 1, 1000
	}
	if s := os.Getenv("DKV_METAMORPHIC_SEEDS"); s != "" {
		seeds, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("DKV_METAMORPHIC_OPS"); s != "" {
		nops, _ = strconv.Atoi(s)
	}
	first := 1 + dkv.SoakSeedBase()
	if s := os.Getenv("DKV_METAMORPHIC_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "DKV_METAMORPHIC_SEED")
		first, seeds = v, 1
	}
	for seed := first; seed < first+uint64(seeds); seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			runMetamorphic(t, seed, nops)
		})
	}
	dkv.SoakCount(t, "metamorphic-ops", int64(seeds*nops))
}

// metamorphicOptionSets are the option sets each sequence runs under; the
// model runs too. "os" runs on the real filesystem.
func metamorphicOptionSets() map[string]dkv.Options {
	sets := modelOptionSets()
	sets["default"] = dkv.Options{}
	sets["synced-os"] = dkv.Options{MemTableSize: 32 << 10, LBaseMaxBytes: 64 << 10, TargetFileSize: 16 << 10,
		MaxManifestFileSize: 2 << 10}
	sets["stalls"] = dkv.Options{MemTableSize: 4 << 10, MemTableStopWritesThreshold: 1, L0CompactionThreshold: 1,
		L0SlowdownThreshold: 2, L0StopWritesThreshold: 3, LBaseMaxBytes: 8 << 10, TargetFileSize: 1 << 10,
		Levels: allLevels(dkv.LevelOptions{BlockSize: 256, Compression: dkv.SnappyCompression})}
	return sets
}

func runMetamorphic(t *testing.T, seed uint64, nops int) {
	ops := generateOps(rand.New(rand.NewPCG(seed, 0x6d657461)), nops)
	names := []string{"model"}
	runners := []mRunner{newModelRunner()}
	sets := metamorphicOptionSets()
	for _, name := range slices.Sorted(maps.Keys(sets)) {
		o := sets[name]
		o.Logger = slog.New(slog.DiscardHandler)
		dir := "/db"
		if strings.HasSuffix(name, "-os") {
			dir = t.TempDir()
		} else {
			o.FS = vfs.NewMem()
			o.NoSync = true
		}
		r, err := newDBRunner(dir, o)
		require.NoError(t, err, "open under %s", name)
		names = append(names, name)
		runners = append(runners, r)
	}
	outs := make([][]string, len(runners))
	for i, op := range ops {
		for j, r := range runners {
			outs[j] = append(outs[j], fmt.Sprintf("#%d %s", i, r.run(i, op)))
		}
	}
	for j, r := range runners {
		require.NoError(t, r.close(), names[j])
	}
	for j := 1; j < len(runners); j++ {
		if k := firstDiff(outs[0], outs[j]); k >= 0 {
			dir := saveOutputs(t, seed, names, outs)
			t.Fatalf("seed %d: option set %q prints, at operation %d:\n  %s\nwhere the model prints:\n  %s\n"+
				"every run's output is in %s; replay with DKV_METAMORPHIC_SEED=%d DKV_METAMORPHIC_OPS=%d",
				seed, names[j], k, lineAt(outs[j], k), lineAt(outs[0], k), dir, seed, nops)
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range max(len(a), len(b)) {
		if lineAt(a, i) != lineAt(b, i) {
			return i
		}
	}
	return -1
}

func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(nothing)"
}

// saveOutputs writes each run's output to a file named after its option
// set and returns the directory (kept after the test, for diffing).
func saveOutputs(t *testing.T, seed uint64, names []string, outs [][]string) string {
	dir, err := os.MkdirTemp("", fmt.Sprintf("dkv-metamorphic-%d-", seed))
	require.NoError(t, err)
	for j, name := range names {
		err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(strings.Join(outs[j], "\n")+"\n"), 0o644)
		require.NoError(t, err)
	}
	return dir
}

// dbRunner runs operations on a dkv database.
type dbRunner struct {
	dir   string
	opts  dkv.Options
	db    *dkv.DB
	snaps map[int]*dkv.Snapshot
	iters map[int]*dkv.Iterator
}

func newDBRunner(dir string, o dkv.Options) (*dbRunner, error) {
	db, err := dkv.Open(dir, &o)
	if err != nil {
		return nil, err
	}
	return &dbRunner{dir: dir, opts: o, db: db, snaps: map[int]*dkv.Snapshot{}, iters: map[int]*dkv.Iterator{}}, nil
}

func (r *dbRunner) run(i int, op mOp) string {
	switch op.kind {
	case mPut:
		return fmt.Sprintf("put %q: %s", op.key, errString(r.db.Put(op.key, op.value)))
	case mDelete:
		return fmt.Sprintf("delete %q: %s", op.key, errString(r.db.Delete(op.key)))
	case mDeleteRange:
		return deleteRangeString(op, r.db.DeleteRange(op.lower, op.upper))
	case mBatch:
		b := r.db.NewBatch()
		for _, e := range op.batch {
			switch {
			case e.end != nil:
				_ = b.DeleteRange(e.key, e.end)
			case e.value == nil:
				_ = b.Delete(e.key)
			default:
				_ = b.Put(e.key, e.value)
			}
		}
		return fmt.Sprintf("batch of %d: %s", len(op.batch), batchErrString(r.db.Write(b, nil)))
	case mGet:
		var v []byte
		var err error
		if op.snap < 0 {
			v, err = r.db.Get(op.key)
		} else {
			v, err = r.snaps[op.snap].Get(op.key)
		}
		return getString(op, v, err)
	case mNewIter:
		io := &dkv.IterOptions{LowerBound: op.lower, UpperBound: op.upper}
		var it *dkv.Iterator
		var err error
		if op.snap < 0 {
			it, err = r.db.NewIter(io)
		} else {
			it, err = r.snaps[op.snap].NewIter(io)
		}
		if err == nil {
			r.iters[i] = it
		}
		return newIterString(op, err)
	case mIterMove:
		it := r.iters[op.iter]
		var ok bool
		switch op.move {
		case "First":
			ok = it.First()
		case "Last":
			ok = it.Last()
		case "SeekGE":
			ok = it.SeekGE(op.key)
		case "SeekLT":
			ok = it.SeekLT(op.key)
		case "Next", "Prev":
			if !it.Valid() {
				return moveString(op, false, nil, nil, "skipped: not positioned")
			}
			if op.move == "Next" {
				ok = it.Next()
			} else {
				ok = it.Prev()
			}
		}
		if ok != it.Valid() {
			return moveString(op, ok, nil, nil, "Valid disagrees with the move's result")
		}
		if !ok {
			return moveString(op, false, nil, nil, errString(it.Error()))
		}
		return moveString(op, true, it.Key(), it.Value(), "")
	case mCloseIter:
		err := r.iters[op.iter].Close()
		delete(r.iters, op.iter)
		return fmt.Sprintf("close iter#%d: %s", op.iter, errString(err))
	case mNewSnapshot:
		r.snaps[i] = r.db.NewSnapshot()
		return "snapshot"
	case mCloseSnapshot:
		err := r.snaps[op.snap].Close()
		delete(r.snaps, op.snap)
		return fmt.Sprintf("close snapshot#%d: %s", op.snap, errString(err))
	case mFlush:
		return "flush: " + errString(r.db.Flush())
	case mCompact:
		return compactString(op, r.db.Compact(context.Background(), op.lower, op.upper))
	case mReopen:
		if err := r.closeAll(); err != nil {
			return "reopen: close: " + err.Error()
		}
		db, err := dkv.Open(r.dir, &r.opts)
		if err != nil {
			return "reopen: " + err.Error()
		}
		r.db = db
		return "reopen: ok"
	}
	return "unknown operation"
}

func (r *dbRunner) closeAll() error {
	var errs []error
	for _, it := range r.iters {
		errs = append(errs, it.Close())
	}
	for _, s := range r.snaps {
		errs = append(errs, s.Close())
	}
	clear(r.iters)
	clear(r.snaps)
	errs = append(errs, r.db.Close())
	return errors.Join(errs...)
}

func (r *dbRunner) close() error { return r.closeAll() }

// modelRunner runs operations on a map; its snapshots are copies and its
// iterators sorted copies of what they can see.
type modelRunner struct {
	state map[string]string
	snaps map[int]map[string]string
	iters map[int]*modelIter
}

type modelIter struct {
	keys, values []string
	pos          int // -1 or len(keys): not positioned
}

func newModelRunner() *modelRunner {
	return &modelRunner{state: map[string]string{}, snaps: map[int]map[string]string{}, iters: map[int]*modelIter{}}
}

func (m *modelRunner) run(i int, op mOp) string {
	switch op.kind {
	case mPut:
		m.state[string(op.key)] = string(op.value)
		return fmt.Sprintf("put %q: ok", op.key)
	case mDelete:
		delete(m.state, string(op.key))
		return fmt.Sprintf("delete %q: ok", op.key)
	case mDeleteRange:
		if op.upper == nil {
			for k := range m.state {
				if k >= string(op.lower) {
					delete(m.state, k)
				}
			}
			return deleteRangeString(op, nil)
		}
		if bytes.Compare(op.lower, op.upper) > 0 {
			return deleteRangeString(op, dkv.ErrInvalidArgument)
		}
		dkv.DeleteModelRange(m.state, string(op.lower), string(op.upper))
		return deleteRangeString(op, nil)
	case mBatch:
		for _, e := range op.batch {
			if e.end != nil && bytes.Compare(e.key, e.end) > 0 {
				// The batch is refused whole.
				return fmt.Sprintf("batch of %d: %s", len(op.batch), batchErrString(dkv.ErrInvalidArgument))
			}
		}
		for _, e := range op.batch {
			switch {
			case e.end != nil:
				dkv.DeleteModelRange(m.state, string(e.key), string(e.end))
			case e.value == nil:
				delete(m.state, string(e.key))
			default:
				m.state[string(e.key)] = string(e.value)
			}
		}
		return fmt.Sprintf("batch of %d: ok", len(op.batch))
	case mGet:
		src := m.reader(op.snap)
		v, ok := src[string(op.key)]
		if !ok {
			return getString(op, nil, dkv.ErrNotFound)
		}
		return getString(op, []byte(v), nil)
	case mNewIter:
		it := &modelIter{pos: -1}
		src := m.reader(op.snap)
		for _, k := range slices.Sorted(maps.Keys(src)) {
			if (op.lower == nil || k >= string(op.lower)) && (op.upper == nil || k < string(op.upper)) {
				it.keys = append(it.keys, k)
				it.values = append(it.values, src[k])
			}
		}
		m.iters[i] = it
		return newIterString(op, nil)
	case mIterMove:
		it := m.iters[op.iter]
		switch op.move {
		case "First":
			it.pos = 0
		case "Last":
			it.pos = len(it.keys) - 1
		case "SeekGE":
			it.pos, _ = slices.BinarySearch(it.keys, string(op.key))
		case "SeekLT":
			it.pos, _ = slices.BinarySearch(it.keys, string(op.key))
			it.pos--
		case "Next", "Prev":
			if it.pos < 0 || it.pos >= len(it.keys) {
				return moveString(op, false, nil, nil, "skipped: not positioned")
			}
			if op.move == "Next" {
				it.pos++
			} else {
				it.pos--
			}
		}
		if it.pos < 0 || it.pos >= len(it.keys) {
			it.pos = min(max(it.pos, -1), len(it.keys))
			return moveString(op, false, nil, nil, "ok")
		}
		return moveString(op, true, []byte(it.keys[it.pos]), []byte(it.values[it.pos]), "")
	case mCloseIter:
		delete(m.iters, op.iter)
		return fmt.Sprintf("close iter#%d: ok", op.iter)
	case mNewSnapshot:
		m.snaps[i] = maps.Clone(m.state)
		return "snapshot"
	case mCloseSnapshot:
		delete(m.snaps, op.snap)
		return fmt.Sprintf("close snapshot#%d: ok", op.snap)
	case mFlush:
		return "flush: ok"
	case mCompact:
		var err error
		if op.lower != nil && op.upper != nil && bytes.Compare(op.lower, op.upper) > 0 {
			err = dkv.ErrInvalidArgument
		}
		return compactString(op, err)
	case mReopen:
		clear(m.iters)
		clear(m.snaps)
		return "reopen: ok"
	}
	return "unknown operation"
}

func (m *modelRunner) reader(snap int) map[string]string {
	if snap < 0 {
		return m.state
	}
	return m.snaps[snap]
}

func (m *modelRunner) close() error { return nil }

// The printers both runners share, so that only behaviour can differ.

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func readerName(snap int) string {
	if snap < 0 {
		return "db"
	}
	return fmt.Sprintf("snapshot#%d", snap)
}

func getString(op mOp, v []byte, err error) string {
	switch {
	case errors.Is(err, dkv.ErrNotFound):
		return fmt.Sprintf("get %q from %s: not found", op.key, readerName(op.snap))
	case err != nil:
		return fmt.Sprintf("get %q from %s: %v", op.key, readerName(op.snap), err)
	}
	return fmt.Sprintf("get %q from %s: %q", op.key, readerName(op.snap), v)
}

func newIterString(op mOp, err error) string {
	return fmt.Sprintf("new iter on %s [%q, %q): %s", readerName(op.snap), op.lower, op.upper, errString(err))
}

func moveString(op mOp, ok bool, k, v []byte, note string) string {
	what := fmt.Sprintf("iter#%d.%s", op.iter, op.move)
	if op.key != nil {
		what += fmt.Sprintf("(%q)", op.key)
	}
	if !ok {
		return fmt.Sprintf("%s: invalid (%s)", what, note)
	}
	return fmt.Sprintf("%s: %q = %q", what, k, v)
}

// compactString prints a compaction's outcome; an invalid range is the
// one error expected, printed the same whatever its wording.
func deleteRangeString(op mOp, err error) string {
	what := fmt.Sprintf("delete-range [%q, %q)", op.lower, op.upper)
	if errors.Is(err, dkv.ErrInvalidArgument) {
		return what + ": invalid argument"
	}
	return what + ": " + errString(err)
}

// batchErrString prints a batch's outcome; a refused batch is "invalid
// argument" whatever the reason the DB gives.
func batchErrString(err error) string {
	if errors.Is(err, dkv.ErrInvalidArgument) {
		return "invalid argument"
	}
	return errString(err)
}

func compactString(op mOp, err error) string {
	what := fmt.Sprintf("compact [%q, %q]", op.lower, op.upper)
	if errors.Is(err, dkv.ErrInvalidArgument) {
		return what + ": invalid argument"
	}
	return what + ": " + errString(err)
}
