//go:build !invariants

package invariants

// Enabled is false: the build lacks the invariants tag.
const Enabled = false
