package manifest

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata (read the diff first)")

var cmp = base.DefaultComparer.Compare

// parseKey parses user#seq,KIND (KIND is SET or DEL).
func parseKey(s string) (base.InternalKey, error) {
	i := strings.LastIndexByte(s, '#')
	if i < 0 {
		return base.InternalKey{}, fmt.Errorf("key %q: want user#seq,KIND", s)
	}
	seqStr, kindStr, ok := strings.Cut(s[i+1:], ",")
	if !ok {
		return base.InternalKey{}, fmt.Errorf("key %q: want user#seq,KIND", s)
	}
	seq, err := strconv.ParseUint(seqStr, 10, 64)
	if err != nil {
		return base.InternalKey{}, fmt.Errorf("key %q: %v", s, err)
	}
	kind := map[string]base.Kind{"SET": base.KindSet, "DEL": base.KindDelete}
	k, ok := kind[kindStr]
	if !ok {
		return base.InternalKey{}, fmt.Errorf("key %q: unknown kind %q", s, kindStr)
	}
	return base.MakeInternalKey([]byte(s[:i]), base.SeqNum(seq), k), nil
}

// parseLevel parses L<n>; n may be out of range (Apply must refuse it).
func parseLevel(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(s, "L"))
	if err != nil || !strings.HasPrefix(s, "L") {
		return 0, fmt.Errorf("level %q: want L<n>", s)
	}
	return n, nil
}

// parseEdit parses the input lines of an apply case into an edit:
//
//	add L<level> <num> <smallest> <largest> [seqs=<a>-<b>] [size=<n>]
//	delete L<level> <num>
func parseEdit(lines []string) (*VersionEdit, error) {
	e := &VersionEdit{}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("bad line %q", line)
		}
		level, err := parseLevel(f[1])
		if err != nil {
			return nil, err
		}
		num, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %q: %v", line, err)
		}
		switch {
		case f[0] == "delete" && len(f) == 3:
			e.DeletedFiles = append(e.DeletedFiles, DeletedFile{Level: level, FileNum: base.FileNum(num)})
		case f[0] == "add" && len(f) >= 5:
			m := &FileMetadata{FileNum: base.FileNum(num), Size: 100}
			if m.Smallest, err = parseKey(f[3]); err != nil {
				return nil, err
			}
			if m.Largest, err = parseKey(f[4]); err != nil {
				return nil, err
			}
			m.SmallestSeq = min(m.Smallest.SeqNum(), m.Largest.SeqNum())
			m.LargestSeq = max(m.Smallest.SeqNum(), m.Largest.SeqNum())
			for _, opt := range f[5:] {
				name, val, _ := strings.Cut(opt, "=")
				switch name {
				case "seqs":
					a, b, _ := strings.Cut(val, "-")
					lo, err1 := strconv.ParseUint(a, 10, 64)
					hi, err2 := strconv.ParseUint(b, 10, 64)
					if err1 != nil || err2 != nil {
						return nil, fmt.Errorf("line %q: bad seqs", line)
					}
					m.SmallestSeq, m.LargestSeq = base.SeqNum(lo), base.SeqNum(hi)
				case "size":
					if m.Size, err = strconv.ParseUint(val, 10, 64); err != nil {
						return nil, fmt.Errorf("line %q: %v", line, err)
					}
				default:
					return nil, fmt.Errorf("line %q: unknown option %q", line, opt)
				}
			}
			e.NewFiles = append(e.NewFiles, NewFile{Level: level, Meta: m})
		default:
			return nil, fmt.Errorf("bad line %q", line)
		}
	}
	return e, nil
}

// showVersion formats v and the verdict of CheckOrdering.
func showVersion(v *Version) string {
	s := v.String()
	if s == "" {
		s = "(empty)\n"
	}
	if err := v.CheckOrdering(cmp); err != nil {
		return s + "check: " + err.Error() + "\n"
	}
	return s + "check: ok\n"
}

// applyCase runs one case of testdata/apply against *v.
func applyCase(t *testing.T, v **Version, cmd string, input []string) string {
	switch cmd {
	case "reset":
		*v = &Version{}
		return "ok\n"
	case "apply":
		edit, err := parseEdit(input)
		require.NoError(t, err)
		before := (*v).String()
		next, err := (*v).Apply(cmp, edit)
		require.Equal(t, before, (*v).String(), "Apply changed the version it was given")
		if err != nil {
			require.Nil(t, next)
			return "error: " + err.Error() + "\n"
		}
		*v = next
		return showVersion(next)
	case "snapshot":
		snap := (*v).SnapshotEdit()
		rebuilt, err := (&Version{}).Apply(cmp, snap)
		require.NoError(t, err)
		require.Equal(t, (*v).String(), rebuilt.String(), "the snapshot does not rebuild the version")
		if len(snap.NewFiles) == 0 {
			// It encodes to no bytes, which Decode refuses: a MANIFEST's
			// snapshot also names the comparer (versionSet.snapshotEdit).
			require.Empty(t, snap.Encode())
			return "(empty)\n"
		}
		var decoded VersionEdit
		require.NoError(t, decoded.Decode(snap.Encode()))
		requireEditsEqual(t, snap, &decoded)
		return snap.String()
	}
	t.Fatalf("unknown command %q", cmd)
	return ""
}

// TestApplyGolden runs testdata/apply: a sequence of edits applied to one
// version, each followed by the version that results (and CheckOrdering's
// verdict on it) or Apply's refusal. The file's header describes the format.
// -update rewrites the outputs; read the diff before committing it.
func TestApplyGolden(t *testing.T) {
	const path = "testdata/apply"
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	var out []string
	v := &Version{}
	for i := 0; i < len(lines); {
		line := lines[i]
		if line == "" || strings.HasPrefix(line, "#") {
			out = append(out, line)
			i++
			continue
		}
		cmd, caseLine := line, i+1
		i++
		var input []string
		for i < len(lines) && lines[i] != "----" {
			input = append(input, lines[i])
			i++
		}
		require.Less(t, i, len(lines), "%s:%d: case without ----", path, caseLine)
		i++
		for i < len(lines) && lines[i] != "" {
			i++ // the old output
		}
		got := applyCase(t, &v, cmd, input)
		out = append(out, cmd)
		out = append(out, input...)
		out = append(out, "----")
		out = append(out, strings.Split(strings.TrimSuffix(got, "\n"), "\n")...)
	}
	got := strings.Join(out, "\n")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	require.Equal(t, string(data), got, "%s differs (rewrite with -update after reading the diff)", path)
}

// CheckOrdering finds each broken invariant of a version built by hand
// (Apply never builds these).
func TestCheckOrdering(t *testing.T) {
	a := meta(1, 1, ikey("a", 5, base.KindSet), ikey("c", 4, base.KindSet), 4, 5)
	b := meta(2, 1, ikey("d", 9, base.KindSet), ikey("f", 8, base.KindSet), 8, 9)
	ab := meta(3, 1, ikey("b", 9, base.KindSet), ikey("e", 8, base.KindSet), 8, 9)
	backwards := meta(4, 1, ikey("z", 1, base.KindSet), ikey("a", 1, base.KindSet), 1, 1)
	sameKey := meta(5, 1, ikey("c", 4, base.KindSet), ikey("d", 1, base.KindSet), 1, 4)
	for _, c := range []struct {
		name  string
		level int
		files []*FileMetadata
		want  string // "" for no error
	}{
		{"L0 newest first", 0, []*FileMetadata{b, a}, ""},
		{"L0 oldest first", 0, []*FileMetadata{a, b}, "manifest: L0 000001.sst"},
		{"L0 overlapping ranges are fine", 0, []*FileMetadata{ab, a}, ""},
		{"L1 sorted", 1, []*FileMetadata{a, b}, ""},
		{"L1 out of order", 1, []*FileMetadata{b, a}, "overlap or are out of order"},
		{"L1 overlapping", 1, []*FileMetadata{a, ab}, "overlap or are out of order"},
		{"L1 same internal key at the boundary", 1, []*FileMetadata{a, sameKey}, "overlap or are out of order"},
		{"smallest above largest", 3, []*FileMetadata{backwards}, "manifest: L3 000004.sst"},
		{"smallest above largest in L0", 0, []*FileMetadata{backwards}, "smallest key above largest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := &Version{}
			v.Levels[c.level] = c.files
			err := v.CheckOrdering(cmp)
			if c.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
		})
	}
}

// The accessors count what the version holds.
func TestVersionAccessors(t *testing.T) {
	edit, err := parseEdit([]string{
		"add L0 1 a#5,SET c#4,SET size=10",
		"add L0 2 b#7,SET d#6,SET size=20",
		"add L2 3 a#1,SET z#1,SET size=300",
	})
	require.NoError(t, err)
	v, err := (&Version{}).Apply(cmp, edit)
	require.NoError(t, err)
	require.Equal(t, 3, v.NumFiles())
	require.Equal(t, uint64(30), v.LevelSize(0))
	require.Equal(t, uint64(0), v.LevelSize(1))
	require.Equal(t, uint64(300), v.LevelSize(2))
	var nums []base.FileNum
	for _, f := range v.Files() {
		nums = append(nums, f.FileNum)
	}
	require.Equal(t, []base.FileNum{2, 1, 3}, nums, "by level, L0 newest first")
	f := v.Levels[2][0]
	require.True(t, f.ContainsUserKey(cmp, []byte("a")))
	require.True(t, f.ContainsUserKey(cmp, []byte("m")))
	require.True(t, f.ContainsUserKey(cmp, []byte("z")))
	require.False(t, f.ContainsUserKey(cmp, []byte("z\x00")))
	require.False(t, f.ContainsUserKey(cmp, []byte("")))
}

// A table whose largest key is a range tombstone's exclusive end does not
// hold that user key: the next table of its level may start there, and
// FindFile sends a read of that key to the next table.
func TestExclusiveSentinelBounds(t *testing.T) {
	cmp := base.DefaultComparer.Compare
	a := &FileMetadata{FileNum: 1, Smallest: ikey("b", 7, base.KindRangeDelete), Largest: base.MakeExclusiveSentinel([]byte("h")), SmallestSeq: 7, LargestSeq: 7, HasRangeDels: true}
	b := meta(2, 10, ikey("h", 3, base.KindSet), ikey("m", 3, base.KindSet), 3, 3)
	require.True(t, a.ContainsUserKey(cmp, []byte("g")))
	require.False(t, a.ContainsUserKey(cmp, []byte("h")))
	require.True(t, a.EndsBefore(cmp, []byte("h")))
	require.False(t, b.EndsBefore(cmp, []byte("m")), "a point largest key is included")
	v, err := (&Version{}).Apply(cmp, &VersionEdit{NewFiles: []NewFile{{Level: 1, Meta: a}, {Level: 1, Meta: b}}})
	require.NoError(t, err, "touching at an exclusive end is no overlap")
	require.NoError(t, v.CheckOrdering(cmp))
	files := v.Levels[1]
	for key, want := range map[string]int{"a": 0, "b": 0, "g": 0, "h": 1, "m": 1, "n": 2} {
		require.Equal(t, want, FindFile(cmp, files, []byte(key)), "key %s", key)
	}
	// Ending at "h" inclusively, it would overlap.
	c := meta(3, 10, ikey("b", 7, base.KindSet), ikey("h", 7, base.KindSet), 7, 7)
	_, err = (&Version{}).Apply(cmp, &VersionEdit{NewFiles: []NewFile{{Level: 1, Meta: c}, {Level: 1, Meta: b}}})
	require.ErrorContains(t, err, "overlap")
}
