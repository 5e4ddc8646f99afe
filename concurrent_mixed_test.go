package dkv_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/sstable"
	"github.com/distributedkv/dkv/vfs"
)

// Every kind of call at once, from several goroutines, through the public
// API only: writes, batches, range deletions (unbounded ones too),
// ingests, Compact over random ranges, flushes, checkpoints, snapshots
// and iterators, over a small memtable so that flushes and compactions run
// all the time — and MANIFEST syncs that take a millisecond, which widen
// every window between choosing from a version and installing an edit.
// Issue 13 found an ingest and a compaction stopping the DB this way.
//
// Each goroutine owns a prefix of the key space and keeps a model of it:
// whatever the others do, its prefix must read as its model — from the DB,
// from a snapshot it took, and after reopening. No call may fail.
func TestConcurrentMixedOperations(t *testing.T) {
	ops := 150
	if testing.Short() {
		ops = 50
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	fs := vfs.NewMem()
	slow := vfs.NewErrorFS(fs, vfs.InjectorFunc(func(op vfs.Op, kind vfs.FileKind, _ string) error {
		if op == vfs.OpSync && kind == vfs.FileManifest {
			time.Sleep(time.Millisecond)
		}
		return nil
	}))
	opts := &dkv.Options{FS: slow, NoSync: true, Logger: slog.New(slog.DiscardHandler),
		MemTableSize: 32 << 10, TargetFileSize: 8 << 10, L0CompactionThreshold: 2, MaxConcurrentCompactions: 2}
	db, err := dkv.Open("/db", opts)
	require.NoError(t, err)

	models := make([]map[string]string, workers)
	var wg sync.WaitGroup
	for g := range workers {
		models[g] = map[string]string{}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			if err := mixedWorker(db, fs, g, ops, rng, models[g]); err != nil {
				t.Errorf("worker %d: %v", g, err)
			}
		})
	}
	wg.Wait()
	require.NoError(t, db.Put([]byte("after"), []byte("writes go on")))
	check := func(when string) {
		all := dkv.DBContents(t, db)
		for g := range workers {
			require.Equal(t, models[g], withPrefix(all, prefixOf(g)), "%s: worker %d's keys", when, g)
		}
	}
	check("at the end")
	require.NoError(t, db.Close())
	db, err = dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	check("after reopening")
	require.NoError(t, db.Close())
}

// workers run at once; the last one's prefix is the largest, so its
// range deletions may be unbounded.
const (
	workers    = 4
	lastWorker = workers - 1
)

func prefixOf(g int) string { return fmt.Sprintf("g%d/", g) }

func withPrefix(m map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// mixedWorker runs ops random calls on db, writing only keys of its own
// prefix, and keeps model as what that prefix must hold.
func mixedWorker(db *dkv.DB, fs vfs.FS, g, ops int, rng *rand.Rand, model map[string]string) error {
	p := prefixOf(g)
	key := func() string { return fmt.Sprintf("%s%03d", p, rng.IntN(300)) }
	keyRange := func() (string, string) {
		a, b := key(), key()
		if a > b {
			a, b = b, a
		}
		return a, b
	}
	ctx := context.Background()
	for i := range ops {
		var err error
		switch r := rng.IntN(100); {
		case r < 35:
			k, v := key(), fmt.Sprintf("%d-%d", g, i)+strings.Repeat("v", rng.IntN(200))
			err = db.Put([]byte(k), []byte(v))
			model[k] = v
		case r < 42:
			k := key()
			err = db.Delete([]byte(k))
			delete(model, k)
		case r < 50:
			b := db.NewBatch()
			for range 1 + rng.IntN(20) {
				k, v := key(), fmt.Sprint(i)
				_ = b.Put([]byte(k), []byte(v))
				model[k] = v
			}
			err = db.Write(b, nil)
			b.Close()
		case r < 56:
			lo, hi := keyRange()
			end := []byte(hi)
			switch {
			case rng.IntN(4) > 0:
			case g == lastWorker: // no key above this prefix: unbounded
				end, hi = nil, p+"\xff"
			default: // to the end of the prefix
				hi = p + "\xff"
				end = []byte(hi)
			}
			err = db.DeleteRange([]byte(lo), end)
			dkv.DeleteModelRange(model, lo, hi)
		case r < 64:
			err = ingestSome(db, fs, g, i, rng, model)
		case r < 70:
			lo, hi := keyRange()
			var start, end []byte
			if rng.IntN(3) > 0 {
				start, end = []byte(lo), []byte(hi)
			}
			err = db.Compact(ctx, start, end)
		case r < 74:
			err = db.Flush()
		case r < 76:
			dir := fmt.Sprintf("/cp-%d-%d", g, i)
			err = db.Checkpoint(ctx, dir)
		case r < 88:
			snap := db.NewSnapshot()
			want := maps.Clone(model)
			for range 3 { // written after the snapshot: it must not see them
				k := key()
				if err = db.Put([]byte(k), []byte("after the snapshot")); err != nil {
					break
				}
				model[k] = "after the snapshot"
			}
			got, serr := prefixContents(snap.NewIter, p)
			if serr == nil && !maps.Equal(want, got) {
				serr = fmt.Errorf("the snapshot reads %d keys, want %d", len(got), len(want))
			}
			if cerr := snap.Close(); serr == nil {
				serr = cerr
			}
			if err == nil {
				err = serr
			}
		default:
			var got map[string]string
			got, err = prefixContents(db.NewIter, p)
			if err == nil && !maps.Equal(model, got) {
				err = fmt.Errorf("op %d: the DB reads %d keys, want %d", i, len(got), len(model))
			}
		}
		if err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
	}
	return nil
}

// ingestSome ingests one table of a few keys of worker g's prefix, or a
// range deletion and keys.
func ingestSome(db *dkv.DB, fs vfs.FS, g, i int, rng *rand.Rand, model map[string]string) error {
	path := fmt.Sprintf("/ext/%d-%d.sst", g, i)
	lo := rng.IntN(280)
	var ops []extOp
	if rng.IntN(3) == 0 {
		ops = append(ops, extOp{key: fmt.Sprintf("%s%03d", prefixOf(g), lo), end: fmt.Sprintf("%s%03d", prefixOf(g), lo+10)})
	}
	for k := lo; k < lo+10; k += 1 + rng.IntN(3) {
		ops = append(ops, extOp{key: fmt.Sprintf("%s%03d", prefixOf(g), k), value: fmt.Sprintf("ingested %d", i)})
	}
	if err := writeExternalErr(fs, path, ops...); err != nil {
		return err
	}
	if err := db.Ingest([]string{path}); err != nil {
		return err
	}
	applyExt(model, ops...)
	return fs.Remove(path)
}

func prefixContents(newIter func(*dkv.IterOptions) (*dkv.Iterator, error), prefix string) (map[string]string, error) {
	lo, hi := dkv.PrefixBounds([]byte(prefix))
	it, err := newIter(&dkv.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, v := range it.All() {
		out[string(k)] = string(v)
	}
	return out, it.Close()
}

// writeExternalErr is writeExternal for goroutines other than the test's:
// it returns its error.
func writeExternalErr(fs vfs.FS, path string, ops ...extOp) error {
	if err := fs.MkdirAll(fs.PathDir(path), 0o755); err != nil {
		return err
	}
	f, err := fs.Create(path)
	if err != nil {
		return err
	}
	w := sstable.NewWriter(f, sstable.WriterOptions{BlockSize: 512})
	for _, op := range ops {
		switch {
		case op.end != "":
			err = w.DeleteRange([]byte(op.key), []byte(op.end))
		case op.value == "":
			err = w.Delete([]byte(op.key))
		default:
			err = w.Set([]byte(op.key), []byte(op.value))
		}
		if err != nil {
			return err
		}
	}
	_, err = w.Finish()
	return err
}
