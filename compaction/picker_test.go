package compaction

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/datadriven"
	"github.com/distributedkv/dkv/manifest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata (read the diff first)")

// TestPickGolden runs testdata/pick: versions built by hand, and the plans
// the picker returns for them. See the top of the file for its format.
func TestPickGolden(t *testing.T) {
	cmp := base.DefaultComparer.Compare
	var v *manifest.Version
	o := Options{L0CompactionThreshold: 4, LBaseMaxBytes: 1000, LevelMultiplier: 10, TargetFileSize: 100}
	datadriven.Run(t, "testdata/pick", *update, func(cmd string, fields []string, input []string) string {
		args := datadriven.KeyValues(fields)
		busy := Busy{Files: map[base.FileNum]bool{}}
		for _, n := range strings.Split(args["busy"], ",") {
			if n == "L0" {
				busy.L0 = true
			} else if n != "" {
				num, err := strconv.Atoi(n)
				require.NoError(t, err)
				busy.Files[base.FileNum(num)] = true
			}
		}
		switch cmd {
		case "options":
			for k, val := range args {
				n, err := strconv.ParseInt(val, 10, 64)
				require.NoError(t, err)
				switch k {
				case "l0":
					o.L0CompactionThreshold = int(n)
				case "lbase":
					o.LBaseMaxBytes = n
				case "mult":
					o.LevelMultiplier = int(n)
				case "target":
					o.TargetFileSize = n
				}
			}
			return fmt.Sprintf("%+v", o)
		case "define":
			var err error
			v, err = defineVersion(input)
			if err != nil {
				return "error: " + err.Error()
			}
			return strings.TrimRight(v.String(), "\n")
		case "scores":
			s := Scores(v, o, busy)
			var b strings.Builder
			for level, x := range s {
				if level > 0 {
					b.WriteString(" ")
				}
				fmt.Fprintf(&b, "L%d=%.2f", level, x)
			}
			return b.String()
		case "pick":
			p := Pick(cmp, v, o, busy)
			if p == nil {
				return "nothing to do"
			}
			return describe(p)
		case "manual":
			level, err := strconv.Atoi(args["level"])
			require.NoError(t, err)

			var start, end []byte
			if s, ok := args["start"]; ok {
				start = []byte(s)
			}
			if e, ok := args["end"]; ok {
				end = []byte(e)
			}
			p, ok := Manual(cmp, v, busy, level, start, end)
			switch {
			case !ok:
				return "busy: try again"
			case p == nil:
				return "nothing to do"
			}
			return describe(p)
		}
		t.Fatalf("unknown command %q", cmd)
		return ""
	})
}

func describe(p *Plan) string {
	s := p.String()
	if len(p.Grandparents) > 0 {
		var gp []string
		for _, g := range p.Grandparents {
			gp = append(gp, g.FileNum.String())
		}
		s += "\ngrandparents " + strings.Join(gp, ",")
	}
	return s
}

// defineVersion parses lines "L<n>: num:lo-hi:size[:seq] ..." into a
// version. Keys are single words; the smallest key gets the table's seq,
// the largest seq-1 (or the same seq when lo == hi).
func defineVersion(lines []string) (*manifest.Version, error) {
	edit := &manifest.VersionEdit{}
	for _, line := range lines {
		levelStr, files, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(levelStr, "L") {
			return nil, fmt.Errorf("bad line %q", line)
		}
		level, err := strconv.Atoi(levelStr[1:])
		if err != nil {
			return nil, err
		}
		for _, f := range strings.Fields(files) {
			parts := strings.Split(f, ":")
			if len(parts) < 3 {
				return nil, fmt.Errorf("bad table %q", f)
			}
			num, _ := strconv.Atoi(parts[0])
			lo, hi, _ := strings.Cut(parts[1], "-")
			size, _ := strconv.Atoi(parts[2])
			seq := 10
			if len(parts) > 3 {
				seq, _ = strconv.Atoi(parts[3])
			}
			m := &manifest.FileMetadata{
				FileNum:     base.FileNum(num),
				Size:        uint64(size),
				Smallest:    base.MakeInternalKey([]byte(lo), base.SeqNum(seq), base.KindSet),
				Largest:     base.MakeInternalKey([]byte(hi), base.SeqNum(max(seq-1, 1)), base.KindSet),
				SmallestSeq: base.SeqNum(max(seq-1, 1)),
				LargestSeq:  base.SeqNum(seq),
			}
			if lo == hi {
				m.Largest = m.Smallest
			}
			edit.NewFiles = append(edit.NewFiles, manifest.NewFile{Level: level, Meta: m})
		}
	}
	return (&manifest.Version{}).Apply(base.DefaultComparer.Compare, edit)
}

// PickRead merges L0 into L1 for a table still in L0, as a "read"
// compaction, and declines when the table has left L0 or L0 is busy.
func TestPickRead(t *testing.T) {
	v, err := defineVersion([]string{"L0: 7:b-m:100:30 8:c-k:100:40", "L1: 3:a-f:100 4:g-z:100"})
	require.NoError(t, err)
	o := Options{L0CompactionThreshold: 4, LBaseMaxBytes: 1 << 20, LevelMultiplier: 10, TargetFileSize: 1 << 20}
	cmp := base.DefaultComparer.Compare
	require.Nil(t, Pick(cmp, v, o, Busy{}), "below every threshold")
	f := v.Levels[0][1]
	p := PickRead(cmp, v, o, Busy{}, f)
	require.NotNil(t, p)
	require.Equal(t, KindRead, p.Kind)
	require.Equal(t, "read L0[000008,000007] -> L1[000003,000004] score 0.00 (reads wasted on L0 table 000007)", p.String())
	require.Nil(t, PickRead(cmp, v, o, Busy{L0: true}, f), "L0 busy")
	require.Nil(t, PickRead(cmp, v, o, Busy{}, v.Levels[1][0]), "not in L0")
}
