package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
)

func newCheckpointCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "checkpoint DEST",
		Short: "Write a copy of the database to the new directory DEST",
		Long: `Write a checkpoint of the database in --dir to DEST: a directory that
opens as a database of its own, holding the database as of one moment
(every write made before checkpoint started), which later writes to
either leave the other as it was. DEST must not exist (exit 2 if it
does); its parent must.

checkpoint flushes the memtables to a table first (reported on standard
error), then hard-links the tables into DEST, copying those it cannot
link (as across filesystems), and writes a MANIFEST beside them. A link
costs no space: the two directories share the table's bytes, and a table
is never changed. checkpoint then prints what it made: DEST, the number
of tables, how many of them are linked to the database's files and how
many are copies, and the size of DEST's files. With -o json it prints
{"checkpoint", "tables", "linked", "copied", "size"}, the size in bytes.

checkpoint opens the database to write (it flushes), so another process
holding the database open makes it fail with "locked". An interrupt
(Ctrl-C) stops it: it removes what it had written of DEST, and exits 1.`,
		Args: exactArgs("DEST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dest := args[0]
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			var made checkpointMade
			progress := &lockedWriter{w: cmd.ErrOrStderr()}
			opts := &dkv.Options{EventListener: progressListener(progress)}
			err := withOptions(cmd, g.dir, opts, func(db *dkv.DB) error {
				if err := db.Checkpoint(ctx, dest); err != nil {
					if errors.Is(err, context.Canceled) {
						return fmt.Errorf("checkpoint interrupted: nothing was made: %w", err)
					}
					return err
				}
				// Measured at once: a compaction that ends meanwhile may
				// remove a table the checkpoint links to.
				var err error
				made, err = measureCheckpoint(g.dir, dest)
				return err
			})
			if err != nil {
				return err
			}
			return printCheckpoint(cmd.OutOrStdout(), g, made)
		},
	}
}

// checkpointMade is what a checkpoint holds.
type checkpointMade struct {
	Dir    string `json:"checkpoint"`
	Tables int    `json:"tables"`
	Linked int    `json:"linked"` // the same files as the database's tables
	Copied int    `json:"copied"`
	Size   uint64 `json:"size"` // of every file in Dir
}

// measureCheckpoint reads the checkpoint in dest: the tables its MANIFEST
// names, whether each is the same file as the table of that name in the
// database directory dir (a hard link) or not (a copy), and the size of
// its files.
func measureCheckpoint(dir, dest string) (checkpointMade, error) {
	m := checkpointMade{Dir: dest}
	v, err := readVersion(dest)
	if err != nil {
		return m, fmt.Errorf("read the checkpoint: %w", err)
	}
	for _, f := range v.Files() {
		name := base.MakeFilename(base.FileTypeTable, f.FileNum)
		ours, err := vfs.Default.Stat(vfs.Default.PathJoin(dest, name))
		if err != nil {
			return m, fmt.Errorf("read the checkpoint: %w", err)
		}
		m.Tables++
		// A table compacted away since the checkpoint counts as a copy:
		// the checkpoint holds its only link.
		theirs, err := vfs.Default.Stat(vfs.Default.PathJoin(dir, name))
		if err == nil && os.SameFile(ours, theirs) {
			m.Linked++
		} else {
			m.Copied++
		}
	}
	names, err := vfs.Default.List(dest)
	if err != nil {
		return m, fmt.Errorf("read the checkpoint: %w", err)
	}
	for _, name := range names {
		info, err := vfs.Default.Stat(vfs.Default.PathJoin(dest, name))
		if err != nil {
			return m, fmt.Errorf("read the checkpoint: %w", err)
		}
		m.Size += uint64(info.Size())
	}
	return m, nil
}

// printCheckpoint prints what a checkpoint made.
func printCheckpoint(w io.Writer, g *globals, m checkpointMade) error {
	if g.json() {
		return g.writeJSON(w, m)
	}
	tw := newTable(w)
	fmt.Fprintf(tw, "checkpoint\t%s\n", m.Dir)
	fmt.Fprintf(tw, "tables\t%d\n", m.Tables)
	fmt.Fprintf(tw, "linked\t%d\n", m.Linked)
	fmt.Fprintf(tw, "copied\t%d\n", m.Copied)
	fmt.Fprintf(tw, "size\t%s (%d bytes)\n", humanSize(m.Size), m.Size)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
