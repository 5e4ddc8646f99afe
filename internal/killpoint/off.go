//go:build !invariants || !unix

package killpoint

// Enabled reports whether this build can kill at kill points.
const Enabled = false

// Hit marks that execution reached p. This build has no kill points: it
// does nothing.
func Hit(p Point) {}
