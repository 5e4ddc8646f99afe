package dkv_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/distributedkv/dkv"
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
