package main

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/client"
	"github.com/distributedkv/dkv/cluster/keys"
)

func newScanCmd(g *globals) *cobra.Command {
	var (
		prefix, start, end string
		limit              int
		keysOnly           bool
		r                  *remote
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
the corruption.` + fmt.Sprintf(remoteHelp, "scan", `On a cluster, scan reads the keys from the cluster's ranges in turn,
each range's part as of some moment during the scan, each key once and
in order, and prints them as above.`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			eps, err := r.list(cmd)
			if err != nil {
				return err
			}
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
			if o.LowerBound, err = rangeFlag(g, flags.Changed("start"), "--start", start, o.LowerBound); err != nil {
				return err
			}
			if o.UpperBound, err = rangeFlag(g, flags.Changed("end"), "--end", end, o.UpperBound); err != nil {
				return err
			}
			if flags.Changed("start") && flags.Changed("end") && bytes.Compare(o.LowerBound, o.UpperBound) > 0 {
				return usageError("--start %q is above --end %q", start, end)
			}
			if eps != nil {
				return scanRemote(cmd, g, r, eps, &o, limit, keysOnly)
			}
			return withReadOnly(cmd, g.dir, func(db *dkv.DB) error {
				it, err := db.NewIter(&o)
				if err != nil {
					return err
				}
				return printScan(cmd.OutOrStdout(), g, it, limit, keysOnly)
			})
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "scan the keys that start with `P`")
	cmd.Flags().StringVar(&start, "start", "", "scan from key `S` (included)")
	cmd.Flags().StringVar(&end, "end", "", "scan up to key `E` (excluded)")
	cmd.Flags().IntVar(&limit, "limit", 1000, "print at most `N` keys (0: all)")
	cmd.Flags().BoolVar(&keysOnly, "keys-only", false, "print the keys without their values")
	r = addRemoteFlags(cmd)
	return cmd
}

// scanRemote is scan on a cluster: it reads the keys within o's bounds,
// one more than limit to tell whether the limit was reached, and prints
// them as scan on --dir does.
func scanRemote(cmd *cobra.Command, g *globals, r *remote, eps []string, o *dkv.IterOptions, limit int, keysOnly bool) error {
	for _, b := range [][]byte{o.LowerBound, o.UpperBound} {
		if len(b) > keys.MaxKeySize {
			return usageError("invalid argument: a bound of %d bytes exceeds the key limit of %d", len(b), keys.MaxKeySize)
		}
	}
	var kvs []client.KeyValue
	err := r.run(cmd, eps, func(ctx context.Context, c *client.Client) error {
		ask := 0
		if limit > 0 {
			ask = limit + 1
		}
		var err error
		kvs, err = c.Scan(ctx, o.LowerBound, o.UpperBound, ask)
		return err
	})
	if err != nil {
		return err
	}
	return printScan(cmd.OutOrStdout(), g, &kvRows{kvs: kvs}, limit, keysOnly)
}

// scanRows is what printScan reads: a *dkv.Iterator, or kvRows.
type scanRows interface {
	First() bool
	Next() bool
	Key() []byte
	Value() []byte
	Close() error
}

// kvRows are the keys a cluster returned, as scanRows.
type kvRows struct {
	kvs []client.KeyValue
	i   int
}

func (r *kvRows) First() bool   { r.i = 0; return r.i < len(r.kvs) }
func (r *kvRows) Next() bool    { r.i++; return r.i < len(r.kvs) }
func (r *kvRows) Key() []byte   { return r.kvs[r.i].Key }
func (r *kvRows) Value() []byte { return r.kvs[r.i].Value }
func (r *kvRows) Close() error  { return nil }

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

// printScan prints the keys it reads, at most limit of them (0: all),
// then how many it printed, and closes it. The rows read before an error
// are printed; the count is printed only when the scan ends without one
// (in JSON, the error is).
func printScan(w io.Writer, g *globals, it scanRows, limit int, keysOnly bool) error {
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
