package dkv

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/datadriven"
	"github.com/distributedkv/dkv/vfs"
)

var updateState = flag.Bool("update", false, "rewrite testdata/state with the outputs the tests get (read the diff first)")

// TestStateGolden runs the scripts in testdata/state: operations on a
// database and the state they leave — the memtable's entries, the tables of
// each level, what reads and iterators see. Each file reads as a worked
// example of one mechanism; go test -run TestStateGolden -update rewrites
// the outputs (read the diff).
//
// Commands: open (a fresh database; memtable-size=N); put KEY=VALUE; del
// KEY; delete-range start=K end=K; batch (input lines "put K V", "del K");
// flush; compact [start=K end=K]; snapshot NAME; release NAME; memtable;
// lsm; get KEY [snapshot=NAME]; iter [lower=K upper=K snapshot=NAME] (input
// lines: first, last, seek-ge K, seek-lt K, next, prev).
func TestStateGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/state/*.txt")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var db *DB
			snaps := map[string]*Snapshot{}
			defer func() {
				for _, s := range snaps {
					s.Close()
				}
				if db != nil {
					require.NoError(t, db.Close())
				}
			}()
			datadriven.Run(t, path, *updateState, func(cmd string, args []string, input []string) string {
				if cmd != "open" && db == nil {
					return "error: no open database"
				}
				out, err := runStateCommand(&db, snaps, cmd, args, input)
				if err != nil {
					return "error: " + err.Error()
				}
				return out
			})
		})
	}
}

func runStateCommand(dbp **DB, snaps map[string]*Snapshot, cmd string, fields []string, input []string) (string, error) {
	db := *dbp
	args := datadriven.KeyValues(fields)
	first := "" // the word after the command: a key or a name
	if len(fields) > 0 {
		first = fields[0]
	}
	switch cmd {
	case "open":
		if db != nil {
			if err := db.Close(); err != nil {
				return "", err
			}
		}
		o := &Options{FS: vfs.NewMem(), NoSync: true, Logger: slog.New(slog.DiscardHandler)}
		if s, ok := args["memtable-size"]; ok {
			if _, err := fmt.Sscan(s, &o.MemTableSize); err != nil {
				return "", err
			}
		}
		var err error
		*dbp, err = Open("/db", o)
		return "", err
	case "put": // put KEY=VALUE
		k, v, ok := strings.Cut(first, "=")
		if len(fields) != 1 || !ok {
			return "", fmt.Errorf("put takes one KEY=VALUE")
		}
		return "", db.Put([]byte(k), []byte(v))
	case "del": // del KEY
		return "", db.Delete([]byte(first))
	case "delete-range":
		return "", db.DeleteRange([]byte(args["start"]), []byte(args["end"]))
	case "batch":
		b := db.NewBatch()
		defer b.Close()
		for _, line := range input {
			f := strings.Fields(line)
			switch {
			case len(f) == 3 && f[0] == "put":
				_ = b.Put([]byte(f[1]), []byte(f[2]))
			case len(f) == 2 && f[0] == "del":
				_ = b.Delete([]byte(f[1]))
			default:
				return "", fmt.Errorf("bad batch line %q", line)
			}
		}
		return "", db.Write(b, nil)
	case "flush":
		return "", db.Flush()
	case "compact":
		var start, end []byte
		if s, ok := args["start"]; ok {
			start = []byte(s)
		}
		if e, ok := args["end"]; ok {
			end = []byte(e)
		}
		return "", db.Compact(context.Background(), start, end)
	case "snapshot": // snapshot NAME
		snaps[first] = db.NewSnapshot()
		return "", nil
	case "release": // release NAME
		s := snaps[first]
		delete(snaps, first)
		return "", s.Close()
	case "memtable":
		return dumpMemTable(db), nil
	case "lsm":
		return dumpLSM(db), nil
	case "get":
		var v []byte
		var err error
		key := []byte(first)
		if name, ok := args["snapshot"]; ok {
			v, err = snaps[name].Get(key)
		} else {
			v, err = db.Get(key)
		}
		if err != nil {
			return err.Error(), nil
		}
		return string(v), nil
	case "iter":
		return runIter(db, snaps, args, input)
	}
	return "", fmt.Errorf("unknown command %q", cmd)
}

// dumpMemTable prints the mutable memtable's entries in internal-key
// order: every version, tombstones included, newest version of a key first.
func dumpMemTable(db *DB) string {
	rs := db.loadReadState()
	defer rs.unref()
	var b strings.Builder
	it := rs.mem.NewIter()
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		fmt.Fprintf(&b, "%s = %q\n", it.Key(), it.Value())
	}
	for _, span := range rs.mem.RangeDels().Spans() {
		fmt.Fprintf(&b, "range deletion %s\n", span)
	}
	fmt.Fprintf(&b, "%d entries, %d bytes", rs.mem.Len(), rs.mem.ApproximateSize())
	return b.String()
}

// dumpLSM prints the current version's tables, level by level.
func dumpLSM(db *DB) string {
	rs := db.loadReadState()
	defer rs.unref()
	var b strings.Builder
	for level, files := range rs.version.Levels {
		if len(files) == 0 {
			continue
		}
		fmt.Fprintf(&b, "L%d:\n", level)
		for _, f := range files {
			fmt.Fprintf(&b, "  %s: %s - %s, seqs %d-%d\n", f.FileNum, f.Smallest, f.Largest, f.SmallestSeq, f.LargestSeq)
		}
	}
	if b.Len() == 0 {
		return "no tables"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// runIter moves an iterator as the input lines say and prints where each
// move leaves it.
func runIter(db *DB, snaps map[string]*Snapshot, args map[string]string, input []string) (string, error) {
	o := &IterOptions{}
	if s, ok := args["lower"]; ok {
		o.LowerBound = []byte(s)
	}
	if s, ok := args["upper"]; ok {
		o.UpperBound = []byte(s)
	}
	var it *Iterator
	var err error
	if name, ok := args["snapshot"]; ok {
		it, err = snaps[name].NewIter(o)
	} else {
		it, err = db.NewIter(o)
	}
	if err != nil {
		return "", err
	}
	defer it.Close()
	var b strings.Builder
	for _, line := range input {
		f := strings.Fields(line)
		var ok bool
		switch {
		case len(f) == 1 && f[0] == "first":
			ok = it.First()
		case len(f) == 1 && f[0] == "last":
			ok = it.Last()
		case len(f) == 1 && f[0] == "next":
			ok = it.Next()
		case len(f) == 1 && f[0] == "prev":
			ok = it.Prev()
		case len(f) == 2 && f[0] == "seek-ge":
			ok = it.SeekGE([]byte(f[1]))
		case len(f) == 2 && f[0] == "seek-lt":
			ok = it.SeekLT([]byte(f[1]))
		default:
			return "", fmt.Errorf("bad iterator line %q", line)
		}
		if ok {
			fmt.Fprintf(&b, "%s: %s=%s\n", line, it.Key(), it.Value())
		} else {
			fmt.Fprintf(&b, "%s: .\n", line)
		}
	}
	return strings.TrimSuffix(b.String(), "\n"), it.Error()
}
