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
	"github.com/distributedkv/dkv/internal/base"
)

func newCompactCmd(g *globals) *cobra.Command {
	var start, end string
	cmd := &cobra.Command{
		Use:   "compact [--start S] [--end E]",
		Short: "Compact a range of keys down to the bottom level",
		Long: `Compact the tables of the database in --dir that hold keys in [S, E] (S
and E both included; every key by default) down to the bottom level,
dropping overwritten values and deleted keys, and print the shape of the
LSM tree before and after: a row per level (files, size, target size,
compaction score, as lsm shows them), then the tables' total size before
and after. What the memtables hold is flushed to L0 first, so "before"
counts it.

Progress goes to standard error: each flush and compaction as it ends.
An interrupt (Ctrl-C) stops compact: the compactions that finished are
kept, the one under way leaves nothing behind, and compact exits 1.

Under --hex, S and E are hex. With -o json, compact prints {"start": …,
"end": …, "before": LEVELS, "after": LEVELS}, each LEVELS {"levels":
[{"level", "files", "size", "target", "score"}, …], "total": {"files",
"size"}}, sizes in bytes, a bound, target or score that does not apply
null.`,
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
			if lo != nil && hi != nil && bytes.Compare(lo, hi) > 0 {
				return usageError("--start %q is above --end %q", start, end)
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			return runCompact(ctx, cmd, g, lo, hi)
		},
	}
	cmd.Flags().StringVar(&start, "start", "", "compact from key `S` (included)")
	cmd.Flags().StringVar(&end, "end", "", "compact up to key `E` (included)")
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
// flushes and compactions on the command's stderr, compacts [start, end],
// and prints the shape of the tree before and after on its stdout.
func runCompact(ctx context.Context, cmd *cobra.Command, g *globals, start, end []byte) error {
	w := cmd.OutOrStdout()
	progress := &lockedWriter{w: cmd.ErrOrStderr()}
	opts := &dkv.Options{EventListener: progressListener(progress)}
	doc := compactDoc{Start: g.optBytes(start), End: g.optBytes(end)}
	return withOptions(cmd, g.dir, opts, func(db *dkv.DB) (err error) {
		if g.json() {
			// What was done before an error is reported with it.
			defer func() {
				doc.Error = errorText(err)
				if werr := writeJSON(w, doc); err == nil {
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
		fmt.Fprintf(progress, "compacting %s\n", describeRange(g, start, end))
		if err := db.Compact(ctx, start, end); err != nil {
			if errors.Is(err, context.Canceled) {
				return fmt.Errorf("compact interrupted: the compactions that finished are kept: %w", err)
			}
			return err
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

// compactDoc is compact's JSON document.
type compactDoc struct {
	Start  any        `json:"start"`
	End    any        `json:"end"`
	Before *levelsDoc `json:"before"`
	After  *levelsDoc `json:"after"`
	Error  string     `json:"error,omitempty"`
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

// describeRange says which keys [start, end] covers (nil: unbounded).
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
