package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/client"
)

func newGetCmd(g *globals) *cobra.Command {
	var (
		explain bool
		r       *remote
	)
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print the value of KEY",
		Long: `Print the value of KEY followed by a newline. The value is written as
is, byte for byte; under --hex, KEY is hex and the value is printed in
hex. With -o json, get prints {"key": …, "value": …}. get exits 3 when
KEY has no value, printing nothing on standard output (under --explain,
only the steps; with -o json, {"key", "value": null, "explain"}).

get opens the database read-only: it writes nothing to the directory,
which must hold a database ("no database in DIR" otherwise, exit 1).` +
			fmt.Sprintf(remoteHelp, "get", `On a cluster, get reads the value from the leader of KEY's range, after
every write acknowledged before it started (a linearizable read), and
prints it as above; --explain does not go with --endpoints.`) +
			fmt.Sprintf(explainHelp, "get", "the read path: each memtable, each\ntable consulted, what its bloom filter said, the blocks read and whether\nthey came from the block cache, and what decided the answer"),
		Args: exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			eps, err := r.list(cmd)
			if err != nil {
				return err
			}
			key, err := g.arg("KEY", args[0])
			if err != nil {
				return err
			}
			notFound := &codeError{code: exitNotFound, err: fmt.Errorf("key %q not found", args[0])}
			if eps != nil {
				return getRemote(cmd, g, r, eps, key, explain, notFound)
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
			// cleanly, so a failing get prints nothing on stdout: the
			// steps that led there go to stderr, before the error. A
			// missing key is an answer, not a failure: under --explain its
			// steps are printed as a found key's are, and get exits 3.
			missing := errors.Is(err, dkv.ErrNotFound)
			if err != nil && !(missing && explain) {
				if perr := ex.printTo(cmd.ErrOrStderr()); perr != nil {
					return perr
				}
			}
			switch {
			case missing && !explain:
				return notFound
			case err != nil && !missing:
				return err
			}
			if err := printGet(cmd.OutOrStdout(), g, key, value, !missing, &ex); err != nil {
				return err
			}
			if missing {
				return notFound
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&explain, "explain", false, "print each step of the read path")
	r = addRemoteFlags(cmd)
	return cmd
}

// getRemote is get on a cluster: it prints key's value as get on --dir
// does, and returns notFound when key has none.
func getRemote(cmd *cobra.Command, g *globals, r *remote, eps []string, key []byte, explain bool, notFound error) error {
	if err := noExplain(explain); err != nil {
		return err
	}
	if err := checkRemote(key); err != nil {
		return err
	}
	var value []byte
	err := r.run(cmd, eps, func(ctx context.Context, c *client.Client) error {
		var err error
		value, err = c.Get(ctx, key)
		return err
	})
	switch {
	case errors.Is(err, client.ErrNotFound):
		return notFound
	case err != nil:
		return err
	}
	return printGet(cmd.OutOrStdout(), g, key, value, true, &explainer{g: g})
}

// printGet prints the steps ex collected, then the value of key when it
// was found (otherwise only the steps). In JSON, one document holds the
// key, the value (null when not found) and the steps.
func printGet(w io.Writer, g *globals, key, value []byte, found bool, ex *explainer) error {
	if err := ex.print(w, g); err != nil {
		return err
	}
	var err error
	switch {
	case g.json():
		var v *string // null when not found
		if found {
			s := g.bytes(value)
			v = &s
		}
		err = g.writeJSON(w, struct {
			Key     string   `json:"key"`
			Value   *string  `json:"value"`
			Explain []string `json:"explain,omitempty"`
		}{g.bytes(key), v, ex.lines})
	case !found:
	case g.hex:
		_, err = fmt.Fprintf(w, "%s\n", hex.EncodeToString(value))
	default:
		_, err = fmt.Fprintf(w, "%s\n", value)
	}
	if err != nil {
		return fmt.Errorf("write value: %w", err)
	}
	return nil
}
