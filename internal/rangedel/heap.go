package rangedel

import "github.com/distributedkv/dkv/internal/base"

// heapPush adds tombstone i to h, a max-heap of tombstones ordered by
// sequence number (seqOf), and returns the heap.
func heapPush(h []int32, i int32, seqOf func(int32) base.SeqNum) []int32 {
	h = append(h, i)
	j := len(h) - 1
	for j > 0 {
		parent := (j - 1) / 2
		if seqOf(h[parent]) >= seqOf(h[j]) {
			break
		}
		h[parent], h[j] = h[j], h[parent]
		j = parent
	}
	return h
}

// heapPop removes the top of h, a max-heap as heapPush keeps it, and
// returns the heap.
func heapPop(h []int32, seqOf func(int32) base.SeqNum) []int32 {
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	j := 0
	for {
		l := 2*j + 1
		if l >= n {
			break
		}
		big := l
		if r := l + 1; r < n && seqOf(h[r]) > seqOf(h[l]) {
			big = r
		}
		if seqOf(h[j]) >= seqOf(h[big]) {
			break
		}
		h[j], h[big] = h[big], h[j]
		j = big
	}
	return h
}
