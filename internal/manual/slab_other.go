//go:build !linux

package manual

// mapSlab maps a slab.
func mapSlab() []byte { return mmap(slabSize) }
