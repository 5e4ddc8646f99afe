package sstable

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// The whole-table bloom filter. Its bytes are part of the table format, so
// everything below that decides which bits are set is frozen: the hash, the
// seed, the probe sequence and the layout.
//
// Layout of a filter of m bytes of bits (m >= 8 when written by this code):
//
//	+----------------------------+-------+
//	| bit array: m bytes         | k (1) |
//	+----------------------------+-------+
//
// Bit i of the array (0 <= i < 8m) is bit i%8 (least significant first) of
// byte i/8. Let nbits = 8m and h = bloomHash(key). A key sets, and a query
// tests, the k bits
//
//	g_j = (h mod nbits + j * (fmix32(h) mod nbits)) mod nbits,  j = 0 .. k-1
//
// computed exactly (in 64-bit arithmetic), where fmix32 is MurmurHash3's
// finalizer (see bloomHash). This is double hashing over Z_nbits (Kirsch and
// Mitzenmacher) with both hashes drawn from one 32-bit h. Bits at positions
// 2^32 and above are never probed, so a filter is meant for fewer than about
// 400 million keys at 10 bits per key.
//
// Why not LevelDB's probe sequence (h += rotr(h, 17), then h mod nbits)?
// Measured over 100k keys at 10 bits per key it gives 1.3% false positives
// against the 0.82% theory predicts, because adding mod 2^32 and then
// reducing mod nbits is uneven; and taking the step as rotr(h, 17) mod nbits
// with exact arithmetic is worse still (2.1%; 0.3% instead of 0.007% at 20
// bits per key), as the rotation is linear in h. The step fmix32(h) is not,
// and the measured rates match theory (0.82% at 10, 0.0067% at 20).

const (
	// bloomSeed seeds bloomHash. The value is arbitrary (LevelDB's bloom
	// filter uses the same one) but part of the format.
	bloomSeed = 0xbc9f1d34

	// bloomMinBits is the smallest bit array a writer emits, so that a
	// filter over very few keys does not have a needlessly high
	// false-positive rate.
	bloomMinBits = 64

	// bloomMaxProbes is the largest k a reader understands. A filter whose
	// last byte is larger was written by a future format and is treated as
	// matching every key.
	bloomMaxProbes = 30
)

// bloomHash returns the 32-bit hash the bloom filter uses for key:
// MurmurHash3_x86_32 (Austin Appleby, SMHasher) with seed 0xbc9f1d34.
// It is a pure function of the bytes of key, the same on every platform and
// in every process, and part of the table format.
//
// Precisely, with all arithmetic on uint32 modulo 2^32, c1 = 0xcc9e2d51,
// c2 = 0x1b873593, rotl the 32-bit left rotation and h = seed:
//
//   - for each whole 4-byte group of key, read as a little-endian word b:
//     b *= c1; b = rotl(b, 15); b *= c2; h ^= b; h = rotl(h, 13);
//     h = h*5 + 0xe6546b64
//   - if 1 to 3 bytes remain, form b from them little-endian (the first
//     remaining byte is the least significant, missing bytes are zero):
//     b *= c1; b = rotl(b, 15); b *= c2; h ^= b
//   - h ^= uint32(len(key)); then the finalizer fmix32: h ^= h>>16;
//     h *= 0x85ebca6b; h ^= h>>13; h *= 0xc2b2ae35; h ^= h>>16.
func bloomHash(key []byte) uint32 {
	return murmur3(key, bloomSeed)
}

// murmur3 is MurmurHash3_x86_32 of data with the given seed. It does not
// retain data.
func murmur3(data []byte, seed uint32) uint32 {
	const (
		c1 = 0xcc9e2d51
		c2 = 0x1b873593
	)
	h := seed
	n := len(data)
	for len(data) >= 4 {
		b := binary.LittleEndian.Uint32(data)
		data = data[4:]
		b *= c1
		b = bits.RotateLeft32(b, 15)
		b *= c2
		h ^= b
		h = bits.RotateLeft32(h, 13)
		h = h*5 + 0xe6546b64
	}
	var b uint32
	switch len(data) {
	case 3:
		b ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		b ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		b ^= uint32(data[0])
		b *= c1
		b = bits.RotateLeft32(b, 15)
		b *= c2
		h ^= b
	}
	return fmix32(h ^ uint32(n))
}

// fmix32 is MurmurHash3's finalizer: a bijection on uint32 in which every
// input bit affects every output bit.
func fmix32(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// bloomProbes returns k = round(bitsPerKey × ln 2) clamped to [1, 30]: the
// number of bits per key that minimizes the false-positive rate of a filter
// with bitsPerKey bits per key.
func bloomProbes(bitsPerKey int) int {
	k := int(math.Round(float64(bitsPerKey) * math.Ln2))
	return min(max(k, 1), bloomMaxProbes)
}

// bloomWriter builds one whole-table bloom filter over the user keys added
// to it. It keeps only a 32-bit hash per key (never the key), so its memory
// is 4 bytes per key until finish. A bloomWriter is not safe for concurrent
// use.
type bloomWriter struct {
	bitsPerKey int
	k          int
	hashes     []uint32
}

// newBloomWriter returns a writer for a filter of bitsPerKey bits per key
// (values below 1 are treated as 1). 10 bits per key give about 1% false
// positives, and each further 5 bits divide that by about 10, until the
// 32-bit hash itself limits it: two distinct keys share a hash with
// probability 2^-32, so a table of n keys has a floor near n/2^32.
func newBloomWriter(bitsPerKey int) *bloomWriter {
	bitsPerKey = max(bitsPerKey, 1)
	return &bloomWriter{bitsPerKey: bitsPerKey, k: bloomProbes(bitsPerKey)}
}

// add records userKey in the filter. It does not retain userKey. A key whose
// hash equals that of the key added just before it is skipped: it would set
// the same bits, and the versions of one user key arrive together.
func (w *bloomWriter) add(userKey []byte) {
	h := bloomHash(userKey)
	if n := len(w.hashes); n > 0 && w.hashes[n-1] == h {
		return
	}
	w.hashes = append(w.hashes, h)
}

// count returns the number of hashes recorded since the writer was made or
// last finished: the keys added, less the skipped consecutive duplicates.
// The filter is sized for this many keys.
func (w *bloomWriter) count() int { return len(w.hashes) }

// finish returns the filter over the keys added so far, in the layout
// described at the top of this file: max(64, count×bitsPerKey) bits rounded
// up to whole bytes, then one byte holding k. With no keys it returns a
// 64-bit filter that matches nothing. The slice is newly allocated and
// belongs to the caller. finish resets the writer, which may then build
// another filter with the same bitsPerKey.
func (w *bloomWriter) finish() []byte {
	nbits := max(len(w.hashes)*w.bitsPerKey, bloomMinBits)
	nbytes := (nbits + 7) / 8
	filter := make([]byte, nbytes+1)
	array := filter[:nbytes]
	m := uint64(nbytes) * 8
	for _, h := range w.hashes {
		pos, step := bloomStart(h, m)
		for range w.k {
			array[pos/8] |= 1 << (pos % 8)
			if pos += step; pos >= m {
				pos -= m
			}
		}
	}
	filter[nbytes] = byte(w.k)
	w.hashes = w.hashes[:0]
	return filter
}

// bloomStart returns the first bit a hash probes in an array of m > 0 bits,
// and the step between its probes, both in [0, m).
func bloomStart(h uint32, m uint64) (pos, step uint64) {
	return uint64(h) % m, uint64(fmix32(h)) % m
}

// bloomMayContain reports whether the filter may hold userKey. false means
// the key was certainly not added; true may be a false positive. It never
// panics and never retains its arguments, whatever the bytes of filter.
//
// A filter that cannot be a filter this code wrote reports true for every
// key rather than false: a filter shorter than 2 bytes, or whose k byte is
// above 30 (reserved for future encodings), or whose k is 0. A filter's job
// is to skip reads; one that is not understood must never hide data.
func bloomMayContain(filter []byte, userKey []byte) bool {
	return bloomMayContainHash(filter, bloomHash(userKey))
}

// bloomMayContainHash is bloomMayContain for a key whose bloomHash is h, so
// that a caller probing several filters for one key hashes it once.
func bloomMayContainHash(filter []byte, h uint32) bool {
	if len(filter) < 2 {
		return true
	}
	nbytes := len(filter) - 1
	k := int(filter[nbytes])
	if k == 0 || k > bloomMaxProbes {
		return true
	}
	array := filter[:nbytes]
	m := uint64(nbytes) * 8
	pos, step := bloomStart(h, m)
	for range k {
		if array[pos/8]&(1<<(pos%8)) == 0 {
			return false
		}
		if pos += step; pos >= m {
			pos -= m
		}
	}
	return true
}
