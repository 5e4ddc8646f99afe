package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
)

// seedLogs returns small logs for the fuzzer to start from: whole, torn,
// padded and multi-block ones.
func seedLogs(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, recs := range [][][]byte{
		{},
		{record(1, 0)},
		{record(1, 10), record(2, 20), record(3, 30)},
		{record(1, BlockSize-FileHeaderSize-ChunkHeaderSize-RecordPrefixSize-9), record(2, 3)},
		{record(1, BlockSize+100), record(2, 5)},
	} {
		fs := vfs.NewMem()
		writeLog(t, fs, "s.log", recs, func(i int) bool { return i%2 == 0 })
		data := fileBytes(t, fs, "s.log")
		seeds = append(seeds, data, data[:len(data)*2/3])
	}
	return seeds
}

// FuzzReader feeds arbitrary bytes to the Reader as a log file. Whatever the
// bytes, it must not panic, must end with io.EOF or an error, must never
// return more record bytes than the file holds (so it cannot be made to
// over-allocate), and must report a tail inside the file.
func FuzzReader(f *testing.F) {
	for _, s := range seedLogs(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), int64(len(data)), "fuzz.log", 7)
		total := 0
		for range len(data) + 1 {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				tail := r.Tail()
				if tail.End < 0 || tail.End > int64(len(data)) {
					t.Fatalf("tail %+v outside a %d-byte file", tail, len(data))
				}
				return
			}
			if err != nil {
				var ce *base.CorruptionError
				if errors.As(err, &ce) && (ce.Offset < 0 || ce.Offset > int64(len(data))) {
					t.Fatalf("corruption offset %d outside a %d-byte file", ce.Offset, len(data))
				}
				if _, err2 := r.Next(); err2 == nil {
					t.Fatalf("Next succeeded after an error")
				}
				return
			}
			total += len(rec)
			if total > len(data) {
				t.Fatalf("returned %d record bytes from a %d-byte file", total, len(data))
			}
		}
		t.Fatalf("Next never ended")
	})
}

// FuzzRoundTrip writes records cut from the fuzzer's bytes and reads them
// back: whatever the sizes, they come back whole and in order.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), uint16(3))
	f.Add(bytes.Repeat([]byte{7}, 3*BlockSize), uint16(BlockSize-40))
	f.Fuzz(func(t *testing.T, data []byte, step uint16) {
		var recs [][]byte
		for n := int(step); len(data) > 0; {
			k := min(n, len(data))
			recs = append(recs, data[:k])
			data = data[k:]
			if n == 0 {
				break
			}
		}
		fs := vfs.NewMem()
		writeLog(t, fs, "r.log", recs, func(i int) bool { return i%3 == 1 })
		got, tail, err := readLog(fileBytes(t, fs, "r.log"), 7)
		if err != nil || tail.Torn || len(got) != len(recs) {
			t.Fatalf("err %v, tail %+v, %d of %d records", err, tail, len(got), len(recs))
		}
		for i := range recs {
			if !bytes.Equal(got[i], recs[i]) {
				t.Fatalf("record %d differs", i)
			}
		}
	})
}

// TestWriteFuzzSeeds writes the seed logs into testdata/fuzz/FuzzReader when
// DKV_WRITE_FUZZ_SEEDS is set, so the committed corpus can be regenerated
// after a format change.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("DKV_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set DKV_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzReader")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzReader")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seedLogs(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
