package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
)

func newDelCmd(g *globals) *cobra.Command {
	var explain bool
	cmd := &cobra.Command{
		Use:   "del KEY",
		Short: "Delete KEY",
		Long: `Delete KEY. The delete is synced: when del exits 0 it survives a crash.
Deleting a key that has no value succeeds. del prints nothing on success
(with -o json, the key it deleted). Under --hex, KEY is hex.` +
			fmt.Sprintf(explainHelp, "del", "the write path, as put does"),
		Args: exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := g.arg("KEY", args[0])
			if err != nil {
				return err
			}
			lines, err := writeOne(cmd, g, explain, func(b *dkv.Batch) error { return b.Delete(key) })
			if err != nil || !g.json() {
				return err
			}
			return g.writeJSON(cmd.OutOrStdout(), struct {
				Key     string   `json:"key"`
				Explain []string `json:"explain,omitempty"`
			}{g.bytes(key), lines})
		},
	}
	cmd.Flags().BoolVar(&explain, "explain", false, "print each step of the write path")
	return cmd
}
