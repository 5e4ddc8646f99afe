package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/distributedkv/dkv/client"
)

// A client is made once, from any nodes' addresses, and shared.
func Example() {
	c, err := client.New(client.Config{Endpoints: []string{"127.0.0.1:7001", "127.0.0.1:7002"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Put(ctx, []byte("greeting"), []byte("hello")); err != nil {
		log.Fatal(err)
	}
	v, err := c.Get(ctx, []byte("greeting"))
	switch {
	case errors.Is(err, client.ErrNotFound):
		fmt.Println("no greeting")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Printf("%s\n", v)
	}
}

// A write that returns ErrAmbiguous may or may not have happened. Written
// as a CompareAndSwap, it can be checked and retried: here the key is
// created only if it is absent, so a retry that finds it with our value
// knows the first attempt won.
func ExampleClient_CompareAndSwap() {
	c, err := client.New(client.Config{Endpoints: []string{"127.0.0.1:7001"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx := context.Background()
	key, mine := []byte("lock"), []byte("owner-42")
	for {
		swapped, err := c.CompareAndSwap(ctx, key, nil, mine) // nil old: must be absent
		if errors.Is(err, client.ErrAmbiguous) {
			// Look: our value means the swap happened; no value means
			// it did not, so it is safe to try again.
			v, gerr := c.Get(ctx, key)
			switch {
			case errors.Is(gerr, client.ErrNotFound):
				continue
			case gerr != nil:
				log.Fatal(gerr)
			}
			swapped, err = string(v) == string(mine), nil
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("acquired:", swapped)
		return
	}
}

// Scan reads across ranges; a limit stops it early.
func ExampleClient_Scan() {
	c, err := client.New(client.Config{Endpoints: []string{"127.0.0.1:7001"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	kvs, err := c.Scan(context.Background(), []byte("user/"), []byte("user0"), 100)
	if err != nil {
		log.Fatal(err)
	}
	for _, kv := range kvs {
		fmt.Printf("%s=%s\n", kv.Key, kv.Value)
	}
}

// With --certs-dir, a cluster takes only clients with a certificate.
func ExampleLoadTLS() {
	tlsConfig, err := client.LoadTLS("certs", "root")
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.New(client.Config{Endpoints: []string{"node1.example.com:7001"}, TLS: tlsConfig})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}
