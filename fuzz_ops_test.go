package dkv_test

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/distributedkv/dkv/vfs"
)

// byteSource is a rand.Source that plays back the fuzzer's bytes, eight
// per number, then continues from a generator seeded by their length, so
// that every input decodes to a complete operation sequence.
type byteSource struct {
	data []byte
	rest *rand.PCG
}

func (s *byteSource) Uint64() uint64 {
	if len(s.data) == 0 {
		return s.rest.Uint64()
	}
	var b [8]byte
	n := copy(b[:], s.data)
	s.data = s.data[n:]
	return binary.LittleEndian.Uint64(b[:])
}

// FuzzDBOps decodes the input into a sequence of operations — the
// metamorphic test's: writes, batches, reads, iterators, snapshots,
// flushes, compactions, reopens — and runs it on a database with tiny
// memtables and tables and on the sorted-map model. Every operation must
// print the same line on both.
func FuzzDBOps(f *testing.F) {
	for _, n := range []int{0, 64, 400, 2000} {
		seed := make([]byte, n)
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		for i := range seed {
			seed[i] = byte(rng.Uint32())
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		nops := min(20+len(data)/4, 400)
		rng := rand.New(&byteSource{data: data, rest: rand.NewPCG(uint64(len(data)), 2)})
		ops := generateOps(rng, nops)
		o := modelOptionSets()["tiny"]
		o.FS, o.NoSync, o.Logger = vfs.NewMem(), true, slog.New(slog.DiscardHandler)
		db, err := newDBRunner("/db", o)
		if err != nil {
			t.Fatal(err)
		}
		model := newModelRunner()
		for i, op := range ops {
			got, want := db.run(i, op), model.run(i, op)
			if got != want {
				t.Fatalf("operation %d of %d: the database prints\n  %s\nthe model\n  %s", i, len(ops), got, want)
			}
		}
		if err := db.close(); err != nil {
			t.Fatal(fmt.Errorf("close: %w", err))
		}
	})
}
