package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheckpointGolden: checkpoint flushes the log's writes (reported on
// stderr), links every table into DEST and prints what it made; DEST then
// opens as a database with every key, which check finds sound. A DEST
// that exists and an empty DEST are usage errors (exit 2), as are
// arguments; a DEST whose parent is missing and a locked database exit 1.
// With -o json it prints an object.
func TestCheckpointGolden(t *testing.T) {
	runGolden(t, []scenario{
		{name: "checkpoint", setup: fillDB, noDir: true, steps: [][]string{
			{"--dir", "$DIR", "checkpoint", "$DIR-ckpt"},
			{"lsm", "$DIR-ckpt"},
			{"--dir", "$DIR-ckpt", "scan", "--keys-only"},
			{"check", "$DIR-ckpt"},
		}},
		{name: "checkpoint_json", setup: twoTables, noDir: true, steps: [][]string{
			{"--dir", "$DIR", "-o", "json", "checkpoint", "$DIR-ckpt"},
		}},
		{name: "checkpoint_new_db", setup: emptyDB, noDir: true, steps: [][]string{
			{"--dir", "$DIR", "checkpoint", "$DIR-ckpt"},
			{"--dir", "$DIR-ckpt", "scan"},
		}},
		{name: "checkpoint_dest", setup: fillDB, noDir: true, steps: [][]string{
			{"--dir", "$DIR", "checkpoint", "$DIR"},
			{"--dir", "$DIR", "checkpoint", "$DIR-missing/ckpt"},
			{"--dir", "$DIR", "checkpoint", ""},
		}},
		{name: "checkpoint_usage", steps: [][]string{
			{"checkpoint"},
			{"checkpoint", "a", "b"},
		}},
		{name: "checkpoint_locked", setup: holdDB, noDir: true, steps: [][]string{
			{"--dir", "$DIR", "checkpoint", "$DIR-ckpt"},
			{"lsm", "$DIR-ckpt"},
		}},
	})
}

// TestCheckpointLinks: the tables of a checkpoint are hard links to the
// database's, as checkpoint says (the same files: no space is used twice).
func TestCheckpointLinks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	fillDB(t, dir)
	dest := dir + "-ckpt"
	r := invoke("--dir", dir, "checkpoint", dest)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "linked      3\n")
	for _, name := range []string{"000005.sst", "000007.sst"} {
		ours, err := os.Stat(filepath.Join(dest, name))
		require.NoError(t, err)
		theirs, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		require.True(t, os.SameFile(ours, theirs), name)
	}
}

// TestCheckpointInterrupted: a canceled context (an interrupt) stops
// checkpoint: it exits 1 saying so, prints nothing on stdout and leaves no
// DEST.
func TestCheckpointInterrupted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	fillDB(t, dir)
	dest := dir + "-ckpt"
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := runContext(ctx, []string{"--dir", dir, "checkpoint", dest}, &stdout, &stderr)
	require.Equal(t, exitFailure, code)
	require.Empty(t, stdout.String())
	require.Contains(t, stderr.String(), "dkv: checkpoint interrupted")
	_, err := os.Stat(dest)
	require.ErrorIs(t, err, os.ErrNotExist)
}
