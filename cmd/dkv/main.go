package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// Exit codes; doc.go and exitCodesHelp describe them to users.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotFound = 3
)

// exitCodesHelp ends the long help text. doc.go repeats it word for word
// (TestDocListsExitCodes checks).
const exitCodesHelp = `Exit status:
  0  success (del of a missing key included; cas that swapped)
  1  error: I/O, corruption, locked database, no database in --dir
     (get, scan, space), interrupted compact or checkpoint, no node
     of --endpoints answering before --timeout, a write to a cluster
     that may or may not have been applied, ...
  2  usage error: no command, wrong number of arguments, unknown
     command or flag, a bad flag value or combination (scan --prefix
     with --start, -o yaml, -o json without --hex on keys or values
     that are not UTF-8 text, --dir with --endpoints or DKV_ENDPOINTS),
     or an argument the command refuses (an empty or oversized key, a
     start above the end, bad hex under --hex, a checkpoint DEST that
     exists, a wal FILE not named NNNNNN.log without --lognum)
  3  key not found (get only)
  4  not swapped: the value was not OLD, nothing changed (cas only)`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the dkv command line args (without the program name),
// writing to stdout and stderr, and returns the process exit code. It never
// exits the process itself.
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

// runContext is run with a context: canceling it stops a command that
// waits (compact). Commands that handle an interrupt (compact) derive
// their context from ctx.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root, st := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)

	cmd, err := root.ExecuteContextC(ctx)
	if err == nil && st.noCommand {
		fmt.Fprintf(stderr, "dkv: no command\n\n%s", root.UsageString())
		return exitUsage
	}
	if err == nil {
		return exitOK
	}
	code := exitUsage // an error before a command started is cobra's: usage
	if st.started {
		code = exitCode(err)
	}
	fmt.Fprintf(stderr, "dkv: %s\n", trimDKV(err.Error()))
	if code == exitUsage {
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// runState is what a run of the command tree tells runContext beyond its
// error.
type runState struct {
	// started turns true once a subcommand's arguments and flags have been
	// accepted and it begins to run: errors before that are usage errors,
	// errors after it are the command's own.
	started bool
	// noCommand is set when no command was given (dkv alone, or with
	// flags only), which cobra would answer with the help and success.
	noCommand bool
}

// newRootCmd builds the command tree, and the state that its run fills in.
func newRootCmd() (root *cobra.Command, st *runState) {
	st = &runState{}
	g := &globals{output: outputText}
	root = &cobra.Command{
		Use:   "dkv",
		Short: "Read and write a dkv database",
		Long: `dkv reads and writes a dkv database, one operation per run, and inspects
the files of a database.

put, del and delete-range open the database in --dir (creating it if
needed), perform one synced write, and close it; get opens it read-only
(it must exist) and prints the value and a newline. Another process
holding the database open makes them fail with "locked". put, del and
delete-range print nothing on success.

scan and space open the database in --dir read-only: scan prints the keys
of a range (all, a prefix, or [start, end)) with their values, in key
order; space estimates the disk space of a range and where to split it.
flush, compact and checkpoint open it to write: flush writes the
memtables to an L0 table; compact compacts a range of keys down to the
bottom level and prints the shape of the LSM tree before and after;
checkpoint writes a copy of the database to a new directory.

cas compares and swaps: it sets a key to a new value (or deletes it) only
if its value is the one given (or it has none).

get, put, del, cas and scan also work on a cluster: with --endpoints
H:P[,H:P...] (or DKV_ENDPOINTS in the environment) they talk to the nodes
at those addresses instead of opening --dir, and print the same output.

get, put, del and compact take --explain: they print each step of the
read or write path (or the picker's view and each compaction's reason) as
it happened; lsm --svg draws the tree. docs/tour.md follows one key
through the engine with them.

sstable, wal, manifest and lsm print what a table file, a write-ahead log
file, or the MANIFEST of a database directory holds. They take the file
or directory as their argument and ignore --dir; they only read, without
opening the database, so they work while another process holds it open.

check verifies a database directory, read-only as well: it reads every
table and log the MANIFEST needs from end to end, checks their checksums,
key order and sequence numbers, prints what it read and one line per
problem, and exits 1 when it finds damage.

Output that people read goes to standard output as aligned tables; with
-o json, every command writes one JSON object there instead. --hex takes
the keys and values given on the command line in hex, and prints keys and
values in hex. In JSON a key or value is always a string: hex under
--hex, otherwise UTF-8 text; bytes that are not UTF-8 text make a command
refuse -o json without --hex (exit 2) rather than print them changed.
Errors, logs and progress go to standard error; errors are prefixed
"dkv: ".

` + exitCodesHelp,
		SilenceErrors: true, // run prints errors and picks the exit code
		SilenceUsage:  true,
		// Subcommands must not set their own PersistentPreRun: cobra runs
		// only the nearest one, and this one marks the start of a run.
		PersistentPreRun:  func(*cobra.Command, []string) { st.started = true },
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	// cobra shows the help of a command that is not runnable (the root)
	// as if --help had asked for it: without --help, no command was given.
	// The help command calls help itself, so that this is the only way
	// here without --help.
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		if asked, _ := c.Flags().GetBool("help"); c == root && !asked {
			st.noCommand = true
			return
		}
		help(c, args)
	})
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [COMMAND]",
		Short: "Help about any command",
		Long:  "Print the help of COMMAND, or of dkv without one.",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, _, err := root.Find(args)
			if err != nil {
				return &codeError{code: exitUsage, err: err}
			}
			cmd.InitDefaultHelpFlag() // cobra adds it only to the command it runs
			help(cmd, args)
			return nil
		},
	})
	flags := root.PersistentFlags()
	flags.StringVar(&g.dir, "dir", "./data", "database directory")
	flags.VarP(&g.output, "output", "o", "output `FORMAT`: text (aligned tables) or json (one object)")
	flags.BoolVar(&g.hex, "hex", false, "take and print keys and values in hex")
	root.AddCommand(newPutCmd(g), newGetCmd(g), newDelCmd(g), newCASCmd(g), newDeleteRangeCmd(g),
		newScanCmd(g), newSpaceCmd(g), newFlushCmd(g), newCompactCmd(g), newCheckpointCmd(g),
		newSSTableCmd(g), newWALCmd(g), newManifestCmd(g), newLSMCmd(g), newCheckCmd(g),
		newStartCmd(g), newDemoCmd(g), newRangeCmd(g))
	return root, st
}

// exitCode maps an error from a running command to its exit code.
func exitCode(err error) int {
	var ce *codeError
	switch {
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, dkv.ErrInvalidArgument):
		return exitUsage
	default:
		return exitFailure
	}
}

// usageError returns a usage error (exit 2) for an argument or flag value
// the command refuses.
func usageError(format string, a ...any) error {
	return &codeError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// codeError is an error that carries its own exit code.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

// withDB opens the database in dir with the default options (synced
// writes), calls fn, and closes the database. A failed Close is reported
// even when fn succeeded (for a write it may mean the write is not durable),
// and then it is the error that counts. The library's warnings (a torn log
// tail truncated, writes stopped) go to the command's stderr.
func withDB(cmd *cobra.Command, dir string, fn func(db *dkv.DB) error) error {
	return withOptions(cmd, dir, &dkv.Options{}, fn)
}

// withReadOnly is withDB for a command that only reads: it opens the
// database with Options.ReadOnly, which writes nothing to dir and creates
// nothing, so dir must hold a database ("no database in DIR" otherwise).
// A writer holding the database still makes it fail with ErrLocked.
func withReadOnly(cmd *cobra.Command, dir string, fn func(db *dkv.DB) error) error {
	// Open refuses these too, but in a library's words, and a file in
	// place of dir would be its ErrInvalidArgument (exit 2): say it as
	// the inspection commands do.
	info, err := vfs.Default.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no database in %s", dir)
	case err != nil:
		return err
	case !info.IsDir():
		return fmt.Errorf("no database in %s: not a directory", dir)
	}
	if _, err := currentManifest(dir); err != nil {
		return err
	}
	return withOptions(cmd, dir, &dkv.Options{ReadOnly: true}, fn)
}

// withOptions is withDB with opts (which it may modify) for the fields
// other than Logger.
func withOptions(cmd *cobra.Command, dir string, opts *dkv.Options, fn func(db *dkv.DB) error) (err error) {
	opts.Logger = newLogger(cmd.ErrOrStderr())
	db, err := dkv.Open(dir, opts)
	if err != nil {
		return err
	}
	defer func() {
		cerr := db.Close()
		switch {
		case cerr == nil:
		case err == nil:
			err = fmt.Errorf("close %s: %w", dir, cerr)
		default:
			// The failed Close decides the exit code, so fn's error is
			// kept as text only.
			err = fmt.Errorf("%v; close %s: %w", err, dir, cerr)
		}
	}()
	return fn(db)
}

// exactArgs accepts exactly one argument per name, so that
// "put takes 2 arguments (KEY VALUE), got 1" can say what is missing. With
// no names it accepts no arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == len(names) {
			return nil
		}
		if len(names) == 0 {
			return fmt.Errorf("%s takes no arguments, got %d", cmd.Name(), len(args))
		}
		plural := "s"
		if len(names) == 1 {
			plural = ""
		}
		return fmt.Errorf("%s takes %d argument%s (%s), got %d",
			cmd.Name(), len(names), plural, strings.Join(names, " "), len(args))
	}
}

// trimDKV drops the "dkv: " that the library's errors start with, which
// the tool's own prefix would repeat.
func trimDKV(msg string) string { return strings.TrimPrefix(msg, "dkv: ") }

// newLogger returns a logger of warnings and errors as text lines on w,
// without timestamps (the run is short, and golden tests stay stable).
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}
