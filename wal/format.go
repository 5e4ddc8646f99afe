package wal

import (
	"encoding/binary"
	"hash/crc32"

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
// log number, salt.
const fileHeaderSize = 8 + 4 + 8 + 8 // len(Magic) + version + log number + salt

// FileHeaderSize is the size of the file header chunk, framing included: a
// log file shorter than this holds no records and cannot be continued.
const FileHeaderSize = ChunkHeaderSize + fileHeaderSize

// sealSize is the size of a seal chunk: a header and the durable offset.
const sealSize = ChunkHeaderSize + 8

// ChunkType says how a chunk's payload relates to a record.
type ChunkType uint8

const (
	chunkZero   ChunkType = 0 // never written: zeros read as this
	ChunkFull   ChunkType = 1 // a whole record
	ChunkFirst  ChunkType = 2 // the first fragment of a record
	ChunkMiddle ChunkType = 3 // an inner fragment
	ChunkLast   ChunkType = 4 // the last fragment
	ChunkHeader ChunkType = 5 // the file header; only at offset 0
	ChunkSeal   ChunkType = 6 // "everything before me is durable"; written on Close
)

// saltSeed returns the CRC-32C state after the salt's bytes: every chunk
// after the header starts its checksum from it, so that bytes that were not
// written into this log as a chunk (a chunk stored inside a value, or one
// from another log) never pass as one.
func saltSeed(salt uint64) uint32 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], salt)
	return crc32.Update(0, base.Castagnoli, b[:])
}

// chunkChecksum is the masked CRC-32C, continued from seed, of a chunk's
// length, type and payload (the chunk's bytes after the checksum field).
// The file header chunk uses seed 0.
func chunkChecksum(seed uint32, lengthTypePayload []byte) uint32 {
	return base.MaskCRC(crc32.Update(seed, base.Castagnoli, lengthTypePayload))
}

// chunkAt parses the chunk at the start of b (which must not extend past the
// chunk's block). It returns the chunk's type and payload and ok=true only
// when the chunk is whole and its checksum, from seed, matches.
func chunkAt(b []byte, seed uint32) (typ ChunkType, payload []byte, ok bool) {
	if len(b) < ChunkHeaderSize {
		return 0, nil, false
	}
	n := int(binary.LittleEndian.Uint16(b[4:6]))
	typ = ChunkType(b[6])
	if typ < ChunkFull || typ > ChunkSeal || ChunkHeaderSize+n > len(b) {
		return typ, nil, false
	}
	if binary.LittleEndian.Uint32(b[0:4]) != chunkChecksum(seed, b[4:ChunkHeaderSize+n]) {
		return typ, nil, false
	}
	return typ, b[ChunkHeaderSize : ChunkHeaderSize+n], true
}

// appendChunk appends one chunk to buf, its checksum continued from seed.
// (Records are framed by Writer.emit; this writes headers and seals.)
func appendChunk(buf []byte, seed uint32, typ ChunkType, payload []byte) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, byte(typ))
	binary.LittleEndian.PutUint16(buf[start+4:], uint16(len(payload)))
	buf = append(buf, payload...)
	binary.LittleEndian.PutUint32(buf[start:], chunkChecksum(seed, buf[start+4:]))
	return buf
}

// appendFileHeader appends the payload of a file header chunk.
func appendFileHeader(buf []byte, logNum, salt uint64) []byte {
	buf = append(buf, Magic...)
	buf = binary.LittleEndian.AppendUint32(buf, Version)
	buf = binary.LittleEndian.AppendUint64(buf, logNum)
	return binary.LittleEndian.AppendUint64(buf, salt)
}
