package main

import (
	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
)

func newDelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "del KEY",
		Short: "Delete KEY",
		Long: `Delete KEY. The delete is synced: when del exits 0 it survives a crash.
Deleting a key that has no value succeeds. del prints nothing on success
(with -o json, the key it deleted). Under --hex, KEY is hex.`,
		Args: exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := g.arg("KEY", args[0])
			if err != nil {
				return err
			}
			err = withDB(cmd, g.dir, func(db *dkv.DB) error {
				return db.Delete(key)
			})
			if err != nil || !g.json() {
				return err
			}
			return writeJSON(cmd.OutOrStdout(), struct {
				Key any `json:"key"`
			}{g.bytes(key)})
		},
	}
}
