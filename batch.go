package dkv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/distributedkv/dkv/internal/base"
)

// Batch is a group of writes applied atomically by DB.Write: after Write
// returns, and after any crash, either all of them are in the database or
// none is. Operations apply in the order they were added, so a later Put of a
// key overrides an earlier one in the same batch.
//
// Batch copies the keys and values it is given. A Batch is not safe for
// concurrent use. It may be written more than once and reused after Reset.
//
// A Put or Delete that breaks a limit (empty or oversized key, oversized
// value, batch past MaxBatchSize) returns an error matching
// ErrInvalidArgument and marks the batch: Write refuses it whole, so that an
// ignored error cannot drop one operation of an atomic group.
type Batch struct {
	// repr is the batch's encoding, which is also its write-ahead log
	// record (docs/format/wal.md, "Batch"): a 12-byte header (sequence
	// number, count) followed by the operations.
	repr   []byte
	count  uint32
	data   int // bytes of keys and values, for write amplification
	err    error
	closed bool // by Close: every later use is refused, a second Close does nothing
	// openEnded counts the range deletions without an end (encoded with an
	// empty one), which the write fixes (DB.resolveOpenEnds); reserved is
	// the room their ends may take then, which the size limit counts.
	openEnded int
	reserved  int
}

const batchHeaderSize = 12

// NewBatch returns an empty batch. Its buffer may be one a closed batch
// gave back (Close).
func (db *DB) NewBatch() *Batch { return &Batch{repr: getBatchBuf()} }

// Close gives the batch's buffer back for reuse by a later NewBatch: a
// program that writes many batches saves allocating and growing buffers.
// Closing is optional: an unclosed batch is garbage collected. After
// Close the batch is empty and refuses every use: Put, Delete,
// DeleteRange, Reset and DB.Write return an error matching ErrClosed. A
// second Close does nothing. Only the buffer is reused, never the Batch,
// so a stale Close cannot touch a batch another caller got from NewBatch.
func (b *Batch) Close() {
	if b.closed {
		return
	}
	b.closed = true
	putBatchBuf(b.repr)
	b.repr, b.count, b.data = nil, 0, 0
	b.err = errBatchClosed
}

// Put adds "set key to value" to the batch.
func (b *Batch) Put(key, value []byte) error {
	if err := b.check(key, value); err != nil {
		return err
	}
	b.add(base.KindSet, key, value)
	return nil
}

// Delete adds "delete key" to the batch. Deleting a missing key is not an
// error.
func (b *Batch) Delete(key []byte) error {
	if err := b.check(key, nil); err != nil {
		return err
	}
	b.add(base.KindDelete, key, nil)
	return nil
}

// DeleteRange adds "delete every key k with start <= k < end" to the batch.
// It costs one operation however many keys the range holds: a range
// tombstone that reads, iterators, snapshots and compaction respect, and
// that compaction drops with the data it covers. A key written after the
// DeleteRange (later in the batch, or by a later write) is not deleted.
// A nil (or empty) start or end is unbounded, as everywhere in dkv:
// DeleteRange(nil, nil) deletes every key. An empty range (start == end)
// deletes nothing and adds nothing; start above end is an error.
//
// An unbounded end is fixed when the batch is written, under the DB's
// commit lock: the tombstone then ends just past the largest key the
// database and the batch's earlier operations hold, which is the same as
// no end for every key it can delete.
func (b *Batch) DeleteRange(start, end []byte) error {
	if b.err != nil {
		return b.err
	}
	if len(start) == 0 {
		start = minKey
	}
	if len(end) == 0 {
		// The end the write fixes may be MaxKeySize+1 bytes: the batch
		// must have room for it.
		if err := b.checkOp(start, MaxKeySize+1); err != nil {
			return err
		}
		b.add(base.KindRangeDelete, start, nil)
		b.openEnded++
		b.reserved += MaxKeySize + 1
		return nil
	}
	if err := checkKey(end); err != nil {
		return b.refuse(fmt.Errorf("DeleteRange end: %w", err))
	}
	if err := b.check(start, end); err != nil {
		return err
	}
	switch c := bytes.Compare(start, end); {
	case c > 0:
		return b.refuse(fmt.Errorf("%w: DeleteRange start %q is above end %q", ErrInvalidArgument, start, end))
	case c == 0:
		return nil
	}
	b.add(base.KindRangeDelete, start, end)
	return nil
}

// minKey is the smallest key: keys are never empty.
var minKey = []byte{0}

// Len returns the number of operations in the batch.
func (b *Batch) Len() int { return int(b.count) }

// Size returns the size in bytes of the batch's encoding. A DeleteRange
// without an end adds the end the write fixes to the log record, up to
// MaxKeySize+1 bytes more (the limit MaxBatchSize counts them).
func (b *Batch) Size() int { return len(b.repr) }

// Reset empties the batch, and clears an error left by a refused operation,
// keeping its memory for reuse. A closed batch stays closed.
func (b *Batch) Reset() {
	if b.closed {
		return
	}
	b.repr = b.repr[:0]
	b.count = 0
	b.data = 0
	b.err = nil
	b.openEnded, b.reserved = 0, 0
}

// check validates an operation before it is added, and marks the batch if
// the operation is refused.
func (b *Batch) check(key, value []byte) error { return b.checkOp(key, len(value)) }

// checkOp is check for an operation whose value (or range end) takes
// valueLen bytes.
func (b *Batch) checkOp(key []byte, valueLen int) error {
	if b.err != nil {
		return b.err
	}
	err := checkKey(key)
	if err == nil && valueLen > MaxValueSize {
		err = fmt.Errorf("%w: value of %d bytes exceeds MaxValueSize (%d)", ErrInvalidArgument, valueLen, MaxValueSize)
	}
	if err == nil && max(len(b.repr), batchHeaderSize)+b.reserved+1+2*binary.MaxVarintLen32+len(key)+valueLen > MaxBatchSize {
		err = fmt.Errorf("%w: batch would exceed MaxBatchSize (%d bytes)", ErrInvalidArgument, MaxBatchSize)
	}
	if err == nil && b.count == math.MaxUint32 {
		err = fmt.Errorf("%w: batch holds the most operations it can", ErrInvalidArgument)
	}
	if err != nil {
		return b.refuse(err)
	}
	return nil
}

// refuse marks the batch as refused by err, and returns err.
func (b *Batch) refuse(err error) error {
	b.err = fmt.Errorf("%w (the batch is refused; Reset it to reuse it)", err)
	return err
}

// checkRangeEnd checks a range deletion's end in a batch read back: a key,
// or one byte longer than MaxKeySize, which an unbounded end past the
// largest possible key becomes (see DB.resolveOpenEnds).
func checkRangeEnd(end []byte) error {
	if len(end) == MaxKeySize+1 && bytes.Equal(end, maxRangeEnd) {
		return nil
	}
	return checkKey(end)
}

// maxRangeEnd is the end of an unbounded range deletion when the largest
// key is the largest possible one: MaxKeySize bytes 0xff, then 0.
var maxRangeEnd = append(bytes.Repeat([]byte{0xff}, MaxKeySize), 0)

func checkKey(key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("%w: empty key", ErrInvalidArgument)
	}
	if len(key) > MaxKeySize {
		return fmt.Errorf("%w: key of %d bytes exceeds MaxKeySize (%d)", ErrInvalidArgument, len(key), MaxKeySize)
	}
	return nil
}

// add appends one operation: kind, uvarint key length, key and, for a Set,
// uvarint value length and value (for a range deletion: the end key).
func (b *Batch) add(kind base.Kind, key, value []byte) {
	if len(b.repr) < batchHeaderSize {
		b.repr = append(b.repr[:0], make([]byte, batchHeaderSize)...)
	}
	b.repr = appendOp(b.repr, kind, key, value)
	b.count++
	b.data += len(key) + len(value)
	binary.LittleEndian.PutUint32(b.repr[8:12], b.count)
}

// appendOp appends one operation's encoding to repr.
func appendOp(repr []byte, kind base.Kind, key, value []byte) []byte {
	repr = append(repr, byte(kind))
	repr = binary.AppendUvarint(repr, uint64(len(key)))
	repr = append(repr, key...)
	if kind != base.KindDelete {
		repr = binary.AppendUvarint(repr, uint64(len(value)))
		repr = append(repr, value...)
	}
	return repr
}

// setSeqNum stamps the batch with the sequence number of its first
// operation; operation i gets seq+i.
func (b *Batch) setSeqNum(seq base.SeqNum) { setBatchSeqNum(b.repr, seq) }

func setBatchSeqNum(repr []byte, seq base.SeqNum) {
	binary.LittleEndian.PutUint64(repr[0:8], uint64(seq))
}

// batchOp is one decoded operation. Key and Value point into the encoding.
type batchOp struct {
	Kind  base.Kind
	Key   []byte
	Value []byte
}

// batchReader walks a batch encoding. It is used on the DB's own batches and
// on records read back from the log, so it checks every length against the
// bytes that remain and never allocates.
type batchReader struct {
	data []byte // the operations not yet read
	off  int    // offset of data[0] in the whole encoding
}

var errBatchTruncated = errors.New("operation runs past the end of the batch")

// decodeBatchHeader splits a batch encoding into its header fields and a
// reader over its operations.
func decodeBatchHeader(repr []byte) (seq base.SeqNum, count uint32, r batchReader, err error) {
	if len(repr) < batchHeaderSize {
		return 0, 0, batchReader{}, fmt.Errorf("batch of %d bytes is shorter than its %d-byte header", len(repr), batchHeaderSize)
	}
	seq = base.SeqNum(binary.LittleEndian.Uint64(repr[0:8]))
	count = binary.LittleEndian.Uint32(repr[8:12])
	return seq, count, batchReader{data: repr[batchHeaderSize:], off: batchHeaderSize}, nil
}

// next decodes the next operation. ok is false at the end of the batch.
func (r *batchReader) next() (op batchOp, ok bool, err error) {
	if len(r.data) == 0 {
		return batchOp{}, false, nil
	}
	op.Kind = base.Kind(r.data[0])
	if !op.Kind.Valid() {
		return batchOp{}, false, fmt.Errorf("unknown operation kind %d at batch offset %d", op.Kind, r.off)
	}
	p := r.data[1:]
	if op.Key, p, err = takeBytes(p); err != nil {
		return batchOp{}, false, fmt.Errorf("key at batch offset %d: %w", r.off, err)
	}
	if op.Kind != base.KindDelete {
		if op.Value, p, err = takeBytes(p); err != nil {
			return batchOp{}, false, fmt.Errorf("value at batch offset %d: %w", r.off, err)
		}
	}
	r.off += len(r.data) - len(p)
	r.data = p
	return op, true, nil
}

// takeBytes splits a uvarint-length-prefixed byte string off p.
func takeBytes(p []byte) (s, rest []byte, err error) {
	n, w := binary.Uvarint(p)
	if w <= 0 {
		return nil, nil, errors.New("bad length prefix")
	}
	if n > uint64(len(p)-w) {
		return nil, nil, errBatchTruncated
	}
	end := w + int(n)
	return p[w:end:end], p[end:], nil
}

// checkBatch decodes a whole batch encoding read from disk and checks it is
// well formed: known kinds, lengths within the bytes, keys within limits and
// exactly count operations. It returns the header fields.
func checkBatch(repr []byte) (seq base.SeqNum, count uint32, err error) {
	seq, count, r, err := decodeBatchHeader(repr)
	if err != nil {
		return 0, 0, err
	}
	if count == 0 {
		return 0, 0, errors.New("batch with no operations")
	}
	var n uint32
	for {
		op, ok, err := r.next()
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			break
		}
		if err := checkKey(op.Key); err != nil {
			return 0, 0, fmt.Errorf("operation %d: %v", n, err)
		}
		if len(op.Value) > MaxValueSize {
			return 0, 0, fmt.Errorf("operation %d: value of %d bytes exceeds MaxValueSize", n, len(op.Value))
		}
		if op.Kind == base.KindRangeDelete {
			if err := checkRangeEnd(op.Value); err != nil {
				return 0, 0, fmt.Errorf("operation %d: range deletion end: %v", n, err)
			}
			if bytes.Compare(op.Key, op.Value) >= 0 {
				return 0, 0, fmt.Errorf("operation %d: range deletion [%q, %q) is empty", n, op.Key, op.Value)
			}
		}
		n++
	}
	if n != count {
		return 0, 0, fmt.Errorf("batch header counts %d operations, the batch holds %d", count, n)
	}
	if seq == 0 || uint64(seq)+uint64(count)-1 > uint64(base.SeqNumMax) {
		return 0, 0, fmt.Errorf("batch sequence numbers %d..%d are out of range", seq, uint64(seq)+uint64(count)-1)
	}
	return seq, count, nil
}
