package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/distributedkv/dkv"
)

// explainer collects the steps of a traced operation (dkv.TraceEvent) for
// --explain, to print once the database is closed: a failing command
// prints nothing on stdout.
type explainer struct {
	lines []string
}

func (e *explainer) trace(ev dkv.TraceEvent) {
	e.lines = append(e.lines, strings.Split(ev.String(), "\n")...)
}

// print writes the steps, one per line (nothing in JSON: the document
// carries them).
func (e *explainer) print(w io.Writer, g *globals) error {
	if g.json() {
		return nil
	}
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
(with -o json, as an "explain" array of lines).`

// tracedSync returns the options of a synced write, traced into ex when
// explain is set.
func tracedSync(explain bool, ex *explainer) *dkv.WriteOptions {
	o := &dkv.WriteOptions{Sync: true}
	if explain {
		o.Trace = ex.trace
	}
	return o
}
