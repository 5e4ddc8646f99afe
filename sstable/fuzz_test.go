package sstable

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/rangedel"
	"github.com/distributedkv/dkv/vfs"
)

func seedBlocks() [][]byte {
	w := blockWriter{restartInterval: 2}
	for _, k := range []string{"apple", "apricot", "banana", "band"} {
		w.add([]byte(k), []byte("v"))
	}
	b := bytes.Clone(w.finish())
	return [][]byte{b, b[:len(b)-3], {1, 0, 0, 0}, {0, 0, 0, 0, 1, 0, 0, 0}}
}

func seedTables(t testing.TB) [][]byte {
	var entries []kv
	for i := range 30 {
		entries = append(entries, kv{base.MakeInternalKey([]byte(fmt.Sprintf("k%03d", i)), base.SeqNum(i+1), base.KindSet), []byte("value")})
	}
	var out [][]byte
	for _, c := range []Compression{NoCompression, SnappyCompression, ZstdCompression} {
		_, data := writeTable(t, vfs.NewMem(), "s.sst", entries, WriterOptions{BlockSize: 128, Compression: c, BloomBitsPerKey: 10})
		out = append(out, data)
	}
	// With range tombstones, and with nothing else.
	dels := []rangedel.Tombstone{{Start: []byte("k005"), End: []byte("k012"), Seq: 40}, {Start: []byte("k010"), End: []byte("k040"), Seq: 41}}
	_, data := writeTableWithRangeDels(t, entries, dels, WriterOptions{BlockSize: 128})
	out = append(out, data)
	_, data = writeTableWithRangeDels(t, nil, dels, WriterOptions{BlockSize: 128})
	return append(out, data)
}

// FuzzBlock runs the block decoder over arbitrary bytes: init either
// refuses them or every operation succeeds or fails cleanly, never panics,
// and never loops.
func FuzzBlock(f *testing.F) {
	for _, s := range seedBlocks() {
		f.Add(s, []byte("banana"))
	}
	f.Fuzz(func(t *testing.T, block, target []byte) {
		var it blockIter
		if it.init(block, keyOrder{}) != nil {
			return
		}
		n := 0
		for ok := it.first(); ok && n <= len(block); ok = it.next() {
			n++
		}
		if n > len(block) {
			t.Fatalf("more entries than bytes")
		}
		for ok := it.last(); ok && n >= 0; ok = it.prev() {
			n--
		}
		it.err = nil
		it.seekGE(target)
		it.err = nil
		it.seekLT(target)
	})
}

// FuzzFooter: decodeFooter never panics, and whatever it accepts encodes
// back to the same bytes.
func FuzzFooter(f *testing.F) {
	for _, s := range seedTables(f) {
		f.Add(s[len(s)-FooterSize:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ft, err := decodeFooter(b)
		if err != nil {
			return
		}
		if !bytes.Equal(ft.encode(), b) {
			t.Fatalf("footer does not round-trip")
		}
	})
}

// FuzzTable opens arbitrary bytes as a table and reads all of it: every
// failure is an error (corruption, for damaged bytes), never a panic.
func FuzzTable(f *testing.F) {
	for _, s := range seedTables(f) {
		f.Add(s, []byte("k007"))
	}
	f.Fuzz(func(t *testing.T, data, key []byte) {
		r, err := openBytes(t, data, ReaderOptions{})
		if err != nil {
			return
		}
		it := r.NewIter()
		n := 0
		for ok := it.First(); ok && n <= len(data); ok = it.Next() {
			n++
		}
		for ok := it.Last(); ok && n >= 0; ok = it.Prev() {
			n--
		}
		it.SeekGE(base.MakeInternalKey(key, base.SeqNumMax, base.KindMax))
		it.SeekLT(base.MakeInternalKey(key, 0, base.KindDelete))
		if err := it.Error(); err != nil && !errors.Is(err, base.ErrCorruption) {
			t.Fatalf("iterator error is not corruption: %v", err)
		}
		if _, _, _, err := r.Get(key, base.SeqNumMax); err != nil && !errors.Is(err, base.ErrCorruption) {
			t.Fatalf("Get error is not corruption: %v", err)
		}
		r.RangeDels().Covering(key, base.SeqNumMax)
		if _, err := r.Layout(); err != nil && !errors.Is(err, base.ErrCorruption) {
			t.Fatalf("Layout error is not corruption: %v", err)
		}
	})
}

// TestWriteFuzzSeeds rewrites the committed seed corpora when
// DKV_WRITE_FUZZ_SEEDS is set.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("DKV_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set DKV_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz")
	}
	write := func(target string, i int, args ...[]byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n"
		for _, a := range args {
			body += fmt.Sprintf("[]byte(%q)\n", a)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range seedBlocks() {
		write("FuzzBlock", i, s, []byte("banana"))
	}
	for i, s := range seedTables(t) {
		write("FuzzFooter", i, s[len(s)-FooterSize:])
		write("FuzzTable", i, s, []byte("k007"))
	}
}
