package sstable

import (
	"fmt"
	"slices"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// The zstd encoder and decoder are built once and shared: EncodeAll and
// DecodeAll are safe for concurrent use.
var (
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(fmt.Sprintf("sstable: zstd encoder: %v", err)) // fixed options: a programming error
		}
		return e
	})
	zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxDecodedBlock))
		if err != nil {
			panic(fmt.Sprintf("sstable: zstd decoder: %v", err))
		}
		return d
	})
)

// compressBlock appends raw, compressed with c, to dst. A block that does not
// shrink by at least an eighth is stored raw: decompressing it would cost
// more than the bytes it saves. It returns the stored bytes and the
// compression actually used.
//
// dst's spare capacity is grown to the most the compressor may write, so
// that it compresses in place: a Writer passes the same scratch buffer for
// every block and allocates it once.
func compressBlock(dst []byte, c Compression, raw []byte) ([]byte, Compression) {
	var out []byte
	switch c {
	case SnappyCompression:
		n := s2.MaxEncodedLen(len(raw))
		if n < 0 {
			return append(dst, raw...), NoCompression // too large for snappy
		}
		dst = slices.Grow(dst, n)
		out = s2.EncodeSnappy(dst[len(dst):len(dst)+n], raw)
	case ZstdCompression:
		dst = slices.Grow(dst, len(raw)+len(raw)/8+64)
		out = zstdEncoder().EncodeAll(raw, dst[len(dst):len(dst)])
	default:
		return append(dst, raw...), NoCompression
	}
	if len(out) >= len(raw)-len(raw)/8 {
		return append(dst, raw...), NoCompression
	}
	if len(out) > 0 && &out[0] == &dst[len(dst):cap(dst)][0] {
		return dst[:len(dst)+len(out)], c // compressed in place
	}
	return append(dst, out...), c
}

// decompressBlock returns the decompressed contents of a stored block, in
// a buffer from alloc (the whole buffer alloc returned, resliced). The
// stored bytes have passed their checksum; the limits here guard against
// a compressor's header that lies all the same.
func decompressBlock(c Compression, stored []byte, alloc func(n int) []byte) ([]byte, error) {
	switch c {
	case NoCompression:
		out := alloc(len(stored))
		copy(out, stored)
		return out, nil
	case SnappyCompression:
		n, err := s2.DecodedLen(stored)
		if err != nil {
			return nil, fmt.Errorf("snappy: %v", err)
		}
		if n > maxDecodedBlock {
			return nil, fmt.Errorf("snappy block claims %d bytes", n)
		}
		buf := alloc(n)
		out, err := s2.Decode(buf, stored)
		if err != nil {
			return nil, fmt.Errorf("snappy: %v", err)
		}
		if len(out) != n || (n > 0 && &out[0] != &buf[0]) {
			return nil, fmt.Errorf("snappy: decoded %d bytes of %d elsewhere", len(out), n)
		}
		return out, nil
	case ZstdCompression:
		var h zstd.Header
		if err := h.Decode(stored); err == nil && h.HasFCS && h.FrameContentSize <= maxDecodedBlock {
			// The frame says its size: decode straight into the buffer.
			buf := alloc(int(h.FrameContentSize))
			out, err := zstdDecoder().DecodeAll(stored, buf[:0])
			if err != nil {
				return nil, fmt.Errorf("zstd: %v", err)
			}
			if len(out) != len(buf) || (len(out) > 0 && &out[0] != &buf[0]) {
				return nil, fmt.Errorf("zstd: the frame holds %d bytes, its header says %d", len(out), len(buf))
			}
			return out, nil
		}
		out, err := zstdDecoder().DecodeAll(stored, nil)
		if err != nil {
			return nil, fmt.Errorf("zstd: %v", err)
		}
		buf := alloc(len(out))
		copy(buf, out)
		return buf, nil
	}
	return nil, fmt.Errorf("unknown compression type %d", uint8(c))
}
