//go:build !invariants

package manual

const poisonFreed = false
