package main

import (
	"bytes"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
)

func newDeleteRangeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete-range START END",
		Short: "Delete the keys in [START, END)",
		Long: `Delete every key k with START <= k < END: START included, END not. An
empty START ("") is no lower bound and an empty END no upper bound, as
for DB.DeleteRange: delete-range "" "" deletes every key. The deletion is
one range tombstone, written in the same time however many keys the
range holds; keys written afterwards are not deleted. The write is
synced: when delete-range exits 0 it survives a crash.

An empty range (START equal to END) deletes nothing and succeeds; START
above END is a usage error (exit 2). delete-range prints nothing on
success (with -o json, the range it deleted: {"start", "end"}, an empty
bound null). Under --hex, START and END are hex.`,
		Args: exactArgs("START", "END"),
		RunE: func(cmd *cobra.Command, args []string) error {
			start, err := g.arg("START", args[0])
			if err != nil {
				return err
			}
			end, err := g.arg("END", args[1])
			if err != nil {
				return err
			}
			// An empty bound is no bound, as for DB.DeleteRange.
			if len(start) == 0 {
				start = nil
			}
			if len(end) == 0 {
				end = nil
			}
			if end != nil && bytes.Compare(start, end) > 0 {
				return usageError("START %q is above END %q", args[0], args[1])
			}
			err = withDB(cmd, g.dir, func(db *dkv.DB) error {
				return db.DeleteRange(start, end)
			})
			if err != nil || !g.json() {
				return err
			}
			return g.writeJSON(cmd.OutOrStdout(), struct {
				Start *string `json:"start"`
				End   *string `json:"end"`
			}{g.optBytes(start), g.optBytes(end)})
		},
	}
}
