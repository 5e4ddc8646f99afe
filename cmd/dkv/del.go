package main

import (
	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
)

func newDelCmd(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "del KEY",
		Short: "Delete KEY",
		Long: `Delete KEY. The delete is synced: when del exits 0 it survives a crash.
Deleting a key that has no value succeeds. del prints nothing on success.`,
		Args: exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withDB(cmd, *dir, func(db *dkv.DB) error {
				return db.Delete([]byte(args[0]))
			})
		},
	}
}
