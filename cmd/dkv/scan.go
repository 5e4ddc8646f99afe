package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
)

func newScanCmd(dir *string) *cobra.Command {
	var (
		prefix, start, end string
		limit              int
		keysOnly           bool
	)
	cmd := &cobra.Command{
		Use:   "scan [--prefix P | --start S --end E] [--limit N] [--keys-only]",
		Short: "Print the keys of a range and their values, in key order",
		Long: `Print the keys of a range of the database in --dir, in key order, with
their values, as an aligned table; then how many keys it printed. The
range is every key by default; --prefix P narrows it to the keys that
start with P, --start S and --end E to the keys in [S, E): S included,
E not, either one left out for no bound. --prefix does not go with
--start or --end.

At most --limit keys are printed (1000 by default; 0 for all); when more
keys are in the range, the count says "(limit reached)". --keys-only
leaves the values out. Values longer than 40 bytes are cut with "…";
keys and values that are not plain text are shown Go-quoted. Deleted keys
do not appear.

scan opens the database, as get does, and reads it as of when it starts.
A table that fails a check makes scan print the keys read before the
damage, then exit 1 with the corruption.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			flags := cmd.Flags()
			if flags.Changed("prefix") && (flags.Changed("start") || flags.Changed("end")) {
				return usageError("--prefix does not go with --start or --end")
			}
			if limit < 0 {
				return usageError("--limit must not be negative, got %d", limit)
			}
			var o dkv.IterOptions
			if flags.Changed("prefix") {
				o.LowerBound, o.UpperBound = dkv.PrefixBounds([]byte(prefix))
			}
			if flags.Changed("start") {
				o.LowerBound = []byte(start)
			}
			if flags.Changed("end") {
				o.UpperBound = []byte(end)
			}
			if flags.Changed("start") && flags.Changed("end") && start > end {
				return usageError("--start %q is above --end %q", start, end)
			}
			return withDB(cmd, *dir, func(db *dkv.DB) error {
				return printScan(cmd.OutOrStdout(), db, &o, limit, keysOnly)
			})
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "scan the keys that start with `P`")
	cmd.Flags().StringVar(&start, "start", "", "scan from key `S` (included)")
	cmd.Flags().StringVar(&end, "end", "", "scan up to key `E` (excluded)")
	cmd.Flags().IntVar(&limit, "limit", 1000, "print at most `N` keys (0: all)")
	cmd.Flags().BoolVar(&keysOnly, "keys-only", false, "print the keys without their values")
	return cmd
}

// printScan prints the keys of db within o's bounds, at most limit of them
// (0: all), then how many it printed. The rows read before an error are
// printed; the count is printed only when the scan ends without one.
func printScan(w io.Writer, db *dkv.DB, o *dkv.IterOptions, limit int, keysOnly bool) error {
	it, err := db.NewIter(o)
	if err != nil {
		return err
	}
	tw := newTable(w)
	shown, more := 0, false
	for ok := it.First(); ok; ok = it.Next() {
		if limit > 0 && shown == limit {
			more = true
			break
		}
		if shown == 0 {
			if keysOnly {
				fmt.Fprintf(tw, "key\n")
			} else {
				fmt.Fprintf(tw, "key\tvalue\n")
			}
		}
		// display copies: Key and Value are valid only until Next.
		if keysOnly {
			fmt.Fprintf(tw, "%s\n", display(it.Key(), 0))
		} else {
			fmt.Fprintf(tw, "%s\t%s\n", display(it.Key(), 0), display(it.Value(), maxShown))
		}
		shown++
	}
	iterErr := it.Close()
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if iterErr != nil {
		return iterErr
	}
	summary := count(shown, "key", "keys")
	if more {
		summary += " (limit reached)"
	}
	if _, err := fmt.Fprintln(w, summary); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
