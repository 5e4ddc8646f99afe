package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/distributedkv/dkv/client"
)

// systemNames are the systems the benchmark knows.
var systemNames = []string{"dkv", "etcd"}

// kv is one system's client as the cells use it. Get is linearizable on
// every system. An error matching errNotFound (or client.ErrNotFound) is a
// get that found no value; one matching errAmbiguous (or
// client.ErrAmbiguous) a write that may or may not have been applied.
type kv interface {
	Put(ctx context.Context, key, value []byte) error
	Get(ctx context.Context, key []byte) error
	Close() error
}

var (
	errNotFound  = errors.New("key not found")
	errAmbiguous = errors.New("the write may or may not have been applied")
)

// dkvKV is dkv's Go client; its Get is linearizable and its
// RequestTimeout bounds each operation.
type dkvKV struct{ c *client.Client }

func newDKVKV(nodes []*node, timeout time.Duration) (kv, error) {
	var eps []string
	for _, n := range nodes {
		eps = append(eps, n.addr)
	}
	c, err := client.New(client.Config{Endpoints: eps, RequestTimeout: timeout})
	if err != nil {
		return nil, err
	}
	return dkvKV{c}, nil
}

func (d dkvKV) Put(ctx context.Context, key, value []byte) error { return d.c.Put(ctx, key, value) }

func (d dkvKV) Get(ctx context.Context, key []byte) error {
	_, err := d.c.Get(ctx, key)
	return err
}

func (d dkvKV) Close() error { return d.c.Close() }

// system is one cluster under test: its processes, its shared client, and
// where its results go.
type system struct {
	name   string
	nodes  []*node
	newKV  func() (kv, error) // a new client of the cluster
	shared kv                 // the one the cells share (nil until the cluster is ready)
	res    *SystemResult
}

// parseSystems parses -systems: known names, each once, in the order
// given, which is the order each cell runs them in.
func parseSystems(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case !slices.Contains(systemNames, f):
			return nil, fmt.Errorf("-systems: unknown system %q (want %s)", f, strings.Join(systemNames, ", "))
		case slices.Contains(out, f):
			return nil, fmt.Errorf("-systems: %q given twice", f)
		}
		out = append(out, f)
	}
	return out, nil
}

// The values of -order.
const (
	orderFixed     = "fixed"     // every cell runs the systems in -systems order
	orderAlternate = "alternate" // every other cell runs them in reverse order
)

// cellOrder returns the indexes of n systems in the order the i-th cell
// (from 0) runs them.
func cellOrder(n, i int, mode string) []int {
	out := make([]int, n)
	for j := range out {
		out[j] = j
		if mode == orderAlternate && i%2 == 1 {
			out[j] = n - 1 - j
		}
	}
	return out
}

// describeOrder says, for the report, how the systems' cells were
// interleaved.
func describeOrder(systems []string, mode string) string {
	if len(systems) < 2 {
		return "one system"
	}
	list := strings.Join(systems, ", then on ")
	rev := make([]string, len(systems))
	for i, s := range systems {
		rev[len(systems)-1-i] = s
	}
	s := fmt.Sprintf("all %d clusters up throughout, one loaded at a time: preloads in turn, then ", len(systems))
	if mode == orderAlternate {
		return s + fmt.Sprintf("each cell on every system back to back, alternating which goes first: the 1st cell on %s, the 2nd on %s, and so on (-order alternate)",
			list, strings.Join(rev, ", then on "))
	}
	return s + fmt.Sprintf("each cell on %s, back to back (-order fixed)", list)
}
