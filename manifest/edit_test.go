package manifest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
)

// ikey builds an internal key for tests.
func ikey(user string, seq base.SeqNum, kind base.Kind) base.InternalKey {
	return base.MakeInternalKey([]byte(user), seq, kind)
}

// meta builds the metadata of a table.
func meta(num base.FileNum, size uint64, smallest, largest base.InternalKey, smallestSeq, largestSeq base.SeqNum) *FileMetadata {
	return &FileMetadata{FileNum: num, Size: size, Smallest: smallest, Largest: largest, SmallestSeq: smallestSeq, LargestSeq: largestSeq}
}

// normalize returns a copy of e in which empty and nil slices (file lists,
// user keys) are the same, so that reflect.DeepEqual compares meaning: a
// decoded empty user key is []byte{}, a built one may be nil.
func normalize(e *VersionEdit) *VersionEdit {
	out := &VersionEdit{ComparerName: e.ComparerName, LogNum: e.LogNum, NextFileNum: e.NextFileNum, LastSeqNum: e.LastSeqNum}
	out.DeletedFiles = append([]DeletedFile{}, e.DeletedFiles...)
	out.NewFiles = []NewFile{}
	for _, nf := range e.NewFiles {
		f := nf.Meta
		m := &FileMetadata{FileNum: f.FileNum, Size: f.Size, Smallest: f.Smallest, Largest: f.Largest,
			SmallestSeq: f.SmallestSeq, LargestSeq: f.LargestSeq, HasRangeDels: f.HasRangeDels}
		m.Smallest.UserKey = append([]byte{}, m.Smallest.UserKey...)
		m.Largest.UserKey = append([]byte{}, m.Largest.UserKey...)
		out.NewFiles = append(out.NewFiles, NewFile{Level: nf.Level, Meta: m})
	}
	return out
}

// editsEqual reports whether two edits say the same thing.
func editsEqual(a, b *VersionEdit) bool {
	return reflect.DeepEqual(normalize(a), normalize(b))
}

func requireEditsEqual(t testing.TB, want, got *VersionEdit) {
	t.Helper()
	if !editsEqual(want, got) {
		t.Fatalf("edits differ:\nwant:\n%s\ngot:\n%s", want, got)
	}
}

// roundTripEdits are the edits the round-trip test and the fuzz seeds use:
// every field, alone and together, several files, empty and binary keys,
// and the largest numbers each field can hold.
func roundTripEdits() []struct {
	name string
	edit *VersionEdit
} {
	longKey := bytes.Repeat([]byte{'k'}, maxUserKeyInEdit) // the largest key Decode accepts
	return []struct {
		name string
		edit *VersionEdit
	}{
		{"comparer only", &VersionEdit{ComparerName: "dkv.BytewiseComparator"}},
		{"log number only", &VersionEdit{LogNum: 7}},
		{"next file number only", &VersionEdit{NextFileNum: 8}},
		{"last sequence number only", &VersionEdit{LastSeqNum: 9}},
		{"one deleted file", &VersionEdit{DeletedFiles: []DeletedFile{{Level: 0, FileNum: 4}}}},
		{"counters", &VersionEdit{LogNum: 12, NextFileNum: 15, LastSeqNum: 1 << 40}},
		{"flush", &VersionEdit{LogNum: 4, LastSeqNum: 3, NewFiles: []NewFile{
			{Level: 0, Meta: meta(5, 790, ikey("a", 2, base.KindSet), ikey("greeting", 1, base.KindSet), 1, 3)},
		}}},
		{"compaction: several deleted and new files on every level", &VersionEdit{
			NextFileNum: 40,
			DeletedFiles: []DeletedFile{
				{Level: 0, FileNum: 9}, {Level: 0, FileNum: 11}, {Level: 1, FileNum: 3},
				{Level: 1, FileNum: 4}, {Level: NumLevels - 1, FileNum: 2},
			},
			NewFiles: []NewFile{
				{Level: 1, Meta: meta(30, 4096, ikey("a", 10, base.KindSet), ikey("f", 3, base.KindDelete), 1, 10)},
				{Level: 1, Meta: meta(31, 4000, ikey("g", 9, base.KindDelete), ikey("p", 2, base.KindSet), 2, 9)},
				{Level: 2, Meta: meta(32, 1, ikey("q", 5, base.KindSet), ikey("q", 5, base.KindSet), 5, 5)},
				{Level: NumLevels - 1, Meta: meta(33, 0, ikey("x", 0, base.KindSet), ikey("z", 0, base.KindSet), 0, 0)},
			},
		}},
		{"empty user keys", &VersionEdit{NewFiles: []NewFile{
			{Level: 0, Meta: meta(6, 10, ikey("", 5, base.KindSet), ikey("", 1, base.KindDelete), 1, 5)},
			{Level: 3, Meta: meta(7, 10, base.InternalKey{}, ikey("b", 1, base.KindSet), 0, 1)},
		}}},
		{"binary keys", &VersionEdit{NewFiles: []NewFile{
			{Level: 4, Meta: meta(8, 99, ikey("\x00\x00", 1, base.KindSet), ikey("\xff\xff\xff", 2, base.KindSet), 1, 2)},
		}}},
		{"longest key", &VersionEdit{NewFiles: []NewFile{
			{Level: 5, Meta: meta(9, 1<<30, base.MakeInternalKey(longKey, 1, base.KindSet), base.MakeInternalKey(longKey, 0, base.KindDelete), 0, 1)},
		}}},
		{"largest numbers", &VersionEdit{
			ComparerName: strings.Repeat("c", 1024),
			LogNum:       math.MaxUint64,
			NextFileNum:  math.MaxUint64,
			LastSeqNum:   math.MaxUint64,
			DeletedFiles: []DeletedFile{{Level: NumLevels - 1, FileNum: math.MaxUint64}},
			NewFiles: []NewFile{{Level: NumLevels - 1, Meta: &FileMetadata{
				FileNum:     math.MaxUint64 - 1,
				Size:        math.MaxUint64,
				Smallest:    base.InternalKey{UserKey: []byte("a"), Trailer: math.MaxUint64},
				Largest:     base.MakeInternalKey([]byte("b"), base.SeqNumMax, base.KindMax),
				SmallestSeq: base.SeqNumMax,
				LargestSeq:  math.MaxUint64,
			}}},
		}},
		{"table with range deletions", &VersionEdit{NewFiles: []NewFile{
			{Level: 1, Meta: &FileMetadata{FileNum: 12, Size: 300, Smallest: ikey("b", 7, base.KindRangeDelete),
				Largest: base.MakeExclusiveSentinel([]byte("h")), SmallestSeq: 4, LargestSeq: 7, HasRangeDels: true}},
			{Level: 1, Meta: meta(13, 10, ikey("h", 1, base.KindSet), ikey("i", 1, base.KindSet), 1, 1)},
		}}},
		{"every field", &VersionEdit{
			ComparerName: "dkv.BytewiseComparator",
			LogNum:       21,
			NextFileNum:  25,
			LastSeqNum:   1000,
			DeletedFiles: []DeletedFile{{Level: 0, FileNum: 17}, {Level: 2, FileNum: 3}},
			NewFiles: []NewFile{
				{Level: 0, Meta: meta(23, 2048, ikey("apple", 999, base.KindSet), ikey("zebra", 901, base.KindDelete), 901, 1000)},
				{Level: 2, Meta: meta(24, 8192, ikey("b", 4, base.KindSet), ikey("c", 6, base.KindSet), 4, 6)},
			},
		}},
	}
}

// Encode then Decode gives back the same edit, field for field, and the
// encoding is deterministic.
func TestEditRoundTrip(t *testing.T) {
	for _, c := range roundTripEdits() {
		t.Run(c.name, func(t *testing.T) {
			enc := c.edit.Encode()
			require.NotEmpty(t, enc)
			var got VersionEdit
			require.NoError(t, got.Decode(enc))
			requireEditsEqual(t, c.edit, &got)
			require.Equal(t, enc, got.Encode(), "re-encoding differs")
			// The decoded edit owns its keys: changing the input afterwards
			// changes nothing.
			for i := range enc {
				enc[i] ^= 0xff
			}
			requireEditsEqual(t, c.edit, &got)
		})
	}
}

// The bytes of a small edit, pinned: a change here is a format change (see
// docs/format/manifest.md, where these bytes are explained).
func TestEditEncodingGolden(t *testing.T) {
	e := &VersionEdit{
		LogNum:      4,
		NextFileNum: 6,
		LastSeqNum:  3,
		NewFiles: []NewFile{
			{Level: 0, Meta: meta(5, 790, ikey("a", 2, base.KindSet), ikey("greeting", 1, base.KindSet), 1, 3)},
		},
	}
	want := strings.Join([]string{
		"02 04",                         // tagLogNum, 4
		"03 06",                         // tagNextFileNum, 6
		"04 03",                         // tagLastSeqNum, 3
		"06 00 05 96 06",                // tagNewFile, level 0, file 5, size 790
		"09 61 01 02 00 00 00 00 00 00", // smallest: 9 bytes, "a", trailer 2<<8|SET
		"10 67 72 65 65 74 69 6e 67 01 01 00 00 00 00 00 00", // largest: 16 bytes, "greeting", 1<<8|SET
		"01 03", // smallest and largest sequence numbers
	}, " ")
	require.Equal(t, want, spacedHex(e.Encode()))
}

// spacedHex formats b as hex bytes separated by spaces.
func spacedHex(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		if i > 0 {
			s.WriteByte(' ')
		}
		fmt.Fprintf(&s, "%02x", c)
	}
	return s.String()
}

// Decode refuses bytes that are not an edit, and says why. Every reason is
// prefixed "version edit:"; the MANIFEST reader wraps it in a corruption
// error naming the file and offset.
func TestEditDecodeRefuses(t *testing.T) {
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	key := func(user string, seq base.SeqNum) []byte {
		k := ikey(user, seq, base.KindSet)
		enc := make([]byte, k.Size())
		k.Encode(enc)
		return cat(uv(uint64(len(enc))), enc)
	}
	// newFile is the encoding of one new-file field with the given parts.
	newFile := func(level uint64, smallest, largest []byte, smallestSeq, largestSeq uint64) []byte {
		return cat(uv(tagNewFile), uv(level), uv(5), uv(100), smallest, largest, uv(smallestSeq), uv(largestSeq))
	}
	overlong := bytes.Repeat([]byte{0xff}, 10) // a varint past 64 bits
	for _, c := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "version edit: empty"},
		{"truncated tag", []byte{0x80}, "bad tag"},
		{"tag past 64 bits", cat(overlong, []byte{0x01}), "bad tag"},
		{"tag 0", []byte{0x00}, "unknown field tag 0"},
		{"unknown tag", cat(uv(8), uv(1)), "unknown field tag 8"},
		{"unknown small tag", cat(uv(tagLogNum), uv(3), uv(63)), "unknown field tag 63"},
		{"zero file flags", cat(uv(tagNewFileFlags), uv(1), uv(5), uv(10), uv(9), []byte("a\x01\x02\x00\x00\x00\x00\x00\x00"), uv(9), []byte("b\x01\x02\x00\x00\x00\x00\x00\x00"), uv(1), uv(2), uv(0)), "flags field is present but zero"},
		{"unknown file flags", cat(uv(tagNewFileFlags), uv(1), uv(5), uv(10), uv(9), []byte("a\x01\x02\x00\x00\x00\x00\x00\x00"), uv(9), []byte("b\x01\x02\x00\x00\x00\x00\x00\x00"), uv(1), uv(2), uv(6)), "unknown file flags 0x6"},
		{"skippable tag without its length", cat(uv(tagLogNum), uv(3), uv(1000)), "bad field 1000 length"},
		{"log number missing", uv(tagLogNum), "bad log number"},
		{"log number truncated", cat(uv(tagLogNum), []byte{0x80, 0x80}), "bad log number"},
		{"next file number truncated", cat(uv(tagNextFileNum), []byte{0xff}), "bad next file number"},
		{"last sequence number past 64 bits", cat(uv(tagLastSeqNum), overlong, []byte{0x01}), "bad last sequence number"},
		{"comparer name missing", uv(tagComparer), "bad comparer name length"},
		{"comparer name runs past the edit", cat(uv(tagComparer), uv(5), []byte("abc")), "comparer name of 5 bytes runs past"},
		{"comparer name too long", cat(uv(tagComparer), uv(1025), bytes.Repeat([]byte("c"), 1025)), "comparer name of 1025 bytes runs past the edit or its limit"},
		{"deleted file level missing", uv(tagDeletedFile), "bad level"},
		{"deleted file number missing", cat(uv(tagDeletedFile), uv(1)), "bad file number"},
		{"deleted file level out of range", cat(uv(tagDeletedFile), uv(NumLevels), uv(3)), "level 7 out of range"},
		{"deleted file level huge", cat(uv(tagDeletedFile), uv(math.MaxUint64), uv(3)), "out of range"},
		{"new file level out of range", newFile(NumLevels, key("a", 1), key("b", 1), 1, 1), "level 7 out of range"},
		{"new file level past int", newFile(1<<63, key("a", 1), key("b", 1), 1, 1), "out of range"},
		{"new file size missing", cat(uv(tagNewFile), uv(0), uv(5)), "bad file size"},
		{"smallest key missing", cat(uv(tagNewFile), uv(0), uv(5), uv(100)), "bad smallest key length"},
		{"smallest key shorter than a trailer", newFile(0, cat(uv(7), []byte("abcdefg")), key("b", 1), 1, 1), "smallest key of 7 bytes is too short"},
		{"empty largest key", newFile(0, key("a", 1), uv(0), 1, 1), "largest key of 0 bytes is too short"},
		{"key length past the edit", newFile(0, cat(uv(20), []byte("short")), nil, 1, 1), "smallest key of 20 bytes runs past"},
		{"key length past the limit", newFile(0, cat(uv(maxUserKeyInEdit+9), make([]byte, maxUserKeyInEdit+9)), key("b", 1), 1, 1), "runs past the edit or its limit"},
		{"key length past 64 bits", newFile(0, cat(uv(math.MaxUint64)), nil, 1, 1), "runs past"},
		{"sequence numbers missing", cat(uv(tagNewFile), uv(0), uv(5), uv(100), key("a", 1), key("b", 1)), "bad smallest sequence number"},
		{"largest sequence number missing", cat(uv(tagNewFile), uv(0), uv(5), uv(100), key("a", 1), key("b", 1), uv(1)), "bad largest sequence number"},
		{"smallest seq above largest", newFile(0, key("a", 1), key("b", 1), 9, 8), "000005: smallest sequence number above largest"},
		{"good field then garbage", cat(uv(tagLogNum), uv(3), []byte{0x80}), "bad tag"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var e VersionEdit
			err := e.Decode(c.in)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
			require.True(t, strings.HasPrefix(err.Error(), "version edit: "), err.Error())
		})
	}
}

// Every proper prefix of an edit that ends inside a field is refused:
// truncation is never mistaken for a shorter edit. (A prefix that ends
// between two fields is a valid, shorter edit; the MANIFEST's framing,
// not the edit encoding, catches that truncation.)
func TestEditDecodeTruncated(t *testing.T) {
	e := roundTripEdits()[len(roundTripEdits())-1].edit
	enc := e.Encode()
	// The offsets where a field ends, found by encoding the fields one by
	// one.
	boundaries := map[int]bool{}
	var fields []*VersionEdit
	fields = append(fields, &VersionEdit{ComparerName: e.ComparerName}, &VersionEdit{LogNum: e.LogNum},
		&VersionEdit{NextFileNum: e.NextFileNum}, &VersionEdit{LastSeqNum: e.LastSeqNum})
	for _, d := range e.DeletedFiles {
		fields = append(fields, &VersionEdit{DeletedFiles: []DeletedFile{d}})
	}
	for _, nf := range e.NewFiles {
		fields = append(fields, &VersionEdit{NewFiles: []NewFile{nf}})
	}
	n := 0
	for _, f := range fields {
		n += len(f.Encode())
		boundaries[n] = true
	}
	require.Equal(t, len(enc), n)
	for cut := 1; cut < len(enc); cut++ {
		var got VersionEdit
		err := got.Decode(enc[:cut])
		if boundaries[cut] {
			require.NoError(t, err, "cut at field boundary %d", cut)
			continue
		}
		require.Error(t, err, "cut at %d of %d", cut, len(enc))
	}
}

// Fields holding zero values — tagLogNum 0, tagNextFileNum 0, tagLastSeqNum
// 0, an empty comparer name — are refused: Encode never writes them, so such
// bytes are not an edit dkv wrote.
func TestEditDecodeRefusesNoOpEdit(t *testing.T) {
	for _, in := range [][]byte{{tagLogNum, 0}, {tagNextFileNum, 0}, {tagLastSeqNum, 0}, {tagComparer, 0}, {tagLogNum, 0, tagLastSeqNum, 0}} {
		var e VersionEdit
		require.Error(t, e.Decode(in), "% x", in)
	}
}

// seedEdits returns the fuzzer's starting inputs: every round-trip edit
// (small ones whole; the longest-key one is left out, it is 2 MiB), some
// cut short, and some garbage.
func seedEdits() [][]byte {
	var seeds [][]byte
	for _, c := range roundTripEdits() {
		enc := c.edit.Encode()
		if len(enc) > 4096 {
			continue
		}
		seeds = append(seeds, enc)
		if len(enc) > 3 {
			seeds = append(seeds, enc[:len(enc)*2/3])
		}
	}
	return append(seeds, []byte{}, []byte{0x00}, []byte{0x07, 0x01}, []byte{0x02, 0x80}, []byte{0x05, 0x07, 0x01},
		[]byte{0x06, 0x00, 0x05, 0x64, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0x09, 0x08})
}

// FuzzVersionEdit feeds arbitrary bytes to Decode. It must never panic; an
// edit it accepts must re-encode to bytes that decode to an equal edit, and
// that encoding must be stable (encoding the re-decoded edit gives the same
// bytes).
func FuzzVersionEdit(f *testing.F) {
	for _, s := range seedEdits() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var e VersionEdit
		if err := e.Decode(data); err != nil {
			if !strings.HasPrefix(err.Error(), "version edit: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		enc := e.Encode()
		if len(enc) == 0 {
			// The input held only skippable fields of a later version,
			// which Decode skips and Encode cannot write.
			return
		}
		var again VersionEdit
		if err := again.Decode(enc); err != nil {
			t.Fatalf("re-encoding of an accepted edit does not decode: %v\n%s", err, &e)
		}
		if !editsEqual(&e, &again) {
			t.Fatalf("edit changed through a round trip:\n%s\nthen:\n%s", &e, &again)
		}
		if !bytes.Equal(enc, again.Encode()) {
			t.Fatalf("encoding is not stable")
		}
	})
}

// TestWriteFuzzSeeds writes the seed edits into testdata/fuzz/FuzzVersionEdit
// when DKV_WRITE_FUZZ_SEEDS is set, so the committed corpus can be
// regenerated after a format change.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("DKV_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set DKV_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzVersionEdit")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzVersionEdit")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for i, s := range seedEdits() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644))
	}
}

// String shows every field, one per line.
func TestEditString(t *testing.T) {
	e := roundTripEdits()[len(roundTripEdits())-1].edit
	require.Equal(t, `  comparer      dkv.BytewiseComparator
  log number    000021
  next file     000025
  last seqnum   1000
  delete        L0 000017.sst
  delete        L2 000003.sst
  add           L0 000023.sst["apple"#999,SET-"zebra"#901,DEL] 2048 bytes, seqs 901-1000
  add           L2 000024.sst["b"#4,SET-"c"#6,SET] 8192 bytes, seqs 4-6
`, e.String())
}

// Tags from 64 on are optional fields of a later version: length-prefixed,
// and skipped by a reader that does not know them. Unknown tags below 64
// are refused.
func TestEditSkipsOptionalTags(t *testing.T) {
	known := (&VersionEdit{LogNum: 7}).Encode()
	in := append([]byte{70, 3, 'a', 'b', 'c'}, known...)
	in = append(in, 0xc8, 0x01, 1, 0x01, 65, 0) // tag 200 with one byte, tag 65 with none
	var e VersionEdit
	require.NoError(t, e.Decode(in))
	require.Equal(t, base.FileNum(7), e.LogNum)

	var bad VersionEdit
	require.ErrorContains(t, bad.Decode([]byte{63, 1, 0}), "unknown field tag 63")
	require.ErrorContains(t, bad.Decode([]byte{70, 5, 'a'}), "runs past")
}
