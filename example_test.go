package dkv_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/sstable"
	"github.com/distributedkv/dkv/vfs"
)

// The README's example: open, put, get, delete, close.
func Example() {
	dir, _ := os.MkdirTemp("", "dkv-example")
	defer os.RemoveAll(dir)

	db, err := dkv.Open(dir, nil) // nil: default options, synced writes
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	if err := db.Put([]byte("greeting"), []byte("hello")); err != nil {
		log.Fatal(err)
	}
	v, err := db.Get([]byte("greeting"))
	fmt.Printf("%s %v\n", v, err)

	_ = db.Delete([]byte("greeting"))
	_, err = db.Get([]byte("greeting"))
	fmt.Println(errors.Is(err, dkv.ErrNotFound))
	// Output:
	// hello <nil>
	// true
}

// A batch applies several writes atomically, also across a crash.
func ExampleDB_Write() {
	dir, _ := os.MkdirTemp("", "dkv-example")
	defer os.RemoveAll(dir)
	db, err := dkv.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	b := db.NewBatch()
	_ = b.Put([]byte("alice"), []byte("90"))
	_ = b.Put([]byte("bob"), []byte("110"))
	_ = b.Delete([]byte("carol"))
	if err := db.Write(b, dkv.Sync); err != nil {
		log.Fatal(err)
	}
	v, _ := db.Get([]byte("bob"))
	fmt.Printf("%d operations, bob=%s\n", b.Len(), v)
	// Output: 3 operations, bob=110
}

// An iterator walks a point-in-time view in key order; PrefixBounds
// restricts it to the keys with a prefix.
func ExampleDB_NewIter() {
	dir, _ := os.MkdirTemp("", "dkv-example")
	defer os.RemoveAll(dir)
	db, err := dkv.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	for _, k := range []string{"user/bob", "user/alice", "group/admins", "user/carol"} {
		_ = db.Put([]byte(k), []byte("v"))
	}

	lo, hi := dkv.PrefixBounds([]byte("user/"))
	it, err := db.NewIter(&dkv.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		log.Fatal(err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		fmt.Println(string(it.Key()))
	}
	if err := it.Close(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// user/alice
	// user/bob
	// user/carol
}

// A snapshot keeps reading the database as it was, whatever is written,
// flushed or compacted after it.
func ExampleDB_NewSnapshot() {
	dir, _ := os.MkdirTemp("", "dkv-example")
	defer os.RemoveAll(dir)
	db, err := dkv.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	_ = db.Put([]byte("balance"), []byte("100"))
	snap := db.NewSnapshot()
	defer snap.Close()
	_ = db.Put([]byte("balance"), []byte("50"))
	_ = db.Compact(context.Background(), nil, nil)

	then, _ := snap.Get([]byte("balance"))
	now, _ := db.Get([]byte("balance"))
	fmt.Printf("then %s, now %s\n", then, now)
	// Output: then 100, now 50
}

// A range that has grown too large is split at a key with about half of its
// stored bytes on each side, as the cluster layer does.
func ExampleDB_EstimateSplitKey() {
	db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem(), NoSync: true})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	for i := range 10_000 {
		_ = db.Put(fmt.Appendf(nil, "user/%05d", i), bytes.Repeat([]byte("v"), 100))
	}
	_ = db.Flush() // the estimates count tables, not memtables

	lo, hi := dkv.PrefixBounds([]byte("user/"))
	k, err := db.EstimateSplitKey(lo, hi)
	if err != nil {
		log.Fatal(err)
	}
	below, _ := db.EstimateDiskUsage(lo, k)
	all, _ := db.EstimateDiskUsage(lo, hi)
	fmt.Println("inside the range:", bytes.Compare(lo, k) < 0 && bytes.Compare(k, hi) < 0)
	fmt.Printf("share of the bytes below: %.1f\n", float64(below)/float64(all))
	// Output:
	// inside the range: true
	// share of the bytes below: 0.5
}

// A checkpoint is a consistent copy, taken while writes go on, that opens
// on its own — here read-only, which any number of readers may share.
func ExampleDB_Checkpoint() {
	dir, _ := os.MkdirTemp("", "dkv-example")
	defer os.RemoveAll(dir)
	db, err := dkv.Open(filepath.Join(dir, "db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	_ = db.Put([]byte("greeting"), []byte("hello"))
	backup := filepath.Join(dir, "backup") // must not exist yet
	if err := db.Checkpoint(context.Background(), backup); err != nil {
		log.Fatal(err)
	}
	_ = db.Put([]byte("greeting"), []byte("changed"))
	_ = db.Close()

	ro, err := dkv.Open(backup, &dkv.Options{ReadOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer ro.Close()
	v, _ := ro.Get([]byte("greeting"))
	fmt.Printf("%s\n", v)
	fmt.Println(errors.Is(ro.Put([]byte("greeting"), nil), dkv.ErrReadOnly))
	// Output:
	// hello
	// true
}

// DeleteRange deletes a whole key range with one small write, whatever it
// holds: here every key of one user.
func ExampleDB_DeleteRange() {
	db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem()})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	for _, k := range []string{"alice/1", "alice/2", "bob/1", "bob/2", "carol/1"} {
		_ = db.Put([]byte(k), []byte("x"))
	}
	lo, hi := dkv.PrefixBounds([]byte("bob/"))
	if err := db.DeleteRange(lo, hi); err != nil {
		log.Fatal(err)
	}
	it, _ := db.NewIter(nil)
	defer it.Close()
	for k := range it.All() {
		fmt.Println(string(k))
	}
	// Output:
	// alice/1
	// alice/2
	// carol/1
}

// Has asks whether a key has a value, without handing the value back.
func ExampleDB_Has() {
	db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem()})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	_ = db.Put([]byte("present"), []byte("v"))
	for _, k := range []string{"present", "absent"} {
		ok, err := db.Has([]byte(k))
		fmt.Println(k, ok, err)
	}
	// Output:
	// present true <nil>
	// absent false <nil>
}

// All walks an iterator's range with a range-over-func loop; Error says
// afterwards whether it ended at the end of the range or on a failure.
func ExampleIterator_All() {
	db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem()})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	for i, k := range []string{"a", "b", "c"} {
		_ = db.Put([]byte(k), []byte(fmt.Sprint(i)))
	}
	it, err := db.NewIter(&dkv.IterOptions{LowerBound: []byte("b")})
	if err != nil {
		log.Fatal(err)
	}
	for k, v := range it.All() {
		fmt.Printf("%s=%s\n", k, v)
	}
	if err := it.Close(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// b=1
	// c=2
}

// EstimateDiskUsage sizes a key range from the tables' indexes, without
// reading their data.
func ExampleDB_EstimateDiskUsage() {
	db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem(), NoSync: true})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	for i := range 10_000 {
		_ = db.Put(fmt.Appendf(nil, "k%05d", i), bytes.Repeat([]byte("v"), 100))
	}
	_ = db.Flush() // the estimates count tables, not memtables
	all, _ := db.EstimateDiskUsage(nil, nil)
	quarter, _ := db.EstimateDiskUsage([]byte("k02500"), []byte("k05000"))
	fmt.Printf("a quarter of the keys: %.2f of the bytes\n", float64(quarter)/float64(all))
	// Output:
	// a quarter of the keys: 0.25 of the bytes
}

// Ingest adds tables built outside the database — a bulk load, or a copy
// of a key range from another node — in one atomic step.
func ExampleDB_Ingest() {
	fs := vfs.NewMem()
	db, err := dkv.Open("/db", &dkv.Options{FS: fs})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	_ = db.Put([]byte("user/2"), []byte("old"))

	_ = fs.MkdirAll("/load", 0o755)
	f, _ := fs.Create("/load/users.sst")
	w := sstable.NewWriter(f, sstable.WriterOptions{})
	for i := range 3 { // in key order, each key once
		_ = w.Set(fmt.Appendf(nil, "user/%d", i), []byte("loaded"))
	}
	if _, err := w.Finish(); err != nil {
		log.Fatal(err)
	}
	if err := db.Ingest([]string{"/load/users.sst"}); err != nil {
		log.Fatal(err)
	}
	v, _ := db.Get([]byte("user/2"))
	fmt.Printf("%s\n", v)
	// Output:
	// loaded
}

// A Trace function shows a read travelling through the engine: here the
// memtable's key filter says the key is absent, the L0 table flushed a
// moment ago holds it, and its block comes from the disk.
func ExampleDB_GetWith() {
	db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem()})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	_ = db.Put([]byte("apple"), []byte("red"))
	_ = db.Flush()
	trace := func(e dkv.TraceEvent) { fmt.Println(e) }
	v, err := db.GetWith([]byte("apple"), &dkv.ReadOptions{Trace: trace})
	fmt.Printf("%s %v\n", v, err)
	// Output:
	// memtable               filter: absent; tree not searched
	// L0 000005.sst          range ["apple", "apple"] holds the key; bloom filter: may contain
	//     index: keys up to "b" are in the data block at offset 0 (27 bytes), read from the disk
	//     found #1,SET
	// result                 found #1,SET: the newest visible version is in L0
	// red <nil>
}
