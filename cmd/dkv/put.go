package main

import (
	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
)

func newPutCmd(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "Set KEY to VALUE",
		Long: `Set KEY to VALUE, replacing any earlier value. The write is synced: when
put exits 0 it survives a crash. put prints nothing on success. Quote a
VALUE that holds spaces; an empty VALUE ("") is a value.`,
		Args: exactArgs("KEY", "VALUE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withDB(cmd, *dir, func(db *dkv.DB) error {
				return db.Put([]byte(args[0]), []byte(args[1]))
			})
		},
	}
}
