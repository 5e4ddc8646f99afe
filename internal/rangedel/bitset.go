package rangedel

import "math/bits"

// bitset is a set of the integers 0..n-1 that finds the next and the
// previous member of any integer in O(log64 n): a bit per integer, and
// above it levels of summary bits, one per word of the level below that
// is not zero. The fragmenter and the history use it to walk the few
// members of a large range (stripes with a tombstone, fragments' starts)
// without scanning the rest.
type bitset struct {
	levels [][]uint64 // levels[0]: one bit per integer; the last: one word
}

func newBitset(n int) *bitset {
	b := &bitset{}
	for {
		words := (n + 63) / 64
		b.levels = append(b.levels, make([]uint64, max(words, 1)))
		if words <= 1 {
			return b
		}
		n = words
	}
}

func (b *bitset) set(i int) {
	for _, words := range b.levels {
		w := &words[i>>6]
		was := *w
		*w |= 1 << (i & 63)
		if was != 0 {
			return // the levels above already know
		}
		i >>= 6
	}
}

func (b *bitset) clear(i int) {
	for _, words := range b.levels {
		w := &words[i>>6]
		*w &^= 1 << (i & 63)
		if *w != 0 {
			return
		}
		i >>= 6
	}
}

// empty reports whether the set has no member.
func (b *bitset) empty() bool { return b.levels[len(b.levels)-1][0] == 0 }

// next returns the smallest member at or above i, or -1.
func (b *bitset) next(i int) int {
	if i < 0 {
		i = 0
	}
	lvl := 0
	for {
		if lvl == len(b.levels) {
			return -1
		}
		words := b.levels[lvl]
		w := i >> 6
		if w >= len(words) {
			return -1
		}
		if m := words[w] >> (i & 63); m != 0 {
			i += bits.TrailingZeros64(m)
			break
		}
		i = w + 1 // the next word, a bit of the level above
		lvl++
	}
	for ; lvl > 0; lvl-- {
		i = i<<6 + bits.TrailingZeros64(b.levels[lvl-1][i])
	}
	return i
}

// prev returns the largest member at or below i, or -1.
func (b *bitset) prev(i int) int {
	lvl := 0
	for {
		if i < 0 || lvl == len(b.levels) {
			return -1
		}
		words := b.levels[lvl]
		w := i >> 6
		if w >= len(words) {
			w = len(words) - 1
			i = w<<6 + 63
		}
		if m := words[w] << (63 - i&63); m != 0 {
			i -= bits.LeadingZeros64(m)
			break
		}
		i = w - 1 // the previous word, a bit of the level above
		lvl++
	}
	for ; lvl > 0; lvl-- {
		i = i<<6 + 63 - bits.LeadingZeros64(b.levels[lvl-1][i])
	}
	return i
}

func (b *bitset) has(i int) bool { return b.levels[0][i>>6]&(1<<(i&63)) != 0 }
