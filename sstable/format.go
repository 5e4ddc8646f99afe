package sstable

import (
	"encoding/binary"
	"fmt"

	"github.com/distributedkv/dkv/internal/base"
)

// The table format; docs/format/sstable.md is its specification.
const (
	// FormatVersion is written in every footer. Version 2 added the
	// range-deletion block; a version 1 table (which has none) is read
	// as before. A reader that knows only version 1 refuses version 2
	// rather than ignore tombstones it cannot see.
	FormatVersion = 2

	// minFormatVersion is the oldest version this build reads.
	minFormatVersion = 1

	// Magic ends every table.
	Magic = "dkvtable"

	// FooterSize is the fixed size of the footer at the end of a table.
	FooterSize = 48

	// blockTrailerSize follows every block: the compression type (1 byte)
	// and the masked CRC-32C of the stored block and that byte (4 bytes).
	blockTrailerSize = 5

	// DefaultBlockSize is the target size of an uncompressed data block.
	DefaultBlockSize = 4 << 10

	// DefaultRestartInterval is the number of keys between restart points
	// in data blocks.
	DefaultRestartInterval = 16

	// maxDecodedBlock bounds a decompressed block: a value may be 256 MiB,
	// so a block may be that large, but no block is larger than this.
	maxDecodedBlock = 1 << 30
)

// Names in the metaindex block.
const (
	metaFilterName     = "dkv.filter.bloom"
	metaPropertiesName = "dkv.properties"
	metaRangeDelName   = "dkv.rangedel"
)

// Compression names the algorithm a block was compressed with. The values
// are stored in block trailers: never renumber them.
type Compression uint8

const (
	// NoCompression stores blocks as they are.
	NoCompression Compression = 0
	// SnappyCompression is Snappy's block format (written by
	// klauspost/compress/s2 in its Snappy-compatible mode).
	SnappyCompression Compression = 1
	// ZstdCompression is a Zstandard frame.
	ZstdCompression Compression = 2
)

func (c Compression) String() string {
	switch c {
	case NoCompression:
		return "none"
	case SnappyCompression:
		return "snappy"
	case ZstdCompression:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", uint8(c))
}

// ParseCompression returns the Compression named s ("none", "snappy",
// "zstd").
func ParseCompression(s string) (Compression, error) {
	for _, c := range []Compression{NoCompression, SnappyCompression, ZstdCompression} {
		if c.String() == s {
			return c, nil
		}
	}
	return 0, fmt.Errorf("sstable: unknown compression %q (want none, snappy or zstd)", s)
}

// BlockHandle locates a block: its offset in the file and its stored length,
// trailer excluded.
type BlockHandle struct {
	Offset uint64
	Length uint64
}

// appendHandle appends h as two uvarints.
func appendHandle(dst []byte, h BlockHandle) []byte {
	dst = binary.AppendUvarint(dst, h.Offset)
	return binary.AppendUvarint(dst, h.Length)
}

// decodeHandle parses a handle encoded by appendHandle and returns the
// bytes after it.
func decodeHandle(b []byte) (BlockHandle, []byte, bool) {
	off, n := binary.Uvarint(b)
	if n <= 0 {
		return BlockHandle{}, nil, false
	}
	length, m := binary.Uvarint(b[n:])
	if m <= 0 {
		return BlockHandle{}, nil, false
	}
	return BlockHandle{Offset: off, Length: length}, b[n+m:], true
}

// footer is the fixed-size end of a table:
//
//	metaindex offset, metaindex length, index offset, index length: uint64 each
//	format version: uint32
//	checksum: uint32, masked CRC-32C of the 36 bytes before it
//	magic: "dkvtable"
type footer struct {
	metaindex BlockHandle
	index     BlockHandle
	version   uint32
}

func (f footer) encode() []byte {
	b := make([]byte, 0, FooterSize)
	b = binary.LittleEndian.AppendUint64(b, f.metaindex.Offset)
	b = binary.LittleEndian.AppendUint64(b, f.metaindex.Length)
	b = binary.LittleEndian.AppendUint64(b, f.index.Offset)
	b = binary.LittleEndian.AppendUint64(b, f.index.Length)
	b = binary.LittleEndian.AppendUint32(b, f.version)
	b = binary.LittleEndian.AppendUint32(b, base.MaskedCRC(b))
	return append(b, Magic...)
}

// decodeFooter parses the last FooterSize bytes of a table. The errors are
// reasons for a corruption error; the caller adds the file and offset.
func decodeFooter(b []byte) (footer, error) {
	if len(b) != FooterSize {
		return footer{}, fmt.Errorf("footer is %d bytes, want %d", len(b), FooterSize)
	}
	if string(b[40:]) != Magic {
		return footer{}, fmt.Errorf("bad magic %q: not a dkv table", b[40:])
	}
	if got, want := binary.LittleEndian.Uint32(b[36:40]), base.MaskedCRC(b[:36]); got != want {
		return footer{}, fmt.Errorf("footer checksum mismatch")
	}
	f := footer{
		metaindex: BlockHandle{binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])},
		index:     BlockHandle{binary.LittleEndian.Uint64(b[16:]), binary.LittleEndian.Uint64(b[24:])},
		version:   binary.LittleEndian.Uint32(b[32:36]),
	}
	if f.version < minFormatVersion || f.version > FormatVersion {
		return footer{}, fmt.Errorf("%w %d (this build reads versions %d to %d)", errVersion, f.version, minFormatVersion, FormatVersion)
	}
	return f, nil
}
