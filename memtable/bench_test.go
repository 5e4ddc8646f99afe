package memtable

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/distributedkv/dkv/internal/base"
)

// BenchmarkAdd inserts db_bench-shaped entries (16-byte keys, 100-byte
// values) into a MemTable, starting a new one every million entries, in
// ascending and in random key order.
func BenchmarkAdd(b *testing.B) {
	const perTable = 1 << 20
	value := make([]byte, 100)
	for _, order := range []string{"seq", "random"} {
		b.Run(order, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			var key [16]byte
			m := New(base.DefaultComparer, 64<<20)
			b.SetBytes(16 + 100)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if i%perTable == 0 {
					m.Unref()
					m = New(base.DefaultComparer, 64<<20)
				}
				k := uint64(i)
				if order == "random" {
					k = rng.Uint64N(perTable)
				}
				binary.BigEndian.PutUint64(key[:], k)
				m.Add(base.SeqNum(i+1), base.KindSet, key[:], value)
			}
		})
	}
}
