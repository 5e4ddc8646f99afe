package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
)

func newPutCmd(g *globals) *cobra.Command {
	var explain bool
	cmd := &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "Set KEY to VALUE",
		Long: `Set KEY to VALUE, replacing any earlier value. The write is synced: when
put exits 0 it survives a crash. put prints nothing on success (with -o
json, the key and value it set). Quote a VALUE that holds spaces; an
empty VALUE ("") is a value. Under --hex, KEY and VALUE are hex.` +
			fmt.Sprintf(explainHelp, "put", "the write path: the sequence\nnumber the write got, where its record went in the write-ahead log, how\nmany records shared its write and its fsync (group commit), and the\nmemtable after it"),
		Args: exactArgs("KEY", "VALUE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := g.arg("KEY", args[0])
			if err != nil {
				return err
			}
			value, err := g.arg("VALUE", args[1])
			if err != nil {
				return err
			}
			lines, err := writeOne(cmd, g, explain, func(b *dkv.Batch) error { return b.Put(key, value) })
			if err != nil || !g.json() {
				return err
			}
			return g.writeJSON(cmd.OutOrStdout(), struct {
				Key     string   `json:"key"`
				Value   string   `json:"value"`
				Explain []string `json:"explain,omitempty"`
			}{g.bytes(key), g.bytes(value), lines})
		},
	}
	cmd.Flags().BoolVar(&explain, "explain", false, "print each step of the write path")
	return cmd
}
