package wal

import (
	"encoding/binary"

	"github.com/distributedkv/dkv/internal/base"
)

// The log format; docs/format/wal.md is its specification.
const (
	// BlockSize is the unit the log is cut into. A chunk never crosses a
	// block boundary, so a reader can find chunk starts after damage.
	BlockSize = 32 << 10

	// ChunkHeaderSize is the size of a chunk header: checksum (4), length
	// (2), type (1).
	ChunkHeaderSize = 7

	// Version is the format version written in every file header.
	Version = 1

	// RecordPrefixSize is the size of the field that starts every record:
	// the log offset known durable when the record was appended.
	RecordPrefixSize = 8

	// MaxRecordSize bounds one record. Readers refuse longer ones, so that
	// damaged bytes can never make them allocate more.
	MaxRecordSize = 1<<30 + 1<<20
)

// Magic opens the payload of every file header chunk.
const Magic = "dkv-wal\n"

// fileHeaderSize is the payload of the file header chunk: magic, version,
// log number.
const fileHeaderSize = 8 + 4 + 8 // len(Magic) + version + log number

// FileHeaderSize is the size of the file header chunk, framing included: a
// log file shorter than this holds no records and cannot be continued.
const FileHeaderSize = ChunkHeaderSize + fileHeaderSize

// ChunkType says how a chunk's payload relates to a record.
type ChunkType uint8

const (
	chunkZero   ChunkType = 0 // never written: zeros read as this
	ChunkFull   ChunkType = 1 // a whole record
	ChunkFirst  ChunkType = 2 // the first fragment of a record
	ChunkMiddle ChunkType = 3 // an inner fragment
	ChunkLast   ChunkType = 4 // the last fragment
	ChunkHeader ChunkType = 5 // the file header; only at offset 0
)

// chunkChecksum is the masked CRC-32C of a chunk's length, type and payload,
// which are the chunk's bytes after the checksum field.
func chunkChecksum(lengthTypePayload []byte) uint32 {
	return base.MaskedCRC(lengthTypePayload)
}

// chunkAt parses the chunk at the start of b (which must not extend past the
// chunk's block). It returns the chunk's type and payload and ok=true only
// when the chunk is whole and its checksum matches.
func chunkAt(b []byte) (typ ChunkType, payload []byte, ok bool) {
	if len(b) < ChunkHeaderSize {
		return 0, nil, false
	}
	n := int(binary.LittleEndian.Uint16(b[4:6]))
	typ = ChunkType(b[6])
	if typ < ChunkFull || typ > ChunkHeader || ChunkHeaderSize+n > len(b) {
		return typ, nil, false
	}
	if binary.LittleEndian.Uint32(b[0:4]) != chunkChecksum(b[4:ChunkHeaderSize+n]) {
		return typ, nil, false
	}
	return typ, b[ChunkHeaderSize : ChunkHeaderSize+n], true
}

// appendChunk appends one chunk to buf. (Records are framed by
// Writer.emit; this writes the file header.)
func appendChunk(buf []byte, typ ChunkType, payload []byte) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, byte(typ))
	binary.LittleEndian.PutUint16(buf[start+4:], uint16(len(payload)))
	buf = append(buf, payload...)
	binary.LittleEndian.PutUint32(buf[start:], chunkChecksum(buf[start+4:]))
	return buf
}

// appendFileHeader appends the payload of a file header chunk.
func appendFileHeader(buf []byte, logNum uint64) []byte {
	buf = append(buf, Magic...)
	buf = binary.LittleEndian.AppendUint32(buf, Version)
	return binary.LittleEndian.AppendUint64(buf, logNum)
}
