package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/client"
)

func newDelCmd(g *globals) *cobra.Command {
	var (
		explain bool
		r       *remote
	)
	cmd := &cobra.Command{
		Use:   "del KEY",
		Short: "Delete KEY",
		Long: `Delete KEY. The delete is synced: when del exits 0 it survives a crash.
Deleting a key that has no value succeeds. del prints nothing on success
(with -o json, the key it deleted). Under --hex, KEY is hex.` +
			fmt.Sprintf(remoteHelp, "del", writeHelp) +
			fmt.Sprintf(explainHelp, "del", "the write path, as put does"),
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
			if eps != nil {
				if err := noExplain(explain); err != nil {
					return err
				}
				if err := checkRemote(key); err != nil {
					return err
				}
				err := r.run(cmd, eps, func(ctx context.Context, c *client.Client) error {
					return c.Delete(ctx, key)
				})
				if err != nil {
					return err
				}
				return printDel(cmd.OutOrStdout(), g, key, nil)
			}
			lines, err := writeOne(cmd, g, explain, func(b *dkv.Batch) error { return b.Delete(key) })
			if err != nil {
				return err
			}
			return printDel(cmd.OutOrStdout(), g, key, lines)
		},
	}
	cmd.Flags().BoolVar(&explain, "explain", false, "print each step of the write path")
	r = addRemoteFlags(cmd)
	return cmd
}

// printDel prints what del deleted: nothing in text, the key and the steps
// of --explain in JSON.
func printDel(w io.Writer, g *globals, key []byte, lines []string) error {
	if !g.json() {
		return nil
	}
	return g.writeJSON(w, struct {
		Key     string   `json:"key"`
		Explain []string `json:"explain,omitempty"`
	}{g.bytes(key), lines})
}
