package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/sstable"
)

func newSSTableCmd() *cobra.Command {
	var entries bool
	var limit int
	cmd := &cobra.Command{
		Use:   "sstable FILE",
		Short: "Print a table file's properties, blocks and entries",
		Long: `Print what the table FILE (a NNNNNN.sst of a database directory) holds:
its properties, its blocks in file order, and its entries in key order
(key, sequence number, kind, value). Values longer than 40 bytes are cut
with "…"; keys and values that are not plain text are shown Go-quoted.
Every block's checksum is verified; a file that is not a sound table makes
sstable exit 1 with the corruption (file and offset). --dir is ignored.`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return usageError("--limit must not be negative, got %d", limit)
			}
			if !entries {
				limit = -1
			}
			return printSSTable(cmd.OutOrStdout(), args[0], limit)
		},
	}
	cmd.Flags().BoolVar(&entries, "entries", true, "list the table's entries")
	cmd.Flags().IntVar(&limit, "limit", 1000, "list at most `N` entries (0: all)")
	return cmd
}

// printSSTable prints the table at path. limit bounds the entries listed:
// 0 lists all, -1 none (no entries section).
func printSSTable(w io.Writer, path string, limit int) error {
	f, size, err := openFile(path)
	if err != nil {
		return err
	}
	r, err := sstable.Open(f, path, size, sstable.ReaderOptions{})
	if err != nil {
		_ = f.Close()
		return err
	}
	defer r.Close()

	fmt.Fprintf(w, "properties\n%s\n", indent(r.Properties().String(), "  "))
	layout, err := r.Layout()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "blocks\n")
	if err := layout.Write(w); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if spans := r.RangeDels().Spans(); len(spans) > 0 {
		fmt.Fprintf(w, "\nrange tombstones (fragments: sequence numbers newest first)\n")
		for _, s := range spans {
			fmt.Fprintf(w, "  [%s, %s) #%v\n", displayKey(s.Start), displayKey(s.End), s.Seqs)
		}
	}
	if limit < 0 {
		return nil
	}
	fmt.Fprintf(w, "\nentries\n")
	return printEntries(w, r, limit)
}

// printEntries lists the table's entries, at most limit of them (0: all),
// then how many there are. The rows read before an error are printed.
func printEntries(w io.Writer, r *sstable.Reader, limit int) (err error) {
	it := r.NewIter()
	tw := newTable(w)
	fmt.Fprintf(tw, "  key\tseq\tkind\tvalue\n")
	shown, total := 0, 0
	for ok := it.First(); ok; ok = it.Next() {
		total++
		if limit > 0 && shown == limit {
			continue // count the rest
		}
		k := it.Key()
		value := ""
		if k.Kind() != base.KindDelete {
			value = display(it.Value(), maxShown)
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", display(k.UserKey, 0), k.SeqNum(), k.Kind(), value)
		shown++
	}
	iterErr := it.Close()
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if iterErr != nil {
		return iterErr
	}
	if shown < total {
		fmt.Fprintf(w, "  %d of %d entries shown (--limit %d; --limit 0 shows all)\n", shown, total, limit)
	} else {
		fmt.Fprintf(w, "  %s\n", count(total, "entry", "entries"))
	}
	return nil
}
