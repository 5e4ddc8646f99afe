package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
	"github.com/distributedkv/dkv/wal"
)

// TestCheckGolden: check reads every table and log the MANIFEST needs and
// prints a row per file, one line per problem (file and offset) and a
// summary. A sound database exits 0, also with warnings (the newest log's
// torn tail, orphan files); any damage exits 1 with "damage found: N
// problems": a flipped byte in a table, in the MANIFEST (the tables and
// logs are then checked on their own), or in a sealed log; a missing
// table; a missing log (the one the MANIFEST's log number names); a gap
// in the sequence numbers; a torn tail in a log that is not the newest.
// -o json prints the same as an object.
func TestCheckGolden(t *testing.T) {
	runGolden(t, []scenario{
		{name: "check", setup: fillDB, noDir: true, steps: [][]string{
			{"check", "$DIR"},
		}},
		{name: "check_new_db", setup: emptyDB, noDir: true, steps: [][]string{
			{"check", "$DIR"},
		}},
		{name: "check_table_corrupt", setup: corruptTable, noDir: true, steps: [][]string{
			{"check", "$DIR"},
		}},
		{name: "check_manifest_corrupt", setup: corruptManifest, noDir: true, steps: [][]string{
			{"check", "$DIR"},
		}},
		{name: "check_log_corrupt", setup: corruptSealedLog, noDir: true, steps: [][]string{
			{"check", "$DIR"},
		}},
		{name: "check_missing_table", setup: missingTable, noDir: true, steps: [][]string{
			{"check", "$DIR"},
		}},
		{name: "check_missing_log", setup: missingLog, noDir: true, steps: [][]string{
			{"check", "$DIR"},
		}},
		{name: "check_torn_and_orphans", setup: tornNewestLogAndOrphans, noDir: true, steps: [][]string{
			{"check", "$DIR"},
		}},
		{name: "check_log_gap", setup: logGap, noDir: true, steps: [][]string{
			{"check", "$DIR"},
		}},
		{name: "check_torn_older_log", setup: tornOlderLog, noDir: true, steps: [][]string{
			{"check", "$DIR"},
		}},
		{name: "check_json", setup: fillDB, noDir: true, steps: [][]string{
			{"-o", "json", "check", "$DIR"},
		}},
		{name: "check_manifest_corrupt_json", setup: corruptManifest, noDir: true, steps: [][]string{
			{"-o", "json", "check", "$DIR"},
		}},
		{name: "check_no_db", noDir: true, steps: [][]string{
			{"check", "$DIR"},
			{"check", "$DIR/nothing/here"},
		}},
		{name: "check_wrong_arg_count", noDir: true, steps: [][]string{
			{"check"},
			{"check", "a", "b"},
		}},
	})
}

// corruptSealedLog builds the database of fillDB, whose Close sealed its
// log 000006.log, and damages the first of the log's two records: the
// second record (and the seal) show it had been synced.
func corruptSealedLog(t *testing.T, dir string) {
	fillDB(t, dir)
	path := filepath.Join(dir, "000006.log")
	offs := recordOffsets(t, path, 6)
	require.Len(t, offs, 2)
	flipByte(t, path, offs[0]+wal.ChunkHeaderSize+12)
}

// missingTable builds the database of fillDB and removes its newer table.
func missingTable(t *testing.T, dir string) {
	fillDB(t, dir)
	require.NoError(t, os.Remove(filepath.Join(dir, "000007.sst")))
}

// missingLog builds the database of fillDB and removes its only log,
// 000006.log, which the MANIFEST's log number names: the two writes made
// after the last flush are gone, and no later log shows a gap.
func missingLog(t *testing.T, dir string) {
	fillDB(t, dir)
	require.NoError(t, os.Remove(filepath.Join(dir, "000006.log")))
}

// tornNewestLogAndOrphans builds the database of fillDB, cuts its only
// (so newest) log inside its last record, as a crash during the append
// would, and leaves files the MANIFEST does not name: a table, an older
// log, an older MANIFEST and a temporary file.
func tornNewestLogAndOrphans(t *testing.T, dir string) {
	fillDB(t, dir)
	path := filepath.Join(dir, "000006.log")
	offs := recordOffsets(t, path, 6)
	require.NoError(t, os.Truncate(path, offs[len(offs)-1]+10))
	copyFile(t, filepath.Join(dir, "000005.sst"), filepath.Join(dir, "000099.sst"))
	copyFile(t, path, filepath.Join(dir, "000003.log"))
	copyFile(t, filepath.Join(dir, "MANIFEST-000002"), filepath.Join(dir, "MANIFEST-000001"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "000098.tmp"), []byte("MANIFEST-000002\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not dkv's"), 0o644))
}

// logGap builds the database of fillDB (whose log 000006.log ends at
// sequence number 21) and adds a newer log whose batch starts at 30: the
// writes 22 to 29 are missing.
func logGap(t *testing.T, dir string) {
	fillDB(t, dir)
	writeLog(t, dir, 9, encodeBatch(30, batchOp{base.KindSet, []byte("k"), []byte("v")}))
}

// tornOlderLog builds the database of fillDB, cuts its log 000006.log
// inside its last record, and adds a newer log that continues the
// sequence numbers: a torn tail in a log that is not the newest is damage.
func tornOlderLog(t *testing.T, dir string) {
	fillDB(t, dir)
	path := filepath.Join(dir, "000006.log")
	offs := recordOffsets(t, path, 6)
	require.NoError(t, os.Truncate(path, offs[len(offs)-1]+10))
	writeLog(t, dir, 9, encodeBatch(21, batchOp{base.KindSet, []byte("k"), []byte("v")}))
}

// writeLog writes the log numbered num in dir, holding recs, sealed.
func writeLog(t *testing.T, dir string, num base.FileNum, recs ...[]byte) {
	t.Helper()
	path := filepath.Join(dir, base.MakeFilename(base.FileTypeLog, num))
	f, err := vfs.Default.Create(path)
	require.NoError(t, err)
	w, err := wal.NewWriter(f, path, num, wal.WriterOptions{Salt: 1})
	require.NoError(t, err)
	for _, rec := range recs {
		_, err := w.Append(rec, true)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o644))
}

// TestCheckReadOnly: check changes no file of the directory it checks,
// creates none (not even LOCK) and removes none, whether the database is
// sound or damaged.
func TestCheckReadOnly(t *testing.T) {
	for name, setup := range map[string]func(*testing.T, string){
		"sound":    fillDB,
		"table":    corruptTable,
		"manifest": corruptManifest,
		"log":      corruptSealedLog,
		"torn":     tornNewestLogAndOrphans,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "db")
			setup(t, dir)
			require.NoError(t, os.Remove(filepath.Join(dir, "LOCK")))
			before := dirImage(t, dir)
			invoke("check", dir)
			require.Equal(t, before, dirImage(t, dir))
		})
	}
}

// dirImage returns each file of dir with its contents, size, mode and
// modification time.
func dirImage(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	image := map[string]string{}
	for _, e := range entries {
		info, err := e.Info()
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		image[e.Name()] = info.ModTime().String() + " " + info.Mode().String() + " " + string(b)
	}
	return image
}

// TestCheckFindsEveryFlip: check reports damage (exit 1, a problem naming
// the damaged file) for a bit flipped at any offset of any file of a
// database, one bit per byte (bit offset%8), except in the seal that ends
// the log or the MANIFEST (their last 15 bytes): a damaged seal is a torn
// tail, which Open drops without losing anything, so check exits 0 (with a
// warning for the log). It never panics.
func TestCheckFindsEveryFlip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	fillDB(t, dir)
	require.NoError(t, os.Remove(filepath.Join(dir, "LOCK")))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	const sealSize = wal.ChunkHeaderSize + 8
	tried := 0
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		typ, _, ok := base.ParseFilename(e.Name())
		require.True(t, ok, e.Name())
		sealed := typ == base.FileTypeLog || typ == base.FileTypeManifest
		for off := range data {
			damaged := slices.Clone(data)
			damaged[off] ^= 1 << (off % 8)
			require.NoError(t, os.WriteFile(path, damaged, 0o644))
			r := invoke("check", dir)
			where := fmt.Sprintf("%s offset %d bit %d:\n%s%s", e.Name(), off, off%8, r.stdout, r.stderr)
			if sealed && off >= len(data)-sealSize {
				require.Equal(t, exitOK, r.code, where)
			} else {
				require.Equal(t, exitFailure, r.code, where)
				require.Contains(t, r.stderr, "dkv: damage found: ", where)
				if typ != base.FileTypeCurrent {
					require.Contains(t, r.stdout, "corruption in "+path, where)
				}
			}
			tried++
		}
		require.NoError(t, os.WriteFile(path, data, 0o644))
	}
	t.Logf("%d flips checked", tried)
}

// TestCheckSoundAfterCompactions: a database whose tables went through
// background compactions (L0 into L1) and a manual one (to the bottom
// level, zstd), and whose MANIFEST was rotated by reopening, is sound: no
// problem, no warning.
func TestCheckSoundAfterCompactions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	for session := range 3 {
		buildDB(t, dir, func(db *dkv.DB) {
			for r := range 6 {
				for i := range 40 {
					k := fmt.Appendf(nil, "key%03d", (i*7+r+session)%60)
					if i%9 == 0 {
						require.NoError(t, db.Delete(k))
					} else {
						require.NoError(t, db.Put(k, fmt.Appendf(nil, "s%d-r%d-%d", session, r, i)))
					}
				}
				require.NoError(t, db.Flush())
			}
			if session == 1 {
				require.NoError(t, db.Compact(t.Context(), nil, []byte("key030")))
			}
			require.NoError(t, db.Put([]byte("tail"), []byte("in the log")))
		})
	}
	r := invoke("check", dir)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "problems    0\n  warnings    0\n", r.stdout)
	require.Regexp(t, `\n  L[1-5] `, r.stdout, "a table below L0")
	require.Contains(t, r.stdout, "\n  L6 ", "a table in the bottom level")
}
