// Package manual allocates memory outside the Go heap, for the engine's
// large buffers whose lifetimes it tracks itself: the chunks of a
// memtable's arena and the blocks of the block cache.
//
// Why: memory on the Go heap costs its size again in the collector's
// headroom (with GOGC=100 the heap grows to twice what is live before a
// collection), and the engine's largest consumers — memtables and the block
// cache, each as large as the options say — are exactly the memory whose
// lifetime the engine knows anyway. Memory from New is not scanned, not
// counted in the heap goal, and goes back to the operating system the
// moment Free unmaps it, so a process holding a 64 MiB cache and 64 MiB
// memtables uses about that, not twice it.
//
// The price is manual lifetimes: a buffer must be freed exactly once, and
// nothing may touch it afterwards. Freed memory is unmapped (a later access
// faults) or, for small buffers, reused for the next allocation (a later
// access reads someone else's bytes). Under the invariants build tag freed
// small buffers are filled with a poison byte first, so that a use after
// Free shows up in tests as wrong data or a checksum failure rather than
// passing by luck.
//
// Buffers up to MaxSmall bytes come from slabs of one size class each
// (multiples of 512 bytes), carved from 2 MiB mappings aligned for a
// transparent huge page on Linux (one page fault fills a slab, not 512)
// and recycled through a free list per class, never unmapped; larger ones
// get a mapping of their own, unmapped by Free.
// Contents are not zeroed. Where the operating system offers no anonymous
// mappings (anything but Linux and the BSDs here), New falls back to the Go
// heap and Free does nothing.
//
// All functions are safe for concurrent use.
package manual
