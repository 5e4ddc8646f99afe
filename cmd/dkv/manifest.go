package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/manifest"
)

func newManifestCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "manifest DIR",
		Short: "Print the MANIFEST of the database in DIR",
		Long: `Print the MANIFEST that CURRENT names in the database directory DIR: each
version edit it records (tables added and deleted, and the counters
recovery continues from) with its offset in the file, then the state they
add up to: the comparer, the oldest log still needed, the next file number,
the last sequence number in the tables, and the tables of each level.
Keys are shown Go-quoted (under --hex, in hex).

manifest only reads: it does not open the database, so it works while
another process holds the database open. A MANIFEST that does not replay
makes manifest print the edits before the damage and exit 1. --dir is
ignored.

With -o json, manifest prints {"manifest", "edits": [{"offset",
"comparer", "log_number", "next_file_number", "last_sequence_number",
"deleted": [{"level", "file"}, …], "added": [TABLE, …]}, …], "state":
{"comparer", "log_number", "next_file_number", "last_sequence_number",
"edits"}, "tables": [TABLE, …]}, each TABLE {"level", "file", "size",
"smallest", "largest", "smallest_seq", "largest_seq", "range_deletions"}
with internal keys {"key", "seq", "kind"}; an edit has only the members
it sets.`,
		Args: exactArgs("DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return printManifest(cmd.OutOrStdout(), g, args[0])
		},
	}
}

// printManifest prints the MANIFEST of the database in dir. Edits are
// printed as they are replayed, so that the ones before a corruption are
// shown.
func printManifest(w io.Writer, g *globals, dir string) (err error) {
	num, err := currentManifest(dir)
	if err != nil {
		return err
	}
	name := base.MakeFilename(base.FileTypeManifest, num)
	if g.json() {
		return printManifestJSON(w, g, dir, num)
	}
	fmt.Fprintf(w, "%s (named by CURRENT)\n", name)
	st, err := replayManifest(dir, num, func(offset int64, e *manifest.VersionEdit) {
		fmt.Fprintf(w, "\nedit at offset %d\n%s", offset, keysText(g, e.String()))
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
	fmt.Fprint(w, indent(keysText(g, st.Version.String()), "  "))
	return nil
}

// keysText returns the lines of a VersionEdit's or a Version's String;
// under --hex, with the keys of the lines that list tables in hex (the
// others hold no key, but may hold a quote: a comparer's name).
func keysText(g *globals, s string) string {
	if !g.hex {
		return s
	}
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.Contains(line, ".sst[") {
			line = g.hexQuoted(line)
		}
		b.WriteString(line)
	}
	return b.String()
}

// manifestDoc is manifest's JSON document.
type manifestDoc struct {
	Manifest string     `json:"manifest"`
	Edits    []editDoc  `json:"edits"`
	State    *stateDoc  `json:"state"`  // null when the MANIFEST does not replay
	Tables   []tableDoc `json:"tables"` // the state's version; null with State
	Error    string     `json:"error,omitempty"`
}

type editDoc struct {
	Offset             int64        `json:"offset"`
	Comparer           string       `json:"comparer,omitempty"`
	LogNumber          uint64       `json:"log_number,omitempty"`
	NextFileNumber     uint64       `json:"next_file_number,omitempty"`
	LastSequenceNumber uint64       `json:"last_sequence_number,omitempty"`
	Deleted            []deletedDoc `json:"deleted,omitempty"`
	Added              []tableDoc   `json:"added,omitempty"`
}

type deletedDoc struct {
	Level int    `json:"level"`
	File  string `json:"file"`
}

type stateDoc struct {
	Comparer           string `json:"comparer"`
	LogNumber          uint64 `json:"log_number"`
	NextFileNumber     uint64 `json:"next_file_number"`
	LastSequenceNumber uint64 `json:"last_sequence_number"`
	Edits              int    `json:"edits"`
}

// tableDoc is a table of a version or an edit.
type tableDoc struct {
	Level          int     `json:"level"`
	File           string  `json:"file"`
	Size           uint64  `json:"size"`
	Smallest       jsonKey `json:"smallest"`
	Largest        jsonKey `json:"largest"`
	SmallestSeq    uint64  `json:"smallest_seq"`
	LargestSeq     uint64  `json:"largest_seq"`
	RangeDeletions bool    `json:"range_deletions"`
}

func tableJSON(g *globals, level int, f *manifest.FileMetadata) tableDoc {
	return tableDoc{
		Level: level, File: base.MakeFilename(base.FileTypeTable, f.FileNum), Size: f.Size,
		Smallest: g.jsonKey(f.Smallest), Largest: g.jsonKey(f.Largest),
		SmallestSeq: uint64(f.SmallestSeq), LargestSeq: uint64(f.LargestSeq), RangeDeletions: f.HasRangeDels,
	}
}

// printManifestJSON prints the MANIFEST numbered num of the database in
// dir as a JSON document.
func printManifestJSON(w io.Writer, g *globals, dir string, num base.FileNum) (err error) {
	doc := manifestDoc{Manifest: base.MakeFilename(base.FileTypeManifest, num), Edits: []editDoc{}}
	defer func() {
		doc.Error = errorText(err)
		if werr := g.writeJSON(w, doc); err == nil {
			err = werr
		}
	}()
	st, err := replayManifest(dir, num, func(offset int64, e *manifest.VersionEdit) {
		d := editDoc{Offset: offset, Comparer: e.ComparerName, LogNumber: uint64(e.LogNum),
			NextFileNumber: uint64(e.NextFileNum), LastSequenceNumber: uint64(e.LastSeqNum)}
		for _, df := range e.DeletedFiles {
			d.Deleted = append(d.Deleted, deletedDoc{Level: df.Level, File: base.MakeFilename(base.FileTypeTable, df.FileNum)})
		}
		for _, nf := range e.NewFiles {
			d.Added = append(d.Added, tableJSON(g, nf.Level, nf.Meta))
		}
		doc.Edits = append(doc.Edits, d)
	})
	if err != nil {
		return err
	}
	doc.Tables = []tableDoc{}
	doc.State = &stateDoc{Comparer: st.ComparerName, LogNumber: uint64(st.LogNum),
		NextFileNumber: uint64(st.NextFileNum), LastSequenceNumber: uint64(st.LastSeqNum), Edits: st.Edits}
	for level, files := range st.Version.Levels {
		for _, f := range files {
			doc.Tables = append(doc.Tables, tableJSON(g, level, f))
		}
	}
	return nil
}
