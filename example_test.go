package dkv_test

import (
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
