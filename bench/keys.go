package main

import (
	"encoding/binary"
	"math/rand/v2"
)

// KeySize is the length of every key, as db_bench's default --key_size.
const KeySize = 16

// makeKey writes the key of index i into buf (at least KeySize+1 bytes) and
// returns it, in db_bench's format: i as 8 big-endian bytes, padded with
// '0' characters to KeySize. Keys therefore sort in the order of i.
func makeKey(buf []byte, i uint64) []byte {
	binary.BigEndian.PutUint64(buf, i)
	for j := 8; j < KeySize; j++ {
		buf[j] = '0'
	}
	return buf[:KeySize]
}

// makeMissingKey is db_bench's readmissing key: the key of i with one more
// '0' (db_bench increments --key_size). It sorts right after key i, so no
// key range excludes it and the bloom filters must.
func makeMissingKey(buf []byte, i uint64) []byte {
	makeKey(buf, i)
	buf[KeySize] = '0'
	return buf[:KeySize+1]
}

// valueSource hands out values that compress to about ratio of their size,
// like db_bench's RandomGenerator: a 1 MiB buffer made of 100-byte pieces,
// each a random printable prefix of ratio×100 bytes repeated to fill the
// piece. Values are windows into it, so they cost no allocation. Shared by
// every goroutine; each keeps its own position (valueCursor).
type valueSource struct {
	data []byte
	size int
}

func newValueSource(seed uint64, size int, ratio float64) *valueSource {
	rng := rand.New(rand.NewPCG(seed, 0x76616c756573)) // "values"
	n := max(1<<20, size)
	data := make([]byte, 0, n+100)
	for len(data) < n {
		raw := max(1, int(100*ratio))
		piece := make([]byte, raw)
		for i := range piece {
			piece[i] = byte(' ' + rng.IntN(95)) // printable, as db_bench's RandomString
		}
		for j := 0; j < 100; j++ {
			data = append(data, piece[j%raw])
		}
	}
	return &valueSource{data: data, size: size}
}

// valueCursor is one goroutine's position in a valueSource.
type valueCursor struct {
	src *valueSource
	pos int
}

// next returns the next value: a read-only window of the shared buffer.
func (c *valueCursor) next() []byte {
	if c.pos+c.src.size > len(c.src.data) {
		c.pos = 0
	}
	v := c.src.data[c.pos : c.pos+c.src.size : c.pos+c.src.size]
	c.pos += c.src.size
	return v
}

// scramble is a bijection on uint64 (splitmix64's finalizer). YCSB keys are
// makeKey(scramble(id)), so that records inserted in id order land all over
// the key space, as YCSB's hashed insert order does.
func scramble(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
