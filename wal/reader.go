package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/distributedkv/dkv/internal/base"
)

// Tail describes how a log ended, once Reader.Next has returned io.EOF.
type Tail struct {
	// End is the offset just past the last whole record: the length the
	// file should have.
	End int64
	// Torn is set when bytes after End were the remains of an interrupted
	// append (nothing whole follows them). Recovery truncates the file to
	// End.
	Torn bool
	// Reason says what was wrong with the torn bytes.
	Reason string
}

// Reader reads the records of one log file in order.
//
// Next returns every whole record; then io.EOF. Damage is judged by what
// follows it (docs/format/wal.md, "Recovery"): when no intact record after
// the first damaged byte shows that byte had been fsynced, the damage is a
// torn tail — appends a crash interrupted — and Next returns io.EOF with
// Tail().Torn set. When one does, synced bytes are damaged, and Next returns
// a *base.CorruptionError naming the file and the offset of the damage. A
// Reader never skips a record silently.
//
// A Reader holds at most one block plus one record in memory, and the record
// is bounded by MaxRecordSize whatever the bytes say.
type Reader struct {
	r      io.ReaderAt
	size   int64
	name   string
	logNum base.FileNum

	block      []byte // the block that holds off
	blockStart int64  // file offset of block[0]; -1 when none is loaded
	off        int64  // file offset of the next chunk
	rec        []byte // the record being reassembled
	recStart   int64  // file offset of its first chunk
	inRecord   bool
	headerRead bool   // the file header was read: seed is known
	seed       uint32 // checksum seed from the header's salt
	err        error
	tail       Tail
}

// NewReader returns a Reader of the log of number logNum held by r, which is
// size bytes long. name is used in errors.
func NewReader(r io.ReaderAt, size int64, name string, logNum base.FileNum) *Reader {
	return &Reader{r: r, size: size, name: name, logNum: logNum, blockStart: -1}
}

// Next returns the next record. The slice is valid until the following call.
// At the end of the log it returns io.EOF; see Tail.
func (r *Reader) Next() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	rec, err := r.next()
	if err != nil {
		r.err = err
		return nil, err
	}
	return rec, nil
}

// Tail describes the end of the log. It is meaningful once Next has returned
// io.EOF.
func (r *Reader) Tail() Tail { return r.tail }

// Offset returns the file offset of the start of the record most recently
// returned by Next.
func (r *Reader) Offset() int64 { return r.recStart }

func (r *Reader) next() ([]byte, error) {
	r.rec = r.rec[:0]
	r.inRecord = false
	for {
		if r.off >= r.size {
			if r.inRecord {
				return r.damaged(r.size, "log ends inside a record")
			}
			r.tail = Tail{End: min(r.off, r.size)}
			return nil, io.EOF
		}
		inBlock := int(r.off % BlockSize)
		if left := BlockSize - inBlock; left < ChunkHeaderSize || (!r.inRecord && left < ChunkHeaderSize+RecordPrefixSize) {
			// Padding: the writer starts no chunk where its header would
			// not fit, and no record where its prefix would not.
			r.off += int64(left)
			continue
		}
		if err := r.load(r.off - int64(inBlock)); err != nil {
			return nil, err
		}
		chunkOff := r.off
		seed := r.seed
		if chunkOff == 0 {
			seed = 0 // the header's checksum is not salted
		}
		typ, payload, ok := chunkAt(r.block[inBlock:], seed)
		if !ok {
			if chunkOff == 0 && r.size > int64(FileHeaderSize) {
				// The header is written and synced before anything else,
				// so only a file no longer than it can hold a torn one.
				return nil, r.corrupt(0, "bad file header: %s", r.describe(0))
			}
			return r.damaged(chunkOff, r.describe(inBlock))
		}
		r.off += int64(ChunkHeaderSize + len(payload))
		if chunkOff == 0 {
			if typ != ChunkHeader {
				return nil, r.corrupt(0, "log does not start with a file header")
			}
			if err := r.checkFileHeader(payload); err != nil {
				return nil, err
			}
			continue
		}
		switch typ {
		case ChunkHeader:
			return nil, r.corrupt(chunkOff, "file header chunk inside the log")
		case ChunkSeal:
			if r.inRecord {
				return nil, r.corrupt(chunkOff, "seal inside the record at offset %d", r.recStart)
			}
			if len(payload) != 8 || int64(binary.LittleEndian.Uint64(payload)) > chunkOff {
				return nil, r.corrupt(chunkOff, "bad seal")
			}
		case ChunkFull, ChunkFirst:
			if r.inRecord {
				return nil, r.corrupt(chunkOff, "record at offset %d has no last fragment", r.recStart)
			}
			if len(payload) < RecordPrefixSize {
				return nil, r.corrupt(chunkOff, "first chunk of a record holds %d bytes, less than the record prefix", len(payload))
			}
			if d := int64(binary.LittleEndian.Uint64(payload)); d > chunkOff {
				return nil, r.corrupt(chunkOff, "record says the log was durable up to %d, past the record itself", d)
			}
			r.recStart, r.inRecord = chunkOff, true
			r.rec = append(r.rec, payload[RecordPrefixSize:]...)
			if typ == ChunkFull {
				return r.rec, nil
			}
		case ChunkMiddle, ChunkLast:
			if !r.inRecord {
				return nil, r.corrupt(chunkOff, "fragment without a first fragment")
			}
			if len(r.rec)+len(payload) > MaxRecordSize {
				return nil, r.corrupt(r.recStart, "record longer than %d bytes", MaxRecordSize)
			}
			r.rec = append(r.rec, payload...)
			if typ == ChunkLast {
				return r.rec, nil
			}
		}
	}
}

// load makes block hold the block starting at start.
func (r *Reader) load(start int64) error {
	if r.blockStart == start {
		return nil
	}
	n := min(int64(BlockSize), r.size-start)
	if cap(r.block) < BlockSize {
		r.block = make([]byte, BlockSize)
	}
	r.block = r.block[:n]
	if m, err := r.r.ReadAt(r.block, start); err != nil && !(errors.Is(err, io.EOF) && m == len(r.block)) {
		r.blockStart = -1
		return fmt.Errorf("wal: read %s at offset %d: %w", r.name, start, err)
	}
	r.blockStart = start
	return nil
}

// describe says why the chunk at inBlock of the loaded block failed.
func (r *Reader) describe(inBlock int) string {
	b := r.block[inBlock:]
	if len(b) < ChunkHeaderSize {
		return "chunk header cut short"
	}
	n := int(binary.LittleEndian.Uint16(b[4:6]))
	switch typ := ChunkType(b[6]); {
	case typ == chunkZero && n == 0 && binary.LittleEndian.Uint32(b) == 0:
		return "zeroed bytes where a chunk should start"
	case typ > ChunkHeader || typ == chunkZero:
		return fmt.Sprintf("unknown chunk type %d", typ)
	case ChunkHeaderSize+n > BlockSize-inBlock:
		return fmt.Sprintf("chunk length %d crosses the block boundary", n)
	case ChunkHeaderSize+n > len(b):
		return fmt.Sprintf("chunk length %d runs past the end of the file", n)
	}
	return "chunk checksum mismatch"
}

// damaged decides whether the damage at off is a torn tail or corruption.
// Every record starts with the offset up to which the log was known durable
// when it was appended. If an intact record after the damage says the log
// was durable past off, the damaged bytes had been fsynced: corruption.
// Otherwise they were never known durable — the remains of appends that a
// crash interrupted, possibly reaching the disk out of order — and the log
// ends at the record that holds them.
func (r *Reader) damaged(off int64, reason string) ([]byte, error) {
	start := off
	if r.inRecord {
		start = r.recStart
	}
	durable, at, err := r.maxDurableAfter(off)
	if err != nil {
		return nil, err
	}
	if durable > off {
		return nil, r.corrupt(off, "%s (the intact record at offset %d shows the log was durable up to offset %d)",
			reason, at, durable)
	}
	r.tail = Tail{End: start, Torn: true, Reason: fmt.Sprintf("%s at offset %d", reason, off)}
	r.rec = r.rec[:0]
	return nil, io.EOF
}

// maxDurableAfter finds the intact first chunks of records that start after
// off and returns the largest durable offset they carry, and where. Every
// byte offset is tried, not only block starts, because damage can be
// followed by whole chunks in the same block.
func (r *Reader) maxDurableAfter(off int64) (durable, at int64, err error) {
	durable, at = -1, -1
	for start := off - off%BlockSize; start < r.size; start += BlockSize {
		if err := r.load(start); err != nil {
			return 0, 0, err
		}
		i := 0
		if off >= start {
			i = int(off-start) + 1
		}
		for i+ChunkHeaderSize <= len(r.block) {
			typ := ChunkType(r.block[i+6])
			if typ < ChunkFull || typ > ChunkSeal || typ == ChunkHeader { // cheap test first
				i++
				continue
			}
			_, payload, ok := chunkAt(r.block[i:], r.seed)
			if !ok {
				i++
				continue
			}
			q := start + int64(i)
			if (typ == ChunkFull || typ == ChunkFirst || typ == ChunkSeal) && len(payload) >= RecordPrefixSize {
				if d := int64(binary.LittleEndian.Uint64(payload)); d <= q && d > durable {
					durable, at = d, q
				}
			}
			i += ChunkHeaderSize + len(payload)
		}
	}
	return durable, at, nil
}

func (r *Reader) checkFileHeader(p []byte) error {
	if len(p) != fileHeaderSize || string(p[:len(Magic)]) != Magic {
		return r.corrupt(0, "bad file header")
	}
	if v := binary.LittleEndian.Uint32(p[len(Magic):]); v != Version {
		return fmt.Errorf("wal: %s has format version %d; this build reads version %d", r.name, v, Version)
	}
	if n := base.FileNum(binary.LittleEndian.Uint64(p[len(Magic)+4:])); n != r.logNum {
		return r.corrupt(0, "file header names log %s", n)
	}
	r.seed = saltSeed(binary.LittleEndian.Uint64(p[len(Magic)+12:]))
	r.headerRead = true
	return nil
}

func (r *Reader) corrupt(off int64, format string, args ...any) error {
	return base.CorruptionErrorf(r.name, off, format, args...)
}
