package main

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// tourPath is the guided tour whose outputs TestTour checks.
const tourPath = "../../docs/tour.md"

// TestTour runs every command of docs/tour.md in order, on one fresh
// database, and compares what each prints on stdout with the lines below
// it in the page (for a command that fails, stdout then stderr, and a final
// "(exit N)" line). Under
// -update it rewrites the outputs in the page instead. Only "$ ./dkv …"
// lines are run; "tour-db" and "tree.svg" in their arguments stand for a
// directory and a file in a temporary directory, as the page has its
// reader work in one: nothing is written into the repository.
func TestTour(t *testing.T) {
	page, err := os.ReadFile(tourPath)
	require.NoError(t, err)
	before := listDir(t, ".")
	tmp := t.TempDir()
	var out []string // the page, with each console block's outputs as the commands print them
	lines := strings.Split(string(page), "\n")
	commands := 0
	for i := 0; i < len(lines); i++ {
		out = append(out, lines[i])
		if lines[i] != "```console" {
			continue
		}
		// One console block: commands, each followed by its expected output.
		var want, got []string
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			line := lines[i]
			if !strings.HasPrefix(line, "$ ") {
				want = append(want, line)
				continue
			}
			got = append(got, line)
			want = append(want, line)
			if !strings.HasPrefix(line, "$ ./dkv ") {
				continue // go build, rm: for the reader's shell only
			}
			commands++
			args := strings.Fields(strings.TrimPrefix(line, "$ ./dkv "))
			for j, a := range args {
				a = strings.ReplaceAll(a, "tour-db", filepath.Join(tmp, "tour-db"))
				args[j] = strings.ReplaceAll(a, "tree.svg", filepath.Join(tmp, "tree.svg"))
			}
			r := invoke(args...)
			text := r.stdout
			if r.code != 0 {
				text += r.stderr // what a terminal shows of a failing command
			}
			text = strings.ReplaceAll(text, tmp+string(filepath.Separator), "")
			if text != "" {
				got = append(got, strings.Split(strings.TrimSuffix(text, "\n"), "\n")...)
			}
			if r.code != 0 {
				got = append(got, fmt.Sprintf("(exit %d)", r.code))
			}
		}
		if i >= len(lines) {
			t.Fatalf("%s: a console block is not closed", tourPath)
		}
		if !*update {
			require.Equal(t, strings.Join(want, "\n"), strings.Join(got, "\n"),
				"docs/tour.md no longer shows what the commands print (rewrite it with go test ./cmd/dkv -run TestTour -update, after reading the diff)")
		}
		out = append(out, got...)
		out = append(out, lines[i])
	}
	require.Greater(t, commands, 10, "the tour runs its commands")

	// The picture the tour draws is well-formed SVG.
	svg, err := os.ReadFile(filepath.Join(tmp, "tree.svg"))
	require.NoError(t, err)
	dec := xml.NewDecoder(strings.NewReader(string(svg)))
	for {
		if _, err := dec.Token(); err != nil {
			require.ErrorContains(t, err, "EOF")
			break
		}
	}
	require.Contains(t, string(svg), "<svg")

	require.Equal(t, before, listDir(t, "."), "the tour wrote into the repository")

	if *update {
		require.NoError(t, os.WriteFile(tourPath, []byte(strings.Join(out, "\n")), 0o644))
	}
}

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}
