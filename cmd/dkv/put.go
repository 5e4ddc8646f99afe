package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/client"
)

func newPutCmd(g *globals) *cobra.Command {
	var (
		explain bool
		r       *remote
	)
	cmd := &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "Set KEY to VALUE",
		Long: `Set KEY to VALUE, replacing any earlier value. The write is synced: when
put exits 0 it survives a crash. put prints nothing on success (with -o
json, the key and value it set). Quote a VALUE that holds spaces; an
empty VALUE ("") is a value. Under --hex, KEY and VALUE are hex.` +
			fmt.Sprintf(remoteHelp, "put", writeHelp) +
			fmt.Sprintf(explainHelp, "put", "the write path: the sequence\nnumber the write got, where its record went in the write-ahead log, how\nmany records shared its write and its fsync (group commit), and the\nmemtable after it"),
		Args: exactArgs("KEY", "VALUE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			eps, err := r.list(cmd)
			if err != nil {
				return err
			}
			key, err := g.arg("KEY", args[0])
			if err != nil {
				return err
			}
			value, err := g.arg("VALUE", args[1])
			if err != nil {
				return err
			}
			if eps != nil {
				if err := noExplain(explain); err != nil {
					return err
				}
				if err := checkRemote(key, value); err != nil {
					return err
				}
				err := r.run(cmd, eps, func(ctx context.Context, c *client.Client) error {
					return c.Put(ctx, key, value)
				})
				if err != nil {
					return err
				}
				return printPut(cmd.OutOrStdout(), g, key, value, nil)
			}
			lines, err := writeOne(cmd, g, explain, func(b *dkv.Batch) error { return b.Put(key, value) })
			if err != nil {
				return err
			}
			return printPut(cmd.OutOrStdout(), g, key, value, lines)
		},
	}
	cmd.Flags().BoolVar(&explain, "explain", false, "print each step of the write path")
	r = addRemoteFlags(cmd)
	return cmd
}

// printPut prints what put wrote: nothing in text, the key, the value and
// the steps of --explain in JSON.
func printPut(w io.Writer, g *globals, key, value []byte, lines []string) error {
	if !g.json() {
		return nil
	}
	return g.writeJSON(w, struct {
		Key     string   `json:"key"`
		Value   string   `json:"value"`
		Explain []string `json:"explain,omitempty"`
	}{g.bytes(key), g.bytes(value), lines})
}
