package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/compaction"
	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/manifest"
)

func newLSMCmd(g *globals) *cobra.Command {
	var svgFile string
	cmd := &cobra.Command{
		Use:   "lsm DIR",
		Short: "Print the shape of the LSM tree of the database in DIR",
		Long: `Print the shape of the LSM tree of the database in DIR, as its MANIFEST
records it: one row per level (its files, their total size, its target
size and compaction score, and the range of user keys it covers), then
one row per table (level, file number, size, smallest and largest user
key, and the range of sequence numbers it holds). L0 tables are listed
newest first, as reads consult them; the tables of the other levels in
key order. Keys longer than 40 bytes are cut with "…"; keys that are not
plain text are shown Go-quoted (under --hex, in hex).

The target and score are those DB.Metrics reports for a database opened
with the default options. A level's score is its size over its target
(for L0: its table count over 4); at 1 or more the level is due for
compaction. L0 and the bottom level L6 have no target, and L6 no score.

lsm only reads: it does not open the database, so it works while another
process holds the database open. What the memtables hold is not shown.
--dir is ignored.

With -o json, lsm prints {"levels": [{"level", "files", "size", "target",
"score", "smallest", "largest"}, …], "total": {"files", "size"},
"tables": [{"level", "file", "size", "smallest", "largest",
"smallest_seq", "largest_seq"}, …]}, sizes in bytes, keys whole, what
does not apply null.

With --svg FILE, lsm also draws the tree into FILE, an SVG picture: a row
per level, each table a box placed along the key space by its key range
and as tall as its size, labelled with its file number and size when it
is wide enough (hover for the rest), L0's tables in lanes of their own,
and each level's size against its target. Tables too thin to draw apart
are drawn together as one hatched box. The key axis is not linear in the
keys' bytes: it is stretched so that a range of keys is as wide as the
bytes the tables hold in it, so tables of one level that are as big are
about as wide, whatever their keys.`,
		Args: exactArgs("DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := readVersion(args[0])
			if err != nil {
				return err
			}
			if svgFile != "" {
				if err := writeSVGFile(svgFile, g, v); err != nil {
					return err
				}
			}
			return printLSM(cmd.OutOrStdout(), g, v)
		},
	}
	cmd.Flags().StringVar(&svgFile, "svg", "", "also draw the tree as an SVG picture into `FILE`")
	return cmd
}

// writeSVGFile draws v into path, replacing it.
func writeSVGFile(path string, g *globals, v *manifest.Version) error {
	var buf bytes.Buffer
	if err := writeLSMSVG(&buf, g, v, levelMetrics(v)); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("--svg: %w", err)
	}
	return nil
}

// readVersion returns the current version of the database in dir. A live
// database may replace its MANIFEST (and delete the old one) between the
// reading of CURRENT and the replay: then the replay is tried again with
// the MANIFEST that CURRENT names now.
func readVersion(dir string) (*manifest.Version, error) {
	for attempt := 0; ; attempt++ {
		num, err := currentManifest(dir)
		if err != nil {
			return nil, err
		}
		st, err := replayManifest(dir, num, nil)
		if err == nil {
			return st.Version, nil
		}
		if now, cerr := currentManifest(dir); attempt == 2 || cerr != nil || now == num {
			return nil, err
		}
	}
}

// printLSM prints a row per level, then a row per table.
func printLSM(w io.Writer, g *globals, v *manifest.Version) error {
	levels := levelMetrics(v)
	if g.json() {
		return g.writeJSON(w, lsmJSON(g, v, levels))
	}
	tw := newTable(w)
	fmt.Fprintf(tw, "levels\n")
	fmt.Fprintf(tw, "  %s\tsmallest\tlargest\n", levelHeader)
	for level, files := range v.Levels {
		smallest, largest := "-", "-"
		if lo, hi := levelBounds(files); lo != nil {
			smallest, largest = g.cut(lo, maxShown), g.cut(hi, maxShown)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", levelCells(level, levels[level]), smallest, largest)
	}
	fmt.Fprintf(tw, "  %s\n", totalCells(levels))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}

	fmt.Fprintf(w, "\ntables\n")
	if v.NumFiles() == 0 {
		fmt.Fprintf(w, "  none\n")
		return nil
	}
	tw = newTable(w)
	fmt.Fprintf(tw, "  level\tfile\tsize\tsmallest\tlargest\tseqs\n")
	for level, files := range v.Levels {
		for _, f := range files {
			fmt.Fprintf(tw, "  L%d\t%s\t%s\t%s\t%s\t%d-%d\n", level, f.FileNum, humanSize(f.Size),
				g.cut(f.Smallest.UserKey, maxShown), g.cut(f.Largest.UserKey, maxShown),
				f.SmallestSeq, f.LargestSeq)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// levelBounds returns the smallest and largest user keys of a level's
// tables; nil for a level without tables.
func levelBounds(files []*manifest.FileMetadata) (lo, hi []byte) {
	if len(files) == 0 {
		return nil, nil
	}
	cmp := base.DefaultComparer.Compare
	lo, hi = files[0].Smallest.UserKey, files[0].Largest.UserKey
	for _, f := range files[1:] {
		if cmp(f.Smallest.UserKey, lo) < 0 {
			lo = f.Smallest.UserKey
		}
		if cmp(f.Largest.UserKey, hi) > 0 {
			hi = f.Largest.UserKey
		}
	}
	return lo, hi
}

// levelsDoc is the levels table of lsm and compact in a JSON document.
type levelsDoc struct {
	Levels []levelDoc `json:"levels"`
	Total  totalDoc   `json:"total"`
}

// levelDoc is a level's row: Target and Score are null where the text
// shows "-"; Smallest and Largest (lsm only) are null for an empty level.
type levelDoc struct {
	Level    int      `json:"level"`
	Files    int      `json:"files"`
	Size     uint64   `json:"size"`
	Target   *uint64  `json:"target"`
	Score    *float64 `json:"score"`
	Smallest *any     `json:"smallest,omitempty"`
	Largest  *any     `json:"largest,omitempty"`
}

type totalDoc struct {
	Files int    `json:"files"`
	Size  uint64 `json:"size"`
}

// levelsJSON returns the rows of levels for a JSON document.
func levelsJSON(levels [dkv.NumLevels]dkv.LevelMetrics) *levelsDoc {
	doc := &levelsDoc{}
	for level, l := range levels {
		row := levelDoc{Level: level, Files: l.Files, Size: l.Size}
		if l.Target > 0 {
			row.Target = &l.Target
		}
		if level < dkv.NumLevels-1 {
			row.Score = &l.Score
		}
		doc.Levels = append(doc.Levels, row)
	}
	doc.Total.Files, doc.Total.Size = totalOf(levels)
	return doc
}

// lsmDoc is lsm's JSON document.
type lsmDoc struct {
	levelsDoc
	Tables []lsmTable `json:"tables"`
}

type lsmTable struct {
	Level       int    `json:"level"`
	File        string `json:"file"`
	Size        uint64 `json:"size"`
	Smallest    string `json:"smallest"`
	Largest     string `json:"largest"`
	SmallestSeq uint64 `json:"smallest_seq"`
	LargestSeq  uint64 `json:"largest_seq"`
}

func lsmJSON(g *globals, v *manifest.Version, levels [dkv.NumLevels]dkv.LevelMetrics) *lsmDoc {
	doc := &lsmDoc{levelsDoc: *levelsJSON(levels), Tables: []lsmTable{}}
	for level, files := range v.Levels {
		var lo, hi any // null for an empty level
		if l, h := levelBounds(files); l != nil {
			lo, hi = g.bytes(l), g.bytes(h)
		}
		doc.Levels[level].Smallest, doc.Levels[level].Largest = &lo, &hi
		for _, f := range files {
			doc.Tables = append(doc.Tables, lsmTable{
				Level: level, File: base.MakeFilename(base.FileTypeTable, f.FileNum), Size: f.Size,
				Smallest: g.bytes(f.Smallest.UserKey), Largest: g.bytes(f.Largest.UserKey),
				SmallestSeq: uint64(f.SmallestSeq), LargestSeq: uint64(f.LargestSeq),
			})
		}
	}
	return doc
}

// levelMetrics returns what DB.Metrics says of each level of v, for a
// database opened with the default options: tables, their size, the
// compaction score and the target size.
func levelMetrics(v *manifest.Version) [dkv.NumLevels]dkv.LevelMetrics {
	o := defaultCompactionOptions()
	scores := compaction.Scores(v, o, compaction.Busy{})
	var levels [dkv.NumLevels]dkv.LevelMetrics
	for level := range levels {
		l := &levels[level]
		l.Files, l.Size, l.Score = len(v.Levels[level]), v.LevelSize(level), scores[level]
		if level > 0 && level < dkv.NumLevels-1 {
			l.Target = uint64(o.LevelTarget(level))
		}
	}
	return levels
}

// defaultCompactionOptions are the picker's options in a database opened
// with the default options.
func defaultCompactionOptions() compaction.Options {
	return compaction.Options{
		L0CompactionThreshold: dkv.DefaultL0CompactionThreshold,
		LBaseMaxBytes:         dkv.DefaultLBaseMaxBytes,
		LevelMultiplier:       dkv.LevelMultiplier,
		TargetFileSize:        dkv.DefaultTargetFileSize,
	}
}

// levelHeader heads the levels tables of lsm and compact; levelCells and
// totalCells make their rows. They show the columns of Metrics.String.
const levelHeader = "level\tfiles\tsize\ttarget\tscore"

// levelCells returns the cells of level's row. L0 and the bottom level
// have no target ("-"), and the bottom level no score.
func levelCells(level int, l dkv.LevelMetrics) string {
	target, score := "-", "-"
	if l.Target > 0 {
		target = humanSize(l.Target)
	}
	if level < dkv.NumLevels-1 {
		score = fmt.Sprintf("%.2f", l.Score)
	}
	return fmt.Sprintf("L%d\t%d\t%s\t%s\t%s", level, l.Files, humanSize(l.Size), target, score)
}

// totalCells returns the cells of the row that sums the levels.
func totalCells(levels [dkv.NumLevels]dkv.LevelMetrics) string {
	files, size := totalOf(levels)
	return fmt.Sprintf("total\t%d\t%s", files, humanSize(size))
}

// totalOf returns the number of tables of all levels and their size.
func totalOf(levels [dkv.NumLevels]dkv.LevelMetrics) (files int, size uint64) {
	for _, l := range levels {
		files += l.Files
		size += l.Size
	}
	return files, size
}
