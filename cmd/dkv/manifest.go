package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/manifest"
)

func newManifestCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "manifest DIR",
		Short: "Print the MANIFEST of the database in DIR",
		Long: `Print the MANIFEST that CURRENT names in the database directory DIR: each
version edit it records (tables added and deleted, and the counters
recovery continues from) with its offset in the file, then the state they
add up to: the comparer, the oldest log still needed, the next file number,
the last sequence number in the tables, and the tables of each level.

manifest only reads: it does not open the database, so it works while
another process holds the database open. A MANIFEST that does not replay
makes manifest print the edits before the damage and exit 1. --dir is
ignored.`,
		Args: exactArgs("DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return printManifest(cmd.OutOrStdout(), args[0])
		},
	}
}

// printManifest prints the MANIFEST of the database in dir. Edits are
// printed as they are replayed, so that the ones before a corruption are
// shown.
func printManifest(w io.Writer, dir string) error {
	num, err := currentManifest(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s (named by CURRENT)\n", base.MakeFilename(base.FileTypeManifest, num))
	st, err := replayManifest(dir, num, func(offset int64, e *manifest.VersionEdit) {
		fmt.Fprintf(w, "\nedit at offset %d\n%s", offset, e.String())
	})
	if err != nil {
		return err
	}

	tw := newTable(w)
	fmt.Fprintf(tw, "\nstate\n")
	fmt.Fprintf(tw, "  comparer\t%s\n", st.ComparerName)
	fmt.Fprintf(tw, "  log number\t%s\n", st.LogNum)
	fmt.Fprintf(tw, "  next file number\t%s\n", st.NextFileNum)
	fmt.Fprintf(tw, "  last sequence number\t%d\n", st.LastSeqNum)
	fmt.Fprintf(tw, "  edits\t%d\n", st.Edits)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	fmt.Fprintf(w, "\nversion (%s)\n", count(st.Version.NumFiles(), "table", "tables"))
	fmt.Fprint(w, indent(st.Version.String(), "  "))
	return nil
}
