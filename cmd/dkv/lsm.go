package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/manifest"
)

func newLSMCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lsm DIR",
		Short: "Print the shape of the LSM tree of the database in DIR",
		Long: `Print the shape of the LSM tree of the database in DIR, as its MANIFEST
records it: one row per level (its files, their total size and the range
of user keys they cover), then one row per table (level, file number,
size, smallest and largest user key, and the range of sequence numbers it
holds). L0 tables are listed newest first, as reads consult them; the
tables of the other levels in key order. Keys longer than 40 bytes are cut
with "…"; keys that are not plain text are shown Go-quoted.

lsm only reads: it does not open the database, so it works while another
process holds the database open. What the memtables hold is not shown.
--dir is ignored.`,
		Args: exactArgs("DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := readVersion(args[0])
			if err != nil {
				return err
			}
			return printLSM(cmd.OutOrStdout(), v)
		},
	}
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
func printLSM(w io.Writer, v *manifest.Version) error {
	cmp := base.DefaultComparer.Compare
	tw := newTable(w)
	fmt.Fprintf(tw, "levels\n")
	fmt.Fprintf(tw, "  level\tfiles\tsize\tsmallest\tlargest\n")
	var totalSize uint64
	for level, files := range v.Levels {
		smallest, largest := "-", "-"
		if len(files) > 0 {
			lo, hi := files[0].Smallest.UserKey, files[0].Largest.UserKey
			for _, f := range files[1:] {
				if cmp(f.Smallest.UserKey, lo) < 0 {
					lo = f.Smallest.UserKey
				}
				if cmp(f.Largest.UserKey, hi) > 0 {
					hi = f.Largest.UserKey
				}
			}
			smallest, largest = display(lo, maxShown), display(hi, maxShown)
		}
		size := v.LevelSize(level)
		totalSize += size
		fmt.Fprintf(tw, "  L%d\t%d\t%s\t%s\t%s\n", level, len(files), humanSize(size), smallest, largest)
	}
	fmt.Fprintf(tw, "  total\t%d\t%s\n", v.NumFiles(), humanSize(totalSize))
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
				display(f.Smallest.UserKey, maxShown), display(f.Largest.UserKey, maxShown),
				f.SmallestSeq, f.LargestSeq)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
