package main

import (
	"bytes"
	"testing"

	"github.com/golang/snappy"
)

// Keys sort in the order of their index, and a missing key sorts between
// its neighbours, as in db_bench.
func TestKeyOrder(t *testing.T) {
	var a, b, m [KeySize + 1]byte
	for _, i := range []uint64{0, 1, 255, 256, 1 << 40} {
		ka := append([]byte(nil), makeKey(a[:], i)...)
		kb := makeKey(b[:], i+1)
		km := makeMissingKey(m[:], i)
		if len(ka) != KeySize || len(km) != KeySize+1 {
			t.Fatalf("key lengths %d and %d", len(ka), len(km))
		}
		if !(bytes.Compare(ka, km) < 0 && bytes.Compare(km, kb) < 0) {
			t.Errorf("want key(%d) < missing(%d) < key(%d): %q %q %q", i, i, i+1, ka, km, kb)
		}
	}
}

// Values compress to about -compression_ratio of their size with Snappy,
// like db_bench's.
func TestValuesCompressible(t *testing.T) {
	src := newValueSource(1, 100, 0.5)
	c := valueCursor{src: src}
	total, packed := 0, 0
	for range 1000 {
		v := c.next()
		if len(v) != 100 {
			t.Fatalf("value of %d bytes", len(v))
		}
		total += len(v)
		packed += len(snappy.Encode(nil, v))
	}
	if r := float64(packed) / float64(total); r < 0.45 || r > 0.7 {
		t.Errorf("values compress to %.2f of their size, want about 0.5", r)
	}
	if a, b := newValueSource(1, 100, 0.5), newValueSource(1, 100, 0.5); !bytes.Equal(a.data, b.data) {
		t.Errorf("the same seed gave different values")
	}
}
