// Package sstable is dkv's sorted table: an immutable file of internal keys
// and values in order, written once by a flush or a compaction and then
// only read. docs/format/sstable.md specifies the bytes.
//
// A table is a run of data blocks (about 4 KiB before compression, keys
// prefix-compressed between restart points), then a bloom filter over its
// user keys, an index block with one entry per data block, a properties
// block, a metaindex naming the filter and properties blocks, and a footer
// that locates the metaindex and the index. Every block carries a
// compression type and a CRC-32C.
//
// The main types:
//
//   - Writer writes a table in one pass from keys in increasing order,
//     holding one data block, the index and the filter's key hashes in
//     memory.
//   - Reader opens a table, checks its footer and metadata, and serves point
//     lookups (Get: bloom filter, index, one data block) and Iterators;
//     its size estimates (EstimateOffset, EstimateDiskUsage) use the index alone.
//   - Cache holds decoded data blocks shared by every table of a DB, in
//     shards so that concurrent readers do not contend on one lock.
//
// Ownership: values returned by Reader.Get and Iterator.Value point into
// immutable blocks and stay valid; Iterator.Key is valid until the
// iterator moves. Reader and Cache are safe for concurrent use; Writer and
// Iterator are not.
//
// Damaged bytes are reported as a *dkv.CorruptionError (matching
// dkv.ErrCorruption) naming the file and the offset of the block that
// failed its check, never returned as data.
package sstable
