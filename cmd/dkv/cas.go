package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/client"
)

// exitNotSwapped is cas's exit code when the value was not OLD; doc.go and
// exitCodesHelp describe it.
const exitNotSwapped = 4

func newCASCmd(g *globals) *cobra.Command {
	var (
		absent, del bool
		r           *remote
	)
	cmd := &cobra.Command{
		Use:   "cas [--absent] [--delete] KEY [OLD] [NEW]",
		Short: "Set KEY to NEW if its value is OLD (compare and swap)",
		Long: `Compare and swap: if the value of KEY is OLD, set it to NEW, atomically;
otherwise change nothing. --absent stands for an OLD that is no value at
all: cas then sets KEY only if it has none, and takes no OLD argument.
--delete stands for a NEW that is no value: cas then deletes KEY, and
takes no NEW argument. An empty OLD or NEW ("") is the empty value, which
a key may hold: it is not the same as no value. Under --hex, KEY, OLD and
NEW are hex.

cas prints "swapped" and exits 0 when the value was OLD (so it is now NEW,
or KEY is deleted); it prints "not swapped" and exits 4 when it was not,
having changed nothing. A script tests it directly:

  dkv cas --absent lock me && echo "the lock is mine"
  dkv cas --delete lock me    # release it, if it is still mine
  dkv cas counter 41 42       # 4: someone else counted first

With -o json, cas prints {"key": …, "old": …, "new": …, "swapped": B},
"old" null under --absent and "new" null under --delete.

On --dir, cas opens the database to write (creating it if needed) and
holds it from the read to the write, so that no other process writes in
between; the write is synced.` + fmt.Sprintf(remoteHelp, "cas", `On a cluster, the swap is decided when the write is applied, and
acknowledged once a quorum of the key's replicas hold it durably. A cas
whose answer is lost (a deadline, a node that failed or lost its
leadership with the write in flight) exits 1 saying that it may or may
not have been applied; it is never retried behind your back. get then
tells whether it happened, if no other writer sets the same NEW.`),
		Args: func(cmd *cobra.Command, args []string) error {
			names := []string{"KEY"}
			if !absent {
				names = append(names, "OLD")
			}
			if !del {
				names = append(names, "NEW")
			}
			return exactArgs(names...)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			eps, err := r.list(cmd)
			if err != nil {
				return err
			}
			key, err := g.arg("KEY", args[0])
			if err != nil {
				return err
			}
			// nil is no value (--absent, --delete); an empty argument is
			// the empty value, never nil.
			var old, new []byte
			rest := args[1:]
			if !absent {
				if old, err = g.arg("OLD", rest[0]); err != nil {
					return err
				}
				old = append([]byte{}, old...)
				rest = rest[1:]
			}
			if !del {
				if new, err = g.arg("NEW", rest[0]); err != nil {
					return err
				}
				new = append([]byte{}, new...)
			}
			var swapped bool
			if eps != nil {
				if err := checkRemote(key, old, new); err != nil {
					return err
				}
				err = r.run(cmd, eps, func(ctx context.Context, c *client.Client) error {
					var err error
					swapped, err = c.CompareAndSwap(ctx, key, old, new)
					return err
				})
			} else {
				swapped, err = casLocal(cmd, g, key, old, new)
			}
			if err != nil {
				return err
			}
			if err := printCAS(cmd.OutOrStdout(), g, key, old, new, swapped); err != nil {
				return err
			}
			switch {
			case swapped:
				return nil
			case absent:
				return &codeError{code: exitNotSwapped, err: fmt.Errorf("key %q has a value", args[0])}
			default:
				return &codeError{code: exitNotSwapped, err: fmt.Errorf("key %q does not have the value %q", args[0], args[1])}
			}
		},
	}
	cmd.Flags().BoolVar(&absent, "absent", false, "swap only if KEY has no value (no OLD argument)")
	cmd.Flags().BoolVar(&del, "delete", false, "delete KEY instead of setting it (no NEW argument)")
	r = addRemoteFlags(cmd)
	return cmd
}

// casLocal is cas on the database in --dir: the read and the write happen
// with the database open, which no other process can then write.
func casLocal(cmd *cobra.Command, g *globals, key, old, new []byte) (bool, error) {
	swapped := false
	err := withDB(cmd, g.dir, func(db *dkv.DB) error {
		// The batch first: it refuses a bad key or value before the read.
		b := db.NewBatch()
		defer b.Close()
		var err error
		if new == nil {
			err = b.Delete(key)
		} else {
			err = b.Put(key, new)
		}
		if err != nil {
			return err
		}
		cur, err := db.Get(key)
		missing := errors.Is(err, dkv.ErrNotFound)
		if err != nil && !missing {
			return err
		}
		if old == nil && !missing || old != nil && (missing || !bytes.Equal(cur, old)) {
			return nil
		}
		swapped = true
		return db.Write(b, &dkv.WriteOptions{Sync: true})
	})
	return swapped, err
}

// printCAS prints whether cas swapped: "swapped" or "not swapped", or in
// JSON the key, OLD and NEW (null for no value) and the outcome.
func printCAS(w io.Writer, g *globals, key, old, new []byte, swapped bool) error {
	if g.json() {
		return g.writeJSON(w, struct {
			Key     string  `json:"key"`
			Old     *string `json:"old"`
			New     *string `json:"new"`
			Swapped bool    `json:"swapped"`
		}{g.bytes(key), g.optBytes(old), g.optBytes(new), swapped})
	}
	word := "swapped"
	if !swapped {
		word = "not swapped"
	}
	if _, err := fmt.Fprintln(w, word); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
