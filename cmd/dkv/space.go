package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
)

func newSpaceCmd(g *globals) *cobra.Command {
	var start, end string
	cmd := &cobra.Command{
		Use:   "space [--start S] [--end E]",
		Short: "Estimate the size of a range of keys, and where to split it",
		Long: `Estimate the disk space that the keys in [S, E) take in the tables of the
database in --dir (S included, E not; either one left out, or empty, for
no bound), and a key that splits that space in about half. Under --hex,
S and E are hex.

The size counts every version of every key in the range, tombstones
included, in every level: the space the range takes, not the size of its
live data. Writes not yet flushed from the logs are not counted. The
estimate comes from the tables' indexes (no data block is read), and is
off by at most about one data block per table at each bound.

The split key lies strictly inside the range, with about half of the
size below it. It is a separator of a table's index, which may be a
shortened key that was never written. It is "none" when the range holds
too little (no table data, or a single block) to split.

space opens the database read-only: it writes nothing to the directory,
which must hold a database. With -o json, it prints {"start": …, "end":
…, "size": BYTES, "split_key": …}, an absent bound and no split key
being null.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			flags := cmd.Flags()
			lo, err := rangeFlag(g, flags.Changed("start"), "--start", start, nil)
			if err != nil {
				return err
			}
			hi, err := rangeFlag(g, flags.Changed("end"), "--end", end, nil)
			if err != nil {
				return err
			}
			// An empty bound is no bound, as for EstimateDiskUsage.
			if len(lo) == 0 {
				lo = nil
			}
			if len(hi) == 0 {
				hi = nil
			}
			if lo != nil && hi != nil && bytes.Compare(lo, hi) > 0 {
				return usageError("--start %q is above --end %q", start, end)
			}
			var size uint64
			var split []byte
			err = withReadOnly(cmd, g.dir, func(db *dkv.DB) error {
				var err error
				if size, err = db.EstimateDiskUsage(lo, hi); err != nil {
					return err
				}
				split, err = db.EstimateSplitKey(lo, hi)
				if errors.Is(err, dkv.ErrNotFound) {
					split, err = nil, nil
				}
				return err
			})
			if err != nil {
				return err
			}
			return printSpace(cmd.OutOrStdout(), g, lo, hi, size, split)
		},
	}
	cmd.Flags().StringVar(&start, "start", "", "from key `S` (included)")
	cmd.Flags().StringVar(&end, "end", "", "up to key `E` (excluded)")
	return cmd
}

// printSpace prints the range [lo, hi) (a nil bound, none: "-"), its
// estimated size and its split key (nil: "none").
func printSpace(w io.Writer, g *globals, lo, hi []byte, size uint64, split []byte) error {
	if g.json() {
		return g.writeJSON(w, struct {
			Start    *string `json:"start"`
			End      *string `json:"end"`
			Size     uint64  `json:"size"`
			SplitKey *string `json:"split_key"`
		}{g.optBytes(lo), g.optBytes(hi), size, g.optBytes(split)})
	}
	bound := func(b []byte, none string) string {
		if b == nil {
			return none
		}
		return g.key(b)
	}
	tw := newTable(w)
	fmt.Fprintf(tw, "start\t%s\n", bound(lo, "-"))
	fmt.Fprintf(tw, "end\t%s\n", bound(hi, "-"))
	fmt.Fprintf(tw, "size\t%s (%d bytes)\n", humanSize(size), size)
	fmt.Fprintf(tw, "split key\t%s\n", bound(split, "none"))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
