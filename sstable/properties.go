package sstable

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/distributedkv/dkv/internal/base"
)

// Properties describe a table. They are stored in the properties block as
// name → value entries (numbers as uvarints), so that readers skip names
// they do not know and new properties need no format change.
type Properties struct {
	NumEntries   uint64 // versions of keys, tombstones included
	NumDeletions uint64 // tombstones
	// NumRangeDeletions counts the range-deletion block's entries: one
	// per fragment and sequence number (rangedel.Tombstones).
	NumRangeDeletions uint64
	RangeDelSize      uint64 // stored bytes of the range-deletion block
	NumDataBlocks     uint64
	RawKeySize        uint64 // sum of the internal keys' lengths
	RawValueSize      uint64 // sum of the values' lengths
	DataSize          uint64 // stored bytes of the data blocks, trailers included
	IndexSize         uint64 // stored bytes of the index block
	FilterSize        uint64 // stored bytes of the filter block
	SmallestSeq       uint64
	LargestSeq        uint64
	// SmallestKey and LargestKey bound the table's keys, encoded (user
	// key followed by the 8-byte trailer): the first and last point keys,
	// widened to cover the range tombstones — the first one's start, and
	// the exclusive sentinel of the last one's end
	// (base.MakeExclusiveSentinel).
	SmallestKey []byte
	LargestKey  []byte
	// Compression is the table's configured compression; blocks that did
	// not shrink are stored raw whatever it says.
	Compression     string
	ComparerName    string
	BloomBitsPerKey uint64
}

// Smallest returns the first internal key.
func (p *Properties) Smallest() InternalKey {
	k, _ := base.DecodeInternalKey(p.SmallestKey)
	return k
}

// Largest returns the last internal key.
func (p *Properties) Largest() InternalKey {
	k, _ := base.DecodeInternalKey(p.LargestKey)
	return k
}

// propertyFields lists every property with its name, in name order (the
// order of the block).
func (p *Properties) fields() []propertyField {
	return []propertyField{
		{"dkv.bloom.bits-per-key", &p.BloomBitsPerKey, nil},
		{"dkv.comparer", nil, (*stringProp)(&p.ComparerName)},
		{"dkv.compression", nil, (*stringProp)(&p.Compression)},
		{"dkv.data.blocks", &p.NumDataBlocks, nil},
		{"dkv.data.size", &p.DataSize, nil},
		{"dkv.filter.size", &p.FilterSize, nil},
		{"dkv.index.size", &p.IndexSize, nil},
		{"dkv.key.largest", nil, (*bytesProp)(&p.LargestKey)},
		{"dkv.key.smallest", nil, (*bytesProp)(&p.SmallestKey)},
		{"dkv.num.deletions", &p.NumDeletions, nil},
		{"dkv.num.entries", &p.NumEntries, nil},
		{"dkv.num.range-deletions", &p.NumRangeDeletions, nil},
		{"dkv.range-deletion.size", &p.RangeDelSize, nil},
		{"dkv.raw.key.size", &p.RawKeySize, nil},
		{"dkv.raw.value.size", &p.RawValueSize, nil},
		{"dkv.seq.largest", &p.LargestSeq, nil},
		{"dkv.seq.smallest", &p.SmallestSeq, nil},
	}
}

type propertyField struct {
	name string
	num  *uint64
	raw  interface {
		get() []byte
		set([]byte)
	}
}

type stringProp string

func (s *stringProp) get() []byte  { return []byte(*s) }
func (s *stringProp) set(b []byte) { *s = stringProp(b) }

type bytesProp []byte

func (s *bytesProp) get() []byte  { return *s }
func (s *bytesProp) set(b []byte) { *s = append([]byte(nil), b...) }

// encode returns the properties block.
func (p *Properties) encode() []byte {
	w := blockWriter{restartInterval: 1}
	var v []byte
	for _, f := range p.fields() {
		if f.num != nil {
			v = binary.AppendUvarint(v[:0], *f.num)
		} else {
			v = append(v[:0], f.raw.get()...)
		}
		w.add([]byte(f.name), v)
	}
	return w.finish()
}

// decodeProperties parses a properties block. Unknown names are skipped.
func decodeProperties(block []byte) (*Properties, error) {
	p := &Properties{}
	byName := map[string]propertyField{}
	for _, f := range p.fields() {
		byName[f.name] = f
	}
	var it blockIter
	if err := it.init(block, keyOrder{}); err != nil {
		return nil, err
	}
	for ok := it.first(); ok; ok = it.next() {
		f, known := byName[string(it.key)]
		switch {
		case !known:
		case f.num != nil:
			n, w := binary.Uvarint(it.val)
			if w != len(it.val) {
				return nil, blockErrorf("property %s: bad number", f.name)
			}
			*f.num = n
		default:
			f.raw.set(it.val)
		}
	}
	if it.err != nil {
		return nil, it.err
	}
	if len(p.SmallestKey) < 8 || len(p.LargestKey) < 8 {
		return nil, blockErrorf("properties lack the table's key range")
	}
	return p, nil
}

// String formats the properties one per line, for tools.
func (p *Properties) String() string {
	var b strings.Builder
	for _, f := range p.fields() {
		if f.num != nil {
			fmt.Fprintf(&b, "%-24s %d\n", f.name, *f.num)
			continue
		}
		switch f.name {
		case "dkv.key.smallest":
			fmt.Fprintf(&b, "%-24s %s\n", f.name, p.Smallest())
		case "dkv.key.largest":
			fmt.Fprintf(&b, "%-24s %s\n", f.name, p.Largest())
		default:
			fmt.Fprintf(&b, "%-24s %s\n", f.name, f.raw.get())
		}
	}
	return b.String()
}
