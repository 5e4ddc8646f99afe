package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
)

func newGetCmd(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "get KEY",
		Short: "Print the value of KEY",
		Long: `Print the value of KEY followed by a newline. The value is written as
is, byte for byte. get exits 3 when KEY has no value.`,
		Args: exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key := args[0]
			var value []byte
			err := withDB(cmd, *dir, func(db *dkv.DB) error {
				var err error
				value, err = db.Get([]byte(key))
				return err
			})
			if errors.Is(err, dkv.ErrNotFound) {
				return &codeError{code: exitNotFound, err: fmt.Errorf("key %q not found", key)}
			}
			if err != nil {
				return err
			}
			// The value is printed only once the database is closed
			// cleanly, so a failing get prints nothing on stdout.
			if _, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", value); err != nil {
				return fmt.Errorf("write value: %w", err)
			}
			return nil
		},
	}
}
