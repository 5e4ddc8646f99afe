package main

import (
	"github.com/spf13/cobra"

	"fmt"
	"io"
	"strings"

	"github.com/distributedkv/dkv"
)

// explainer collects the steps of a traced operation (dkv.TraceEvent) for
// --explain, to print once the database is closed: a failing command
// prints nothing on stdout.
type explainer struct {
	g     *globals
	lines []string
}

// trace collects an event's lines; under --hex, with the keys they quote
// in hex.
func (e *explainer) trace(ev dkv.TraceEvent) {
	for _, l := range strings.Split(ev.String(), "\n") {
		if e.g.hex {
			l = e.g.hexQuoted(l)
		}
		e.lines = append(e.lines, l)
	}
}

// print writes the steps, one per line (nothing in JSON: the document
// carries them).
func (e *explainer) print(w io.Writer, g *globals) error {
	if g.json() {
		return nil
	}
	return e.printTo(w)
}

// printTo writes the steps, one per line, whatever the output format: for
// a command that fails, on standard error.
func (e *explainer) printTo(w io.Writer) error {
	for _, l := range e.lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	return nil
}

// explainHelp is the paragraph the commands with --explain add to their
// help.
const explainHelp = `

With --explain, %s first prints %s, one step per line, as it happened
(with -o json, as an "explain" array of lines; when the command fails, on
standard error).`

// writeOne opens the database in --dir and writes the one-operation batch
// fill builds, synced, traced when explain is set. The steps go to stdout
// in text (they are returned for a JSON document), or to stderr when the
// write failed.
func writeOne(cmd *cobra.Command, g *globals, explain bool, fill func(b *dkv.Batch) error) ([]string, error) {
	ex := explainer{g: g}
	o := &dkv.WriteOptions{Sync: true}
	if explain {
		o.Trace = ex.trace
	}
	err := withDB(cmd, g.dir, func(db *dkv.DB) error {
		b := db.NewBatch()
		defer b.Close()
		if err := fill(b); err != nil {
			return err
		}
		return db.Write(b, o)
	})
	if err != nil {
		if perr := ex.printTo(cmd.ErrOrStderr()); perr != nil {
			return nil, perr
		}
		return nil, err
	}
	return ex.lines, ex.print(cmd.OutOrStdout(), g)
}
