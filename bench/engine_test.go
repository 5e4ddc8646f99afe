package main

import (
	"bytes"
	"fmt"
	"sort"
	"testing"
)

// Every adapter honours the Engine contract the workloads rely on: Get
// appends to dst and reports absence, batches apply, iterators walk both
// ways, seek, and switch direction (Badger's needs two iterators for
// that).
func TestEngineContract(t *testing.T) {
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			eng, settings, err := open(t.TempDir(), Config{CacheSize: 8 << 20, BloomBits: 10})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := eng.Close(); err != nil {
					t.Error(err)
				}
			}()
			if len(settings) == 0 {
				t.Errorf("no settings")
			}
			checkContract(t, eng)
		})
	}
}

func checkContract(t *testing.T, eng Engine) {
	model := map[string]string{}
	key := func(i int) []byte { return []byte(fmt.Sprintf("key%04d", i)) }
	for i := 0; i < 100; i += 2 {
		v := fmt.Sprintf("v%d", i)
		if err := eng.Put(key(i), []byte(v)); err != nil {
			t.Fatal(err)
		}
		model[string(key(i))] = v
	}
	b := eng.NewBatch()
	buf := make([]byte, 0, 16)
	for i := 1; i < 100; i += 10 {
		buf = append(buf[:0], key(i)...) // reused: the batch must copy
		b.Put(buf, []byte("batch"))
		model[string(key(i))] = "batch"
	}
	b.Delete(key(4))
	delete(model, string(key(4)))
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := eng.Delete(key(6)); err != nil {
		t.Fatal(err)
	}
	delete(model, string(key(6)))

	dst := make([]byte, 0, 8)
	for i := 0; i < 100; i++ {
		v, found, err := eng.Get(key(i), dst)
		want, ok := model[string(key(i))]
		if err != nil || found != ok || (ok && string(v) != want) {
			t.Errorf("Get(%s) = %q, %v, %v; want %q, %v", key(i), v, found, err, want, ok)
		}
	}
	var keys []string
	for k := range model {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	checkIter(t, eng, keys, model)
}

func checkIter(t *testing.T, eng Engine, keys []string, model map[string]string) {
	it, err := eng.NewIter()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := it.Close(); err != nil {
			t.Error(err)
		}
	}()
	var fwd, rev []string
	for ok := it.First(); ok; ok = it.Next() {
		if string(it.Value()) != model[string(it.Key())] {
			t.Errorf("value of %s: %q", it.Key(), it.Value())
		}
		fwd = append(fwd, string(it.Key()))
	}
	for ok := it.Last(); ok; ok = it.Prev() {
		rev = append(rev, string(it.Key()))
	}
	if fmt.Sprint(fwd) != fmt.Sprint(keys) {
		t.Errorf("forward: %v, want %v", fwd, keys)
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	if fmt.Sprint(rev) != fmt.Sprint(keys) {
		t.Errorf("backward: %v, want %v", rev, keys)
	}
	// key0006 was deleted: SeekGE lands on key0008; then Prev, Next.
	if !it.SeekGE([]byte("key0006")) || !bytes.Equal(it.Key(), []byte("key0008")) {
		t.Fatalf("SeekGE(key0006) at %q", it.Key())
	}
	if !it.Prev() || !bytes.Equal(it.Key(), []byte("key0002")) {
		t.Errorf("Prev after SeekGE at %q, want key0002", it.Key())
	}
	if !it.Next() || !bytes.Equal(it.Key(), []byte("key0008")) {
		t.Errorf("Next after Prev at %q, want key0008", it.Key())
	}
	if it.SeekGE([]byte("key9999")) {
		t.Errorf("SeekGE past the end at %q", it.Key())
	}
}

// Pebble reserves its memtables in its block cache: the adapter must leave
// the aligned cache size for blocks, or Pebble reads every block from its
// file. Checked with memtables as large as the cache, as in the default run.
func TestPebbleCacheHoldsBlocks(t *testing.T) {
	eng, _, err := openPebble(t.TempDir(), Config{CacheSize: 4 << 20, BloomBits: 10, MemTable: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	pe := eng.(*pebbleEngine)
	var kb [KeySize + 1]byte
	val := make([]byte, 100)
	// Enough writes for the memtables to grow to their full size.
	for i := range 120000 {
		if err := eng.Put(makeKey(kb[:], uint64(i%20000)), val); err != nil {
			t.Fatal(err)
		}
	}
	if err := pe.db.Flush(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		for i := range 2000 {
			if _, found, err := eng.Get(makeKey(kb[:], uint64(i*10)), nil); err != nil || !found {
				t.Fatalf("Get(%d): %v, %v", i*10, found, err)
			}
		}
	}
	m := pe.db.Metrics().BlockCache
	if m.Count == 0 || m.Hits < m.Misses {
		t.Errorf("block cache: %d entries, %d hits, %d misses", m.Count, m.Hits, m.Misses)
	}
}
