package base

import "bytes"

// Compare returns -1, 0 or +1 as a sorts before, equal to or after b.
type Compare func(a, b []byte) int

// Comparer defines the order of user keys. Its Name is recorded with the data
// (later, in the MANIFEST) so that a database is never opened with an order
// other than the one it was written with.
type Comparer struct {
	Name    string
	Compare Compare
}

// DefaultComparer orders keys bytewise, as bytes.Compare does.
var DefaultComparer = &Comparer{
	Name:    "dkv.BytewiseComparator",
	Compare: bytes.Compare,
}
