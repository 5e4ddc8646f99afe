package dkv

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/memtable"
)

func seedBatches() [][]byte {
	var seeds [][]byte
	b := &Batch{}
	_ = b.Put([]byte("key"), []byte("value"))
	b.setSeqNum(1)
	seeds = append(seeds, bytes.Clone(b.repr))
	_ = b.Delete([]byte("gone"))
	_ = b.Put([]byte("empty"), nil)
	b.setSeqNum(42)
	seeds = append(seeds, bytes.Clone(b.repr))
	big := &Batch{}
	_ = big.Put(bytes.Repeat([]byte("k"), 300), bytes.Repeat([]byte("v"), 1000))
	big.setSeqNum(7)
	seeds = append(seeds, bytes.Clone(big.repr), big.repr[:len(big.repr)-1], []byte{}, make([]byte, 12))
	rd := &Batch{}
	_ = rd.Put([]byte("a"), []byte("1"))
	_ = rd.DeleteRange([]byte("b"), []byte("m"))
	rd.setSeqNum(9)
	return append(seeds, bytes.Clone(rd.repr))
}

// FuzzBatchDecode feeds arbitrary bytes to the batch decoder used on log
// records. It must never panic; a batch it accepts must apply to a memtable
// with exactly its count of operations, and re-encode to a batch that
// decodes to the same operations.
func FuzzBatchDecode(f *testing.F) {
	for _, s := range seedBatches() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		seq, count, err := checkBatch(data)
		if err != nil {
			return
		}
		mem := memtable.New(base.DefaultComparer, 0)
		applyBatch(mem, data)
		if mem.Len() != int(count) {
			t.Fatalf("applied %d operations, header says %d", mem.Len(), count)
		}
		re := &Batch{}
		_, _, r, _ := decodeBatchHeader(data)
		var ops []batchOp
		for {
			op, ok, err := r.next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			ops = append(ops, op)
			switch op.Kind {
			case base.KindSet:
				err = re.Put(op.Key, op.Value)
			case base.KindRangeDelete:
				err = re.DeleteRange(op.Key, op.Value)
			default:
				err = re.Delete(op.Key)
			}
			if err != nil {
				t.Fatalf("accepted operation refused on re-encoding: %v", err)
			}
		}
		re.setSeqNum(seq)
		seq2, count2, err := checkBatch(re.repr)
		if err != nil || seq2 != seq || count2 != count {
			t.Fatalf("re-encoded batch: seq %d count %d err %v", seq2, count2, err)
		}
		_, _, r2, _ := decodeBatchHeader(re.repr)
		for i := range ops {
			op, _, _ := r2.next()
			if op.Kind != ops[i].Kind || !bytes.Equal(op.Key, ops[i].Key) || !bytes.Equal(op.Value, ops[i].Value) {
				t.Fatalf("operation %d differs after re-encoding", i)
			}
		}
	})
}

// TestWriteBatchFuzzSeeds rewrites testdata/fuzz/FuzzBatchDecode when
// DKV_WRITE_FUZZ_SEEDS is set.
func TestWriteBatchFuzzSeeds(t *testing.T) {
	if os.Getenv("DKV_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set DKV_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzBatchDecode")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzBatchDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seedBatches() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The batch decoder refuses malformed encodings with a reason.
func TestCheckBatchRefuses(t *testing.T) {
	good := seedBatches()[1]
	cases := map[string][]byte{
		"short header":     good[:11],
		"no operations":    append(bytes.Clone(good[:8]), 0, 0, 0, 0),
		"count too high":   append(append(bytes.Clone(good[:8]), 9, 0, 0, 0), good[12:]...),
		"truncated":        good[:len(good)-2],
		"unknown kind":     append(bytes.Clone(good), 7, 1, 'x'),
		"zero seqnum":      append(make([]byte, 8), good[8:]...),
		"empty key":        append(append(bytes.Clone(good[:8]), 1, 0, 0, 0), 1, 0, 0),
		"bad varint":       append(append(bytes.Clone(good[:8]), 1, 0, 0, 0), 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
		"seqnum overflows": append(append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}, 3, 0, 0, 0), good[12:]...),
	}
	for name, data := range cases {
		if _, _, err := checkBatch(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, n, err := checkBatch(good); err != nil || n != 3 {
		t.Fatalf("good batch: %d ops, %v", n, err)
	}
}
