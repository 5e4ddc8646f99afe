package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
	"github.com/distributedkv/dkv/wal"
)

// TestWALGolden: wal prints each record of a log as a batch (offset, the
// sequence number of each operation, count, SET key=value and DEL key),
// then how the log ends. A torn tail is not an error; damage that a later
// record shows was synced is corruption, exit 1 after the records before
// it; a record that is not a batch is an error line, and exit 1 at the
// end. The log number comes from the file name or --lognum. -o json
// prints an object, values whole; --hex prints keys and values in hex.
func TestWALGolden(t *testing.T) {
	runGolden(t, []scenario{
		{name: "wal", setup: walDB, noDir: true, steps: [][]string{
			{"wal", "$DIR/000001.log"},
		}},
		{name: "wal_after_flush", setup: fillDB, noDir: true, steps: [][]string{
			{"wal", "$DIR/000006.log"},
		}},
		{name: "wal_torn", setup: tornLog, noDir: true, steps: [][]string{
			{"wal", "$DIR/000001.log"},
		}},
		{name: "wal_corrupt", setup: corruptLog, noDir: true, steps: [][]string{
			{"wal", "$DIR/000001.log"},
		}},
		{name: "wal_bad_batch", setup: badBatchLog, noDir: true, steps: [][]string{
			{"wal", "$DIR/000009.log"},
		}},
		{name: "wal_lognum", setup: copiedLog, noDir: true, steps: [][]string{
			{"wal", "$DIR/copy"},
			{"wal", "--lognum", "1", "$DIR/copy"},
			{"wal", "--lognum", "7", "$DIR/copy"},
			{"wal", "$DIR/CURRENT"},
			{"wal", "$DIR/000009.log"},
		}},
		{name: "wal_json", setup: walDB, noDir: true, steps: [][]string{
			{"-o", "json", "wal", "$DIR/000001.log"}, // "bin\x00\xff" is not text: --hex is needed
			{"--hex", "-o", "json", "wal", "$DIR/000001.log"},
		}},
		{name: "wal_hex", setup: walDB, noDir: true, steps: [][]string{
			{"--hex", "wal", "$DIR/000001.log"},
		}},
		{name: "wal_bad_batch_json", setup: badBatchLog, noDir: true, steps: [][]string{
			{"-o", "json", "wal", "$DIR/000009.log"},
		}},
		{name: "wal_help", noDir: true, steps: [][]string{
			{"wal", "--help"},
		}},
		{name: "wal_wrong_arg_count", noDir: true, steps: [][]string{
			{"wal"},
			{"wal", "a", "b"},
		}},
	})
}

// walDB builds a database whose log 000001.log holds single writes, a
// batch, and keys and values that must be shown with care.
func walDB(t *testing.T, dir string) {
	t.Helper()
	buildDB(t, dir, func(db *dkv.DB) {
		require.NoError(t, db.Put([]byte("greeting"), []byte("hello")))
		b := db.NewBatch()
		require.NoError(t, b.Put([]byte("a"), []byte("1")))
		require.NoError(t, b.Delete([]byte("b")))
		require.NoError(t, b.Put([]byte("c"), []byte("three")))
		require.NoError(t, db.Write(b, nil))
		require.NoError(t, db.Put([]byte("k=v"), []byte("a value with spaces")))
		require.NoError(t, db.Put([]byte("bin\x00\xff"), []byte("\x01\x02")))
		require.NoError(t, db.Put([]byte("long"), []byte(strings.Repeat("0123456789", 6))))
		require.NoError(t, db.Put([]byte("empty"), nil))
		require.NoError(t, db.Delete([]byte("greeting")))
	})
}

// recordOffsets returns the offsets of the records of the log at path.
func recordOffsets(t *testing.T, path string, num base.FileNum) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	r := wal.NewReader(bytes.NewReader(data), int64(len(data)), path, num)
	var offs []int64
	for {
		_, err := r.Next()
		if errors.Is(err, io.EOF) {
			return offs
		}
		require.NoError(t, err)
		offs = append(offs, r.Offset())
	}
}

// tornLog cuts walDB's log inside its last record, as a crash during the
// append would.
func tornLog(t *testing.T, dir string) {
	walDB(t, dir)
	path := filepath.Join(dir, "000001.log")
	offs := recordOffsets(t, path, 1)
	require.NoError(t, os.Truncate(path, offs[len(offs)-1]+10))
}

// corruptLog damages the second record of walDB's log; the records after
// it show it had been synced.
func corruptLog(t *testing.T, dir string) {
	walDB(t, dir)
	path := filepath.Join(dir, "000001.log")
	flipByte(t, path, recordOffsets(t, path, 1)[1]+wal.ChunkHeaderSize+12)
}

// copiedLog copies walDB's log to a file named "copy".
func copiedLog(t *testing.T, dir string) {
	walDB(t, dir)
	data, err := os.ReadFile(filepath.Join(dir, "000001.log"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "copy"), data, 0o644))
}

// badBatchLog writes 000009.log in dir: sound log records, most of which
// are not well-formed batches.
func badBatchLog(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, "000009.log")
	f, err := vfs.Default.Create(path)
	require.NoError(t, err)
	w, err := wal.NewWriter(f, path, 9, wal.WriterOptions{})
	require.NoError(t, err)
	header := func(seq uint64, count uint32) []byte {
		b := binary.LittleEndian.AppendUint64(nil, seq)
		return binary.LittleEndian.AppendUint32(b, count)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, rec := range [][]byte{
		encodeBatch(1, batchOp{base.KindSet, []byte("k"), []byte("v")}),
		[]byte("short"),
		header(2, 0),
		cat(header(2, 2), []byte{1, 1, 'k', 1, 'v'}),
		cat(header(2, 1), []byte{7, 1, 'k'}),
		cat(header(2, 1), []byte{1, 9, 'k'}),
		cat(header(2, 1), []byte{1, 1, 'k', 5, 'v'}),
		cat(header(2, 1), []byte{0, 0}),
		cat(header(2, 1), []byte{0, 1, 'k', 'x', 'y'}),
		cat(header(2, 1), []byte{0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
		cat(header(2, 1), []byte{0, 0x81, 0x80, 0x04, 'k'}),
		header(uint64(base.SeqNumMax), 2),
		encodeBatch(2, batchOp{base.KindDelete, []byte("k"), nil}),
	} {
		_, err := w.Append(rec, true)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
}

// encodeBatch encodes a batch as docs/format/wal.md specifies: the model
// decodeBatch is checked against.
func encodeBatch(seq base.SeqNum, ops ...batchOp) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(seq))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ops)))
	for _, op := range ops {
		b = append(b, byte(op.kind))
		b = binary.AppendUvarint(b, uint64(len(op.key)))
		b = append(b, op.key...)
		if op.kind != base.KindDelete { // a SET's value, a RANGEDEL's end key
			b = binary.AppendUvarint(b, uint64(len(op.value)))
			b = append(b, op.value...)
		}
	}
	return b
}

// TestDecodeBatch: a batch the engine writes decodes to its operations,
// with keys and values byte for byte.
func TestDecodeBatch(t *testing.T) {
	ops := []batchOp{
		{base.KindSet, []byte("greeting"), []byte("hello")},
		{base.KindDelete, []byte("b"), nil},
		{base.KindSet, []byte("e"), nil},
		{base.KindSet, bytes.Repeat([]byte("k"), dkv.MaxKeySize), bytes.Repeat([]byte("v"), 300)},
	}
	b, err := decodeBatch(encodeBatch(7, ops...))
	require.NoError(t, err)
	require.Equal(t, base.SeqNum(7), b.seq)
	require.Equal(t, uint32(len(ops)), b.count)
	require.Len(t, b.ops, len(ops))
	for i, op := range ops {
		require.Equal(t, op.kind, b.ops[i].kind)
		require.Equal(t, string(op.key), string(b.ops[i].key))
		require.Equal(t, string(op.value), string(b.ops[i].value))
	}

	_, err = decodeBatch(encodeBatch(7, batchOp{base.KindSet, bytes.Repeat([]byte("k"), dkv.MaxKeySize+1), nil}))
	require.ErrorContains(t, err, "key length 65537 is above the limit of 65536")
}

// FuzzDecodeBatch: decodeBatch never panics, and what it accepts encodes
// back to the same bytes.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch(1, batchOp{base.KindSet, []byte("greeting"), []byte("hello")}))
	f.Add(encodeBatch(2, batchOp{base.KindSet, []byte("a"), []byte("1")}, batchOp{base.KindDelete, []byte("b"), nil}))
	f.Add([]byte{})
	f.Add(encodeBatch(base.SeqNumMax, batchOp{base.KindDelete, []byte("b"), nil}))
	f.Add(encodeBatch(3, batchOp{base.KindRangeDelete, []byte("a"), []byte("m")}))
	f.Fuzz(func(t *testing.T, rec []byte) {
		b, err := decodeBatch(rec)
		if err != nil {
			require.Nil(t, b.ops)
			return
		}
		require.Equal(t, rec, encodeBatch(b.seq, b.ops...))
	})
}
