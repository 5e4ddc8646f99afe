package base

import "hash/crc32"

// Castagnoli is the CRC-32C table, for formats that compute a checksum in
// pieces (crc32.Update) before masking it with MaskCRC.
var Castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcMaskDelta is added after rotating a checksum (see MaskedCRC).
const crcMaskDelta = 0xa282ead8

// MaskedCRC returns the masked CRC-32C (Castagnoli) of the concatenation of
// parts: the checksum every dkv file format stores. The mask — rotate right
// by 15 bits, add 0xa282ead8 — keeps a checksum computed over bytes that
// themselves hold checksums from degenerating (LevelDB's trick). The
// polynomial is computed in hardware on amd64 and arm64.
func MaskedCRC(parts ...[]byte) uint32 {
	var crc uint32
	for _, p := range parts {
		crc = crc32.Update(crc, Castagnoli, p)
	}
	return MaskCRC(crc)
}

// MaskCRC masks a CRC-32C as MaskedCRC does.
func MaskCRC(crc uint32) uint32 { return crc>>15 | crc<<17 + crcMaskDelta }
