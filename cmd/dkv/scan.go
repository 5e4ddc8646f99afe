package main

import (
	"bytes"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
)

func newScanCmd(g *globals) *cobra.Command {
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
--start or --end. Under --hex, P, S and E are hex.

At most --limit keys are printed (1000 by default; 0 for all); when more
keys are in the range, the count says "(limit reached)". --keys-only
leaves the values out. Values longer than 40 bytes are cut with "…";
keys and values that are not plain text are shown Go-quoted (under --hex,
in hex). Deleted keys do not appear. With -o json, scan prints
{"keys": [{"key": …, "value": …}, …], "count": N, "limit_reached": B},
values whole.

scan opens the database read-only, so it writes nothing to the directory,
which must hold a database; it reads the database as of when it starts,
the writes not yet flushed from the logs included. A table that fails a
check makes scan print the keys read before the damage, then exit 1 with
the corruption.`,
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
				p, err := g.arg("--prefix", prefix)
				if err != nil {
					return err
				}
				o.LowerBound, o.UpperBound = dkv.PrefixBounds(p)
			}
			var err error
			if o.LowerBound, err = rangeFlag(g, flags.Changed("start"), "--start", start, o.LowerBound); err != nil {
				return err
			}
			if o.UpperBound, err = rangeFlag(g, flags.Changed("end"), "--end", end, o.UpperBound); err != nil {
				return err
			}
			if flags.Changed("start") && flags.Changed("end") && bytes.Compare(o.LowerBound, o.UpperBound) > 0 {
				return usageError("--start %q is above --end %q", start, end)
			}
			return withReadOnly(cmd, g.dir, func(db *dkv.DB) error {
				return printScan(cmd.OutOrStdout(), g, db, &o, limit, keysOnly)
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

// rangeFlag returns the bound a key flag (name, given as s) sets: its
// bytes when the flag was set, otherwise dflt.
func rangeFlag(g *globals, set bool, name, s string, dflt []byte) ([]byte, error) {
	if !set {
		return dflt, nil
	}
	return g.arg(name, s)
}

// scanDoc is scan's JSON document.
type scanDoc struct {
	Keys         []scanRow `json:"keys"`
	Count        int       `json:"count"`
	LimitReached bool      `json:"limit_reached"`
	Error        string    `json:"error,omitempty"`
}

type scanRow struct {
	Key   string  `json:"key"`
	Value *string `json:"value,omitempty"` // nil with --keys-only
}

// printScan prints the keys of db within o's bounds, at most limit of them
// (0: all), then how many it printed. The rows read before an error are
// printed; the count is printed only when the scan ends without one (in
// JSON, the error is).
func printScan(w io.Writer, g *globals, db *dkv.DB, o *dkv.IterOptions, limit int, keysOnly bool) error {
	it, err := db.NewIter(o)
	if err != nil {
		return err
	}
	tw := newTable(w)
	doc := scanDoc{Keys: []scanRow{}}
	shown, more := 0, false
	for ok := it.First(); ok; ok = it.Next() {
		if limit > 0 && shown == limit {
			more = true
			break
		}
		shown++
		// g.bytes, g.key and g.value copy: Key and Value are valid only
		// until Next.
		if g.json() {
			row := scanRow{Key: g.bytes(it.Key())}
			if !keysOnly {
				v := g.bytes(it.Value())
				row.Value = &v
			}
			doc.Keys = append(doc.Keys, row)
			continue
		}
		if shown == 1 {
			if keysOnly {
				fmt.Fprintf(tw, "key\n")
			} else {
				fmt.Fprintf(tw, "key\tvalue\n")
			}
		}
		if keysOnly {
			fmt.Fprintf(tw, "%s\n", g.key(it.Key()))
		} else {
			fmt.Fprintf(tw, "%s\t%s\n", g.key(it.Key()), g.value(it.Value()))
		}
	}
	iterErr := it.Close()
	if g.json() {
		doc.Count, doc.LimitReached, doc.Error = shown, more, errorText(iterErr)
		if err := g.writeJSON(w, doc); err != nil {
			return err
		}
		return iterErr
	}
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
