package rangedel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/distributedkv/dkv/internal/base"
)

// BenchmarkDeletes is the lookup an iterator makes per version it would
// show (AnyDeletes over one memtable's List), at the newest sequence
// number and below it (a snapshot's), for n random overlapping
// tombstones: in one level (NewListOf, as most memtables have), and
// added one at a time with a read after each (Extend, issue 13's queue
// read as it goes: ⌈log₂ n⌉ levels at most).
func BenchmarkDeletes(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		in := randomOverlapping(rand.New(rand.NewPCG(1, 2)), n)
		extended := NewListOf(cmp, nil)
		for i := range in {
			extended = extended.Extend(cmp, in[:i+1])
		}
		for _, build := range []string{"NewListOf", "Extend"} {
			l := NewListOf(cmp, in)
			if build == "Extend" {
				l = extended
			}
			for _, at := range []string{"newest", "snapshot"} {
				read := base.SeqNumMax
				if at == "snapshot" {
					read = base.SeqNum(n / 2)
				}
				b.Run(fmt.Sprintf("n=%d/%s/%s", n, build, at), func(b *testing.B) {
					lists := []*List{l}
					keys := make([][]byte, 256)
					for i := range keys {
						keys[i] = in[i%n].Start
					}
					i := 0
					for b.Loop() {
						AnyDeletes(lists, keys[i&255], 0, read)
						i++
					}
				})
			}
		}
	}
}
