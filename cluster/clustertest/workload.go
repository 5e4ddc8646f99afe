package clustertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distributedkv/dkv/client"
)

// RegisterWorkload runs clients doing gets, puts, deletes and
// compare-and-swaps on a few keys through the Go client, recording every
// operation for the linearizability check.
type RegisterWorkload struct {
	Client    *client.Client
	Clients   int
	Keys      int
	OpTimeout time.Duration
	History   *History

	Acked, Ambiguous, Failed, Reads atomic.Int64
}

// Run runs the clients until ctx ends.
func (w *RegisterWorkload) Run(ctx context.Context, seed uint64) {
	var wg sync.WaitGroup
	for c := range w.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(c)))
			for i := 0; ctx.Err() == nil; i++ {
				w.one(rng, c, i)
			}
		}()
	}
	wg.Wait()
}

func (w *RegisterWorkload) one(rng *rand.Rand, c, i int) {
	key := fmt.Sprintf("r%d", rng.IntN(w.Keys))
	val := fmt.Sprintf("c%d-%d", c, i)
	ctx, cancel := context.WithTimeout(context.Background(), w.OpTimeout)
	defer cancel()
	switch x := rng.IntN(10); {
	case x < 4:
		op := w.History.Call(c, Input{Kind: OpGet, Key: key})
		v, err := w.Client.Get(ctx, []byte(key))
		switch {
		case err == nil:
			op.Return(Output{Found: true, Value: string(v)})
			w.Reads.Add(1)
		case errors.Is(err, client.ErrNotFound):
			op.Return(Output{})
			w.Reads.Add(1)
		default:
			op.Drop()
		}
	case x < 7:
		op := w.History.Call(c, Input{Kind: OpPut, Key: key, Value: val})
		w.finishWrite(op, w.Client.Put(ctx, []byte(key), []byte(val)), Output{})
	case x < 8:
		op := w.History.Call(c, Input{Kind: OpDelete, Key: key})
		w.finishWrite(op, w.Client.Delete(ctx, []byte(key)), Output{})
	default:
		var old, nv *string
		var oldB, newB []byte
		if rng.IntN(3) > 0 {
			o := fmt.Sprintf("c%d-%d", rng.IntN(w.Clients), max(0, i-rng.IntN(4)))
			old, oldB = &o, []byte(o)
		}
		if rng.IntN(5) > 0 {
			nv, newB = &val, []byte(val)
		}
		op := w.History.Call(c, Input{Kind: OpCAS, Key: key, Old: old, New: nv})
		ok, err := w.Client.CompareAndSwap(ctx, []byte(key), oldB, newB)
		w.finishWrite(op, err, Output{Swapped: ok})
	}
}

func (w *RegisterWorkload) finishWrite(op *PendingOp, err error, out Output) {
	switch {
	case err == nil:
		op.Return(out)
		w.Acked.Add(1)
	case errors.Is(err, client.ErrAmbiguous):
		op.ReturnUnknown()
		w.Ambiguous.Add(1)
	default:
		op.Drop() // the client's contract: any other error means not applied
		w.Failed.Add(1)
	}
}

// SetWorkload inserts unique keys under a prefix; at the end every
// acknowledged insert must be present (ambiguous ones may or may not be).
type SetWorkload struct {
	Client    *client.Client
	Prefix    string
	OpTimeout time.Duration

	mu        sync.Mutex
	acked     []string
	ambiguous int
}

// Run inserts until ctx ends.
func (w *SetWorkload) Run(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		k := fmt.Sprintf("%s%08d", w.Prefix, i)
		octx, cancel := context.WithTimeout(context.Background(), w.OpTimeout)
		err := w.Client.Put(octx, []byte(k), []byte("x"))
		cancel()
		w.mu.Lock()
		switch {
		case err == nil:
			w.acked = append(w.acked, k)
		case errors.Is(err, client.ErrAmbiguous):
			w.ambiguous++
		}
		w.mu.Unlock()
	}
}

// Check reads the set back and returns the acknowledged inserts missing
// from it.
func (w *SetWorkload) Check(ctx context.Context) (acked int, missing []string, err error) {
	end := []byte(w.Prefix)
	end[len(end)-1]++
	kvs, err := w.Client.Scan(ctx, []byte(w.Prefix), end, 0)
	if err != nil {
		return 0, nil, err
	}
	have := make(map[string]bool, len(kvs))
	for _, kv := range kvs {
		have[string(kv.Key)] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range w.acked {
		if !have[k] {
			missing = append(missing, k)
		}
	}
	return len(w.acked), missing, nil
}
