//go:build invariants

package manual

// poisonFreed fills freed small buffers with the poison byte, so that a use
// after Free reads garbage in tests.
const poisonFreed = true
