package main

import (
	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
)

func newFlushCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "flush",
		Short: "Write what the memtables hold to an L0 table",
		Long: `Write what the memtables of the database in --dir hold — the writes
replayed from the write-ahead log when it opens — to a new L0 table, and
print the levels of the LSM tree afterwards (as compact does). Flushing
an empty memtable writes nothing. Progress goes to standard error.

With -o json, flush prints {"levels": [{"level", "files", "size",
"target", "score"}, …], "total": {"files", "size"}}.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			opts := &dkv.Options{EventListener: progressListener(&lockedWriter{w: cmd.ErrOrStderr()})}
			var levels [dkv.NumLevels]dkv.LevelMetrics
			err := withOptions(cmd, g.dir, opts, func(db *dkv.DB) error {
				if err := db.Flush(); err != nil {
					return err
				}
				levels = db.Metrics().Levels
				return nil
			})
			if err != nil {
				return err
			}
			if g.json() {
				return g.writeJSON(w, levelsJSON(levels))
			}
			return printLevels(w, g, "levels", levels)
		},
	}
}
