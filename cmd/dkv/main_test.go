package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the output the tests get")

// dirPlaceholder replaces the temporary database directory in golden
// output, so that the files do not depend on where tests run.
const dirPlaceholder = "$DIR"

// result is what one run of the command produced.
type result struct {
	stdout, stderr string
	code           int
}

// invoke calls run with args, as the process would.
func invoke(args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// scenario is a sequence of commands run against one fresh database
// directory and checked against testdata/<name>.golden.
type scenario struct {
	name string
	// setup, if set, runs before the commands with the database directory.
	setup func(t *testing.T, dir string)
	// steps are command lines without --dir; noDir steps get no --dir flag
	// (for tests of argument parsing before it, and for commands that take
	// the directory or a file in it as an argument). In steps, $DIR stands
	// for the database directory.
	steps [][]string
	noDir bool
}

// runGolden runs each scenario and compares its transcript with its golden
// file, or rewrites the file under -update.
func runGolden(t *testing.T, scenarios []scenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "db")
			if sc.setup != nil {
				sc.setup(t, dir)
			}
			var out strings.Builder
			for _, step := range sc.steps {
				args := make([]string, len(step))
				for i, a := range step {
					args[i] = strings.ReplaceAll(a, dirPlaceholder, dir)
				}
				if !sc.noDir {
					args = append([]string{"--dir", dir}, args...)
				}
				r := invoke(args...)
				writeStep(&out, args, r)
			}
			got := strings.ReplaceAll(out.String(), dir, dirPlaceholder)
			checkGolden(t, sc.name, got)
		})
	}
}

// writeStep appends one command and its outcome to a transcript:
//
//	$ dkv --dir $DIR get greeting
//	--- stdout
//	hello
//	--- exit 0
//
// An empty stream is left out; one that does not end in a newline is
// followed by "--- (no newline at end)".
func writeStep(w *strings.Builder, args []string, r result) {
	w.WriteString("$ dkv")
	for _, a := range args {
		w.WriteString(" " + shellQuote(a))
	}
	w.WriteString("\n")
	for _, s := range []struct{ name, text string }{{"stdout", r.stdout}, {"stderr", r.stderr}} {
		if s.text == "" {
			continue
		}
		fmt.Fprintf(w, "--- %s\n%s", s.name, s.text)
		if !strings.HasSuffix(s.text, "\n") {
			w.WriteString("\n--- (no newline at end)\n")
		}
	}
	fmt.Fprintf(w, "--- exit %d\n\n", r.code)
}

// shellQuote quotes an argument that a shell would split or drop, or that
// is not plain text.
func shellQuote(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\"'\\$") || needsQuote(s) {
		return strconv.Quote(s)
	}
	return s
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./cmd/dkv -update to create it")
	require.Equal(t, string(want), got, "output differs from %s (rewrite it with -update after reading the diff)", path)
}

// holdDB opens the database in dir for the rest of the test, as another
// process would.
func holdDB(t *testing.T, dir string) {
	t.Helper()
	db, err := dkv.Open(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
}

// TestUsageGolden: cobra's own errors (unknown commands and flags, a bad
// -o) are usage errors, exit 2 with a hint, and so is no command at all
// (the usage goes to stderr) and help of an unknown command; help that is
// asked for goes to stdout and exits 0.
func TestUsageGolden(t *testing.T) {
	runGolden(t, []scenario{
		{name: "unknown_command", steps: [][]string{{"frob", "k"}, {"help", "frob"}}},
		{name: "unknown_flag", steps: [][]string{{"get", "--frob", "k"}, {"--frob", "get", "k"}, {"--frob"}}},
		{name: "help", noDir: true, steps: [][]string{{"--help"}}},
		{name: "help_put", noDir: true, steps: [][]string{{"put", "--help"}, {"help", "put"}}},
		{name: "no_command", noDir: true, steps: [][]string{{}, {"-o", "json", "--dir", "x"}}},
		{name: "bad_output", steps: [][]string{{"-o", "yaml", "get", "k"}, {"get", "--output=", "k"}, {"scan", "-o"}}},
	})
}

// TestDemoFlow is the flow a user tries first: put, get, del, get. Each
// step is a separate run, so each reopens the database and the later steps
// see what the earlier ones made durable.
func TestDemoFlow(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")

	r := invoke("--dir", dir, "put", "greeting", "hello")
	require.Equal(t, result{code: exitOK}, r, "put")

	r = invoke("--dir", dir, "get", "greeting")
	require.Equal(t, result{stdout: "hello\n", code: exitOK}, r, "get after put")

	r = invoke("--dir", dir, "del", "greeting")
	require.Equal(t, result{code: exitOK}, r, "del")

	r = invoke("--dir", dir, "get", "greeting")
	require.Equal(t, result{stderr: "dkv: key \"greeting\" not found\n", code: exitNotFound}, r, "get after del")
}

// TestDefaultDir: without --dir the database is ./data.
func TestDefaultDir(t *testing.T) {
	t.Chdir(t.TempDir())
	require.Equal(t, exitOK, invoke("put", "k", "v").code)
	_, err := os.Stat("data")
	require.NoError(t, err, "put without --dir must create ./data")
	require.Equal(t, result{stdout: "v\n", code: exitOK}, invoke("get", "k"))
}

// TestDocListsExitCodes: doc.go and dkv --help list the same exit codes.
func TestDocListsExitCodes(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	var doc []string
	for line := range strings.Lines(string(src)) {
		if c, ok := strings.CutPrefix(line, "//"); ok {
			doc = append(doc, strings.TrimSpace(c))
		}
	}
	var codes []string
	for line := range strings.Lines(exitCodesHelp) {
		codes = append(codes, strings.TrimSpace(line))
	}
	codes = codes[1:] // the heading differs: "# Exit status" in doc.go
	require.Contains(t, strings.Join(doc, "\n"), strings.Join(codes, "\n"),
		"doc.go must list the exit codes exactly as exitCodesHelp does")
}

// TestDocListsCommands: doc.go's usage lines name every command of dkv.
func TestDocListsCommands(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	named := map[string]bool{}
	for line := range strings.Lines(string(src)) {
		if usage, ok := strings.CutPrefix(line, "//\tdkv "); ok {
			for _, f := range strings.Fields(usage) {
				named[f] = true
			}
		}
	}
	root, _ := newRootCmd()
	for _, cmd := range root.Commands() {
		require.True(t, named[cmd.Name()], "doc.go has no usage line for %s", cmd.Name())
	}
}

// TestReadOnlyCommands: get, scan and space open the database read-only:
// they change, create and remove no file of a database directory (a torn
// log tail included, which a read-write open would truncate), and create
// no directory where there is none.
func TestReadOnlyCommands(t *testing.T) {
	for _, args := range [][]string{
		{"get", "user001"},
		{"get", "nothing"},
		{"scan"},
		{"-o", "json", "scan", "--prefix", "user"},
		{"space"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "db")
			tornNewestLogAndOrphans(t, dir)
			before := dirImage(t, dir)
			r := invoke(append([]string{"--dir", dir}, args...)...)
			require.NotEqual(t, exitFailure, r.code, r.stderr)
			require.Equal(t, before, dirImage(t, dir))

			missing := filepath.Join(t.TempDir(), "missing")
			r = invoke(append([]string{"--dir", missing}, args...)...)
			require.Equal(t, result{stderr: "dkv: no database in " + missing + "\n", code: exitFailure}, r)
			_, err := os.Stat(missing)
			require.ErrorIs(t, err, os.ErrNotExist)
		})
	}
}
