package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/compaction"
	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/manifest"
)

func newCompactCmd(g *globals) *cobra.Command {
	var start, end string
	var explain bool
	cmd := &cobra.Command{
		Use:   "compact [--start S] [--end E]",
		Short: "Compact a range of keys down to the bottom level",
		Long: `Compact the tables of the database in --dir that hold keys in [S, E) (S
included, E not; either one left out, or empty, for no bound, so every
key by default) down to the bottom level, dropping overwritten values and
deleted keys, and print the shape of the LSM tree before and after: a row
per level (files, size, target size, compaction score, as lsm shows
them), then the tables' total size before and after. What the memtables
hold is flushed to L0 first, so "before" counts it.

Progress goes to standard error: each flush and compaction as it ends.
An interrupt (Ctrl-C) stops compact: the compactions that finished are
kept, the one under way leaves nothing behind, and compact exits 1.

Under --hex, S and E are hex. With -o json, compact prints {"start": …,
"end": …, "before": LEVELS, "after": LEVELS}, each LEVELS {"levels":
[{"level", "files", "size", "target", "score"}, …], "total": {"files",
"size"}}, sizes in bytes, a bound, target or score that does not apply
null.

With --explain, compact also prints what the background compaction picker
makes of the tree before the compaction (each level's score and the
compaction it would run next, if any, with its reason), then each
compaction compact ran: its kind, levels, input tables, and why. With -o
json, these are the members "picker": {"levels": [{"level", "score",
"tables", "size", "target", "threshold"}, …], "next": {"kind",
"start_level", "output_level", "start_inputs", "output_inputs", "score",
"move", "reason"}} ("next" null when no score reaches 1; "picker" null
when it could not be read) and "compactions": [{"kind", "start_level",
"output_level", "inputs", "outputs", "move", "reason", "bytes_read",
"bytes_written"}, …], tables named by their files ("000012.sst").`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			lo, err := rangeFlag(g, cmd.Flags().Changed("start"), "--start", start, nil)
			if err != nil {
				return err
			}
			hi, err := rangeFlag(g, cmd.Flags().Changed("end"), "--end", end, nil)
			if err != nil {
				return err
			}
			// An empty bound is no bound, as for DB.Compact.
			if len(lo) == 0 {
				lo = nil
			}
			if len(hi) == 0 {
				hi = nil
			}
			if lo != nil && hi != nil && bytes.Compare(lo, hi) > 0 {
				return usageError("--start %q is above --end %q", start, end)
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			return runCompact(ctx, cmd, g, lo, hi, explain)
		},
	}
	cmd.Flags().BoolVar(&explain, "explain", false, "print the picker's view and why each compaction ran")
	cmd.Flags().StringVar(&start, "start", "", "compact from key `S` (included)")
	cmd.Flags().StringVar(&end, "end", "", "compact up to key `E` (excluded)")
	return cmd
}

// interruptible returns a context that an interrupt cancels. Once it has,
// the signal is handled as usual again, so that a second interrupt kills
// the process. stop releases the signal.
func interruptible(parent context.Context) (ctx context.Context, stop func()) {
	ctx, stop = signal.NotifyContext(parent, os.Interrupt)
	context.AfterFunc(ctx, stop)
	return ctx, stop
}

// runCompact opens the database in g.dir with a listener that reports
// flushes and compactions on the command's stderr, compacts [start, end),
// and prints the shape of the tree before and after on its stdout.
func runCompact(ctx context.Context, cmd *cobra.Command, g *globals, start, end []byte, explain bool) error {
	w := cmd.OutOrStdout()
	progress := &lockedWriter{w: cmd.ErrOrStderr()}
	events := progressListener(progress)
	var mu sync.Mutex
	var ran []dkv.CompactionInfo // as they ended, for --explain
	listen := events.CompactionEnd
	events.CompactionEnd = func(info dkv.CompactionInfo) {
		listen(info)
		mu.Lock()
		ran = append(ran, info)
		mu.Unlock()
	}
	opts := &dkv.Options{EventListener: events}
	doc := compactDoc{Start: g.optBytes(start), End: g.optBytes(end)}
	return withOptions(cmd, g.dir, opts, func(db *dkv.DB) (err error) {
		if g.json() {
			// What was done before an error is reported with it.
			defer func() {
				if explain {
					mu.Lock()
					doc.Compactions = compactionsJSON(ran)
					mu.Unlock()
				}
				doc.Error = errorText(err)
				if werr := g.writeJSON(w, doc); err == nil {
					err = werr
				}
			}()
		}
		// Flushed first, what the memtables hold counts in "before".
		if err := db.Flush(); err != nil {
			return err
		}
		before := db.Metrics().Levels
		doc.Before = levelsJSON(before)
		if err := printLevels(w, g, "before", before); err != nil {
			return err
		}
		if explain {
			// Only the explanation fails: say so and go on compacting.
			view, err := readPicker(g.dir)
			if err != nil {
				fmt.Fprintf(progress, "dkv: compact --explain: no picker view: %v\n", err)
			}
			doc.Picker = view // null in JSON when it could not be read
			if err == nil && !g.json() {
				if err := view.print(w); err != nil {
					return err
				}
			}
		}
		fmt.Fprintf(progress, "compacting %s\n", describeRange(g, start, end))
		if err := db.Compact(ctx, start, end); err != nil {
			if errors.Is(err, context.Canceled) {
				return fmt.Errorf("compact interrupted: the compactions that finished are kept: %w", err)
			}
			return err
		}
		if explain && !g.json() {
			mu.Lock()
			err := explainCompactions(w, ran)
			mu.Unlock()
			if err != nil {
				return err
			}
		}
		after := db.Metrics().Levels
		doc.After = levelsJSON(after)
		if err := printLevels(w, g, "\nafter", after); err != nil {
			return err
		}
		if g.json() {
			return nil
		}
		_, sizeBefore := totalOf(before)
		_, sizeAfter := totalOf(after)
		if _, err := fmt.Fprintf(w, "\ntotal size %s before, %s after (%d -> %d bytes)\n",
			humanSize(sizeBefore), humanSize(sizeAfter), sizeBefore, sizeAfter); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		return nil
	})
}

// pickerDoc is what the background compaction picker makes of a tree:
// each level's score, and the compaction it would start next. It is the
// "picker" of compact's JSON document.
type pickerDoc struct {
	Levels []pickerLevel `json:"levels"` // L0 to L5: the bottom level is never picked
	Next   *planDoc      `json:"next"`   // null: no score reaches 1

	plan *compaction.Plan // Next, for the text
}

// pickerLevel is a level's score and what it comes from: L0's table count
// against its threshold, another level's size against its target.
type pickerLevel struct {
	Level     int     `json:"level"`
	Score     float64 `json:"score"`
	Tables    int     `json:"tables"`
	Size      uint64  `json:"size"`
	Target    *uint64 `json:"target"`    // null for L0
	Threshold *int    `json:"threshold"` // L0 only
}

// planDoc is a compaction the picker would start.
type planDoc struct {
	Kind         string   `json:"kind"`
	StartLevel   int      `json:"start_level"`
	OutputLevel  int      `json:"output_level"`
	StartInputs  []string `json:"start_inputs"`  // tables of the start level
	OutputInputs []string `json:"output_inputs"` // tables of the output level they overlap
	Score        float64  `json:"score"`
	Move         bool     `json:"move"`
	Reason       string   `json:"reason"`
}

// readPicker returns what the background picker makes of the database in
// dir, as its MANIFEST records it.
func readPicker(dir string) (*pickerDoc, error) {
	v, err := readVersion(dir)
	if err != nil {
		return nil, err
	}
	o := defaultCompactionOptions()
	scores := compaction.Scores(v, o, compaction.Busy{})
	doc := &pickerDoc{}
	for level, score := range scores[:dkv.NumLevels-1] {
		l := pickerLevel{Level: level, Score: score, Tables: len(v.Levels[level]), Size: v.LevelSize(level)}
		if level == 0 {
			l.Threshold = &o.L0CompactionThreshold
		} else {
			target := uint64(o.LevelTarget(level))
			l.Target = &target
		}
		doc.Levels = append(doc.Levels, l)
	}
	if p := compaction.Pick(base.DefaultComparer.Compare, v, o, compaction.Busy{}); p != nil {
		doc.plan = p
		doc.Next = &planDoc{Kind: p.Kind.String(), StartLevel: p.StartLevel, OutputLevel: p.OutputLevel,
			StartInputs: tableNames(p.Inputs[0]), OutputInputs: tableNames(p.Inputs[1]),
			Score: p.Score, Move: p.Move, Reason: p.Reason}
	}
	return doc, nil
}

// print writes the picker's view in text.
func (p *pickerDoc) print(w io.Writer) error {
	var b strings.Builder
	b.WriteString("\npicker (what the background compactions would do next, besides any running)\n")
	for _, l := range p.Levels {
		var how string
		if l.Threshold != nil {
			how = fmt.Sprintf("%s, threshold %d", count(l.Tables, "table", "tables"), *l.Threshold)
		} else {
			how = fmt.Sprintf("%s of %s", humanSize(l.Size), humanSize(*l.Target))
		}
		fmt.Fprintf(&b, "  L%d score %.2f (%s)\n", l.Level, l.Score, how)
	}
	if p.plan != nil {
		fmt.Fprintf(&b, "  next: %s\n", p.plan)
	} else {
		b.WriteString("  next: nothing: no score reaches 1\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// explainCompactions prints the compactions compact ran, as they ended.
func explainCompactions(w io.Writer, ran []dkv.CompactionInfo) error {
	var b strings.Builder
	b.WriteString("\ncompactions run\n")
	if len(ran) == 0 {
		b.WriteString("  none: nothing to compact\n")
	}
	for _, c := range ran {
		move := ""
		if c.Move {
			move = " (moved, not rewritten)"
		}
		fmt.Fprintf(&b, "  %s L%d -> L%d, inputs %s%s: %s\n", c.Kind, c.StartLevel, c.OutputLevel, fileList(c.Inputs), move, c.Reason)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// compactionDoc is a compaction compact ran, in its JSON document.
type compactionDoc struct {
	Kind         string   `json:"kind"`
	StartLevel   int      `json:"start_level"`
	OutputLevel  int      `json:"output_level"`
	Inputs       []string `json:"inputs"`
	Outputs      []string `json:"outputs"`
	Move         bool     `json:"move"`
	Reason       string   `json:"reason"`
	BytesRead    uint64   `json:"bytes_read"`
	BytesWritten uint64   `json:"bytes_written"`
	Error        string   `json:"error,omitempty"`
}

func compactionsJSON(ran []dkv.CompactionInfo) *[]compactionDoc {
	docs := []compactionDoc{}
	for _, c := range ran {
		docs = append(docs, compactionDoc{Kind: c.Kind, StartLevel: c.StartLevel, OutputLevel: c.OutputLevel,
			Inputs: fileNames(c.Inputs), Outputs: fileNames(c.Outputs), Move: c.Move, Reason: c.Reason,
			BytesRead: c.BytesRead, BytesWritten: c.BytesWritten, Error: errorText(c.Err)})
	}
	return &docs
}

// tableNames returns the file names of tables, for a JSON document.
func tableNames(files []*manifest.FileMetadata) []string {
	nums := make([]base.FileNum, len(files))
	for i, f := range files {
		nums[i] = f.FileNum
	}
	return fileNames(nums)
}

// fileNames returns the file names of tables, for a JSON document: never
// null.
func fileNames(nums []base.FileNum) []string {
	names := make([]string, len(nums))
	for i, n := range nums {
		names[i] = base.MakeFilename(base.FileTypeTable, n)
	}
	return names
}

// compactDoc is compact's JSON document.
type compactDoc struct {
	Start  *string    `json:"start"`
	End    *string    `json:"end"`
	Before *levelsDoc `json:"before"`
	// With --explain: the picker's view before the compaction (null when
	// it could not be read: a nil *pickerDoc, not a nil any), and the
	// compactions that ran.
	Picker      any              `json:"picker,omitempty"`
	Compactions *[]compactionDoc `json:"compactions,omitempty"`
	After       *levelsDoc       `json:"after"`
	Error       string           `json:"error,omitempty"`
}

// printLevels prints a section of the levels table under title (in text;
// nothing in JSON).
func printLevels(w io.Writer, g *globals, title string, levels [dkv.NumLevels]dkv.LevelMetrics) error {
	if g.json() {
		return nil
	}
	tw := newTable(w)
	fmt.Fprintf(tw, "%s\n", title)
	fmt.Fprintf(tw, "  %s\n", levelHeader)
	for level, l := range levels {
		fmt.Fprintf(tw, "  %s\n", levelCells(level, l))
	}
	fmt.Fprintf(tw, "  %s\n", totalCells(levels))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// describeRange says which keys [start, end) covers (nil: unbounded).
func describeRange(g *globals, start, end []byte) string {
	switch {
	case start == nil && end == nil:
		return "every key"
	case end == nil:
		return fmt.Sprintf("the keys from %s", g.value(start))
	case start == nil:
		return fmt.Sprintf("the keys up to %s", g.value(end))
	}
	return fmt.Sprintf("the keys from %s to %s", g.value(start), g.value(end))
}

// progressListener reports each flush and each compaction, as it ends, on
// w. The DB calls it from its own goroutines too (a background
// compaction), so w must be safe for concurrent use.
func progressListener(w io.Writer) *dkv.EventListener {
	return &dkv.EventListener{
		FlushEnd: func(info dkv.FlushInfo) {
			fmt.Fprintf(w, "flushed the memtable to table %s: %s, %s\n",
				info.FileNum, count(info.Entries, "entry", "entries"), humanSize(info.Size))
		},
		CompactionEnd: func(info dkv.CompactionInfo) {
			what := fmt.Sprintf("%s compaction L%d -> L%d", info.Kind, info.StartLevel, info.OutputLevel)
			switch {
			case info.Err != nil:
				fmt.Fprintf(w, "%s failed: %v\n", what, info.Err)
			case info.Move:
				fmt.Fprintf(w, "%s: moved %s\n", what, fileList(info.Inputs))
			default:
				fmt.Fprintf(w, "%s: %s -> %s, read %s, wrote %s\n", what, fileList(info.Inputs),
					fileList(info.Outputs), humanSize(info.BytesRead), humanSize(info.BytesWritten))
			}
		},
	}
}

// fileList formats table numbers: "000005 000007", or "none".
func fileList(nums []base.FileNum) string {
	if len(nums) == 0 {
		return "none"
	}
	s := make([]string, len(nums))
	for i, n := range nums {
		s[i] = n.String()
	}
	return strings.Join(s, " ")
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
