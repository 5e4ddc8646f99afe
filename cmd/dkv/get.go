package main

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
)

func newGetCmd(g *globals) *cobra.Command {
	var explain bool
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print the value of KEY",
		Long: `Print the value of KEY followed by a newline. The value is written as
is, byte for byte; under --hex, KEY is hex and the value is printed in
hex. With -o json, get prints {"key": …, "value": …}. get exits 3 when
KEY has no value, printing nothing on standard output.

get opens the database read-only: it writes nothing to the directory,
which must hold a database ("no database in DIR" otherwise, exit 1).` +
			fmt.Sprintf(explainHelp, "get", "the read path: each memtable, each\ntable consulted, what its bloom filter said, the blocks read and whether\nthey came from the block cache, and what decided the answer"),
		Args: exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := g.arg("KEY", args[0])
			if err != nil {
				return err
			}
			var value []byte
			ex := explainer{g: g}
			ro := &dkv.ReadOptions{}
			if explain {
				ro.Trace = ex.trace
			}
			err = withReadOnly(cmd, g.dir, func(db *dkv.DB) error {
				var err error
				value, err = db.GetWith(key, ro)
				return err
			})
			// The value is printed only once the database is closed
			// cleanly, so a failing get prints nothing on stdout.
			w := cmd.OutOrStdout()
			if err != nil {
				// A failing get prints nothing on stdout: the steps that
				// led there go to stderr, before the error.
				if perr := ex.printTo(cmd.ErrOrStderr()); perr != nil {
					return perr
				}
			}
			if errors.Is(err, dkv.ErrNotFound) {
				return &codeError{code: exitNotFound, err: fmt.Errorf("key %q not found", args[0])}
			}
			if err != nil {
				return err
			}
			if err := ex.print(w, g); err != nil {
				return err
			}
			switch {
			case g.json():
				return writeJSON(w, struct {
					Key     any      `json:"key"`
					Value   any      `json:"value"`
					Explain []string `json:"explain,omitempty"`
				}{g.bytes(key), g.bytes(value), ex.lines})
			case g.hex:
				_, err = fmt.Fprintf(w, "%s\n", hex.EncodeToString(value))
			default:
				_, err = fmt.Fprintf(w, "%s\n", value)
			}
			if err != nil {
				return fmt.Errorf("write value: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&explain, "explain", false, "print each step of the read path")
	return cmd
}
