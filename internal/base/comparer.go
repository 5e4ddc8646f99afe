package base

import "bytes"

// Compare returns -1, 0 or +1 as a sorts before, equal to or after b.
type Compare func(a, b []byte) int

// Comparer defines the order of user keys. Its Name is recorded in the
// MANIFEST so that a database is never opened with an order other than the
// one it was written with.
type Comparer struct {
	Name    string
	Compare Compare
	// Separator appends to dst a short key k with a <= k < b, given a < b.
	// Tables use it for index keys between blocks.
	Separator func(dst, a, b []byte) []byte
	// Successor appends to dst a short key k >= a.
	Successor func(dst, a []byte) []byte
}

// DefaultComparer orders keys bytewise, as bytes.Compare does.
var DefaultComparer = &Comparer{
	Name:      "dkv.BytewiseComparator",
	Compare:   bytes.Compare,
	Separator: bytewiseSeparator,
	Successor: bytewiseSuccessor,
}

// bytewiseSeparator shortens a towards b: it keeps the common prefix and
// increments the first differing byte of a when the result stays below b
// ("abcd", "abzz" -> "abd"; "apple", "banana" -> "b"). Otherwise it
// returns a.
func bytewiseSeparator(dst, a, b []byte) []byte {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	if n < len(a) && n < len(b) {
		// a[:n]+(c+1) is below b if c+1 < b[n], or if c+1 == b[n] and b
		// goes on (then it is a proper prefix of b).
		if c := a[n]; c < 0xff && (c+1 < b[n] || (c+1 == b[n] && n+1 < len(b))) {
			dst = append(dst, a[:n]...)
			return append(dst, c+1)
		}
	}
	return append(dst, a...)
}

// bytewiseSuccessor returns the shortest key >= a: a's first byte that can
// be incremented, incremented, with what follows dropped ("abc" -> "b"). A
// key of only 0xff bytes is its own successor.
func bytewiseSuccessor(dst, a []byte) []byte {
	for i, c := range a {
		if c != 0xff {
			dst = append(dst, a[:i]...)
			return append(dst, c+1)
		}
	}
	return append(dst, a...)
}
