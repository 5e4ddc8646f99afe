package base

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Internal keys order by user key, then newest (highest trailer) first.
func TestInternalCompare(t *testing.T) {
	cmp := DefaultComparer.Compare
	ordered := []InternalKey{
		MakeInternalKey([]byte("a"), 9, KindMax),
		MakeInternalKey([]byte("a"), 9, KindSet),
		MakeInternalKey([]byte("a"), 9, KindDelete),
		MakeInternalKey([]byte("a"), 2, KindSet),
		MakeInternalKey([]byte("ab"), 100, KindSet),
		MakeInternalKey([]byte("b"), 1, KindDelete),
	}
	for i := range ordered {
		for j := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			require.Equal(t, want, InternalCompare(cmp, ordered[i], ordered[j]), "%s vs %s", ordered[i], ordered[j])
		}
	}
}

func TestTrailer(t *testing.T) {
	for _, seq := range []SeqNum{0, 1, 1 << 40, SeqNumMax} {
		for _, k := range []Kind{KindDelete, KindSet, KindMax} {
			tr := MakeTrailer(seq, k)
			require.Equal(t, seq, tr.SeqNum())
			require.Equal(t, k, tr.Kind())
		}
	}
	require.True(t, KindSet.Valid())
	require.True(t, KindDelete.Valid())
	require.False(t, KindMax.Valid())
	require.False(t, Kind(7).Valid())
	require.Equal(t, "KIND(7)", Kind(7).String())
}

func TestInternalKeyEncoding(t *testing.T) {
	k := MakeInternalKey([]byte("user"), 77, KindSet)
	buf := make([]byte, k.Size())
	k.Encode(buf)
	got, ok := DecodeInternalKey(buf)
	require.True(t, ok)
	require.Equal(t, k, got)
	require.Equal(t, `"user"#77,SET`, got.String())
	_, ok = DecodeInternalKey(buf[:7])
	require.False(t, ok)
}

// FuzzDecodeInternalKey: any bytes either decode to a key that encodes back
// to the same bytes, or are refused.
func FuzzDecodeInternalKey(f *testing.F) {
	f.Add([]byte("user\x01\x4d\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, ok := DecodeInternalKey(data)
		if !ok {
			if len(data) >= 8 {
				t.Fatalf("refused %d bytes", len(data))
			}
			return
		}
		buf := make([]byte, k.Size())
		k.Encode(buf)
		if !bytes.Equal(buf, data) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func TestFilenames(t *testing.T) {
	for _, c := range []struct {
		typ  FileType
		num  FileNum
		name string
	}{
		{FileTypeLog, 7, "000007.log"},
		{FileTypeLog, 1234567, "1234567.log"},
		{FileTypeTemp, 3, "000003.tmp"},
		{FileTypeLock, 0, "LOCK"},
		{FileTypeTable, 12, "000012.sst"},
		{FileTypeManifest, 5, "MANIFEST-000005"},
		{FileTypeCurrent, 0, "CURRENT"},
	} {
		require.Equal(t, c.name, MakeFilename(c.typ, c.num))
		typ, num, ok := ParseFilename(c.name)
		require.True(t, ok, c.name)
		require.Equal(t, c.typ, typ)
		require.Equal(t, c.num, num)
	}
	for _, bad := range []string{"", "LOCK.log", "7.log", "00007x.log", "000007.sst2", "000007", "-00007.log",
		"99999999999999999999.log", "000007.log.bak", "0000007.log", "0000000000123.log", "MANIFEST-", "MANIFEST-12", "MANIFEST-000001.log", "000001.MANIFEST", "CURRENT.tmp", "000001."} {
		_, _, ok := ParseFilename(bad)
		require.False(t, ok, bad)
	}
}

// FuzzParseFilename: a name is either refused or parses to a file that
// MakeFilename names the same way.
func FuzzParseFilename(f *testing.F) {
	for _, s := range []string{"000001.log", "LOCK", "000002.tmp", "x.log", "0000001.log"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		typ, num, ok := ParseFilename(name)
		if !ok {
			return
		}
		again, num2, ok2 := ParseFilename(MakeFilename(typ, num))
		if !ok2 || again != typ || num2 != num || MakeFilename(typ, num) != name {
			t.Fatalf("%q parsed as %v %d, which does not round-trip", name, typ, num)
		}
	})
}

func TestCorruptionError(t *testing.T) {
	err := fmt.Errorf("opening: %w", CorruptionErrorf("/db/000001.log", 42, "checksum mismatch"))
	require.True(t, errors.Is(err, ErrCorruption))
	var ce *CorruptionError
	require.True(t, errors.As(err, &ce))
	require.Equal(t, int64(42), ce.Offset)
	require.Equal(t, "opening: dkv: corruption in /db/000001.log at offset 42: checksum mismatch", err.Error())
	require.Equal(t, "dkv: corruption in f: bad", (&CorruptionError{File: "f", Offset: -1, Reason: "bad"}).Error())
}

func TestSeparatorSuccessor(t *testing.T) {
	c := DefaultComparer
	for _, tc := range [][3]string{
		{"abcd", "abzz", "abd"},
		{"abc", "abd", "abc"},
		{"abc", "abcd", "abc"},
		{"a\xff", "b", "a\xff"},
		{"", "a", ""},
		{"apple", "banana", "b"},
	} {
		got := c.Separator(nil, []byte(tc[0]), []byte(tc[1]))
		require.Equal(t, tc[2], string(got), "separator(%q, %q)", tc[0], tc[1])
	}
	for _, tc := range [][2]string{{"abc", "b"}, {"\xff\xffa", "\xff\xffb"}, {"\xff", "\xff"}, {"", ""}} {
		require.Equal(t, tc[1], string(c.Successor(nil, []byte(tc[0]))))
	}
}

// FuzzSeparator: for any a < b the separator s satisfies a <= s < b, and the
// successor of a is >= a.
func FuzzSeparator(f *testing.F) {
	f.Add([]byte("abcd"), []byte("abzz"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		c := DefaultComparer
		if s := c.Successor(nil, a); c.Compare(s, a) < 0 {
			t.Fatalf("successor(%q) = %q < a", a, s)
		}
		if c.Compare(a, b) >= 0 {
			return
		}
		s := c.Separator(nil, a, b)
		if c.Compare(a, s) > 0 || c.Compare(s, b) >= 0 {
			t.Fatalf("separator(%q, %q) = %q", a, b, s)
		}
	})
}
