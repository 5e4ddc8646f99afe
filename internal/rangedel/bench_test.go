package rangedel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/distributedkv/dkv/internal/base"
)

// BenchmarkFragment fragments n tombstones, nested as issue 13's queue
// leaves them or over random overlapping ranges, in the three ways the
// engine does: Fragment (every sequence number; its output for the queue
// is n²/2 by definition), FragmentFor under three snapshots (a flush or a
// compaction), and NewListOf with one lookup below the newest tombstone
// (a memtable read at a snapshot, which builds the history).
// seqs/op is the number of sequence numbers the spans hold.
func BenchmarkFragment(b *testing.B) {
	for _, n := range []int{1000, 4000} {
		for _, shape := range []string{"queue", "random"} {
			in := queue(n)
			if shape == "random" {
				in = randomOverlapping(rand.New(rand.NewPCG(1, 2)), n)
			}
			snaps := []base.SeqNum{base.SeqNum(n / 4), base.SeqNum(n / 2), base.SeqNum(3 * n / 4)}
			b.Run(fmt.Sprintf("%s/n=%d/Fragment", shape, n), func(b *testing.B) {
				b.ReportAllocs()
				var seqs int
				for range b.N {
					seqs = countSeqs(Fragment(cmp, in))
				}
				b.ReportMetric(float64(seqs), "seqs/op")
			})
			b.Run(fmt.Sprintf("%s/n=%d/FragmentFor", shape, n), func(b *testing.B) {
				b.ReportAllocs()
				var seqs int
				for range b.N {
					seqs = countSeqs(FragmentFor(cmp, in, snaps))
				}
				b.ReportMetric(float64(seqs), "seqs/op")
			})
			b.Run(fmt.Sprintf("%s/n=%d/NewListOf", shape, n), func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					l := NewListOf(cmp, in)
					l.Covering(in[0].Start, snaps[1])
				}
			})
		}
	}
}
