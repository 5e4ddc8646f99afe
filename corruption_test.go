package dkv_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
	"github.com/distributedkv/dkv/wal"
)

// The corruption sweeps damage a small closed database one bit at a time,
// at every byte offset of every file (or, for a file above
// corruptionSweepAll bytes, at a dense sample of at least
// corruptionSweepSample offsets), each time in a fresh copy of the
// filesystem, and check the contract of damaged bytes ("Damaged bytes are
// reported as ErrCorruption with the file and offset, never returned as
// data"):
//
//   - either Open fails with an error matching ErrCorruption, whose
//     *CorruptionError names the damaged file (for CURRENT: CURRENT, or the
//     MANIFEST the damaged CURRENT names, which does not exist) and an
//     offset of at least -1;
//   - or Open succeeds, and a full scan and a Get of every key ever written
//     (and of keys never written) return exactly the right data, or
//     ErrCorruption naming the damaged file from the read that meets the
//     damage: never a wrong value, a missing key or a resurrected one
//     without an error, never a panic.
//
// Damage that no read reports must be harmless: every byte of a table,
// CURRENT, and of a log or MANIFEST before its seal, is covered by a
// checksum, a magic number or a parse, so a bitFlip there must be reported
// (at Open or by a read). The one allowed exception is a bitFlip inside the
// seal chunk that ends a sealed log or MANIFEST (its last 15 bytes):
// nothing after the seal vouches for it, so recovery takes it for a torn
// tail and drops it (docs/format/wal.md, "Recovery rule"), and the data
// is still correct.

const (
	corruptionDir         = "/db"
	corruptionSweepAll    = 8 << 10 // files up to this size: every offset
	corruptionSweepSample = 2048    // larger files: this many offsets, evenly spread
	corruptionSealSize    = wal.ChunkHeaderSize + 8
)

// corruptionOptions are the options of the swept database: a small
// memtable and small blocks, so that a few dozen keys make several tables
// of several blocks.
func corruptionOptions(fs vfs.FS) *dkv.Options {
	o := &dkv.Options{FS: fs, MemTableSize: 4 << 10, Logger: slog.New(slog.DiscardHandler)}
	o.Levels[0].BlockSize = 256
	return o
}

// buildCorruptionDB builds the swept database: a table in L6 (zstd, read
// through the level iterator) and two in L0 (snappy), whose sets,
// overwrites and tombstones shadow older tables; a MANIFEST of five edits
// (the snapshot, three flushes, a compaction); and a log of seven records,
// a batch among them, sealed by Close. It returns the filesystem and what
// the database holds.
func buildCorruptionDB(t *testing.T) (*vfs.MemFS, map[string]string) {
	t.Helper()
	fs := vfs.NewMem()
	db, err := dkv.Open(corruptionDir, corruptionOptions(fs))
	require.NoError(t, err)
	model := map[string]string{}
	put := func(k, v string) {
		require.NoError(t, db.Put([]byte(k), []byte(v)))
		model[k] = v
	}
	del := func(k string) {
		require.NoError(t, db.Delete([]byte(k)))
		delete(model, k)
	}
	for i := range 24 {
		put(fmt.Sprintf("key%03d", i), fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", i)))
	}
	del("key003")
	del("key010")
	require.NoError(t, db.Compact(t.Context(), nil, nil)) // flushed, then moved to L6
	for i := 12; i < 36; i += 2 {
		put(fmt.Sprintf("key%03d", i), fmt.Sprintf("second-%d", i))
	}
	del("key005")
	del("key013")
	put("key003", "back")
	require.NoError(t, db.Flush())
	for i := 30; i < 44; i++ {
		put(fmt.Sprintf("key%03d", i), fmt.Sprintf("third-%d", i))
	}
	del("key000")
	put("empty", "")
	require.NoError(t, db.Flush())
	m := db.Metrics()
	require.Equal(t, 2, m.Levels[0].Files, "L0")
	require.Equal(t, 1, m.Levels[dkv.NumLevels-1].Files, "L6")
	// The log: single writes and a batch, never flushed.
	put("key001", "in-the-log")
	del("key020")
	put("key050", "log-only")
	b := db.NewBatch()
	require.NoError(t, b.Put([]byte("key051"), []byte("batch-1")))
	require.NoError(t, b.Delete([]byte("key031")))
	require.NoError(t, b.Put([]byte("key052"), []byte("batch-2")))
	require.NoError(t, db.Write(b, nil))
	model["key051"], model["key052"] = "batch-1", "batch-2"
	delete(model, "key031")
	put("key006", "overwritten in the log")
	del("key040")
	put("key053", "last")
	require.NoError(t, db.Close())
	return fs, model
}

// corruptionFile is a file of the swept database and the kind it is
// reported under.
type corruptionFile struct {
	name, kind string
	data       []byte
}

// corruptionFiles returns the files of the swept database, checking it
// has the shape the sweeps need.
func corruptionFiles(t *testing.T, fs *vfs.MemFS) []corruptionFile {
	t.Helper()
	names, err := fs.List(corruptionDir)
	require.NoError(t, err)
	var files []corruptionFile
	kinds := map[string]int{}
	for _, name := range names {
		typ, _, ok := base.ParseFilename(name)
		require.True(t, ok, "unexpected file %s", name)
		kind := map[base.FileType]string{base.FileTypeLog: "WAL", base.FileTypeTable: "table",
			base.FileTypeManifest: "MANIFEST", base.FileTypeCurrent: "CURRENT"}[typ]
		if kind == "" {
			continue // LOCK: empty, and not read by recovery
		}
		files = append(files, corruptionFile{name: name, kind: kind, data: readMemFile(t, fs, name)})
		kinds[kind]++
	}
	require.Equal(t, map[string]int{"WAL": 1, "table": 3, "MANIFEST": 1, "CURRENT": 1}, kinds, "files: %v", names)
	return files
}

// readMemFile returns the contents of the file name of fs's database
// directory.
func readMemFile(t *testing.T, fs vfs.FS, name string) []byte {
	t.Helper()
	f, err := fs.Open(fs.PathJoin(corruptionDir, name))
	require.NoError(t, err)
	data, err := io.ReadAll(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return data
}

// bitFlip is one corruption: a bit of the byte at an offset.
type bitFlip struct {
	off int
	bit uint
}

// everyBitOf returns a flip of every bit of every byte of a file of n
// bytes: the plan for the framing of logs and MANIFESTs (lengths, types,
// the offsets recovery reasons about) and for CURRENT.
func everyBitOf(n int) []bitFlip {
	flips := make([]bitFlip, 0, 8*n)
	for off := range n {
		for bit := range uint(8) {
			flips = append(flips, bitFlip{off, bit})
		}
	}
	return flips
}

// oneBitPerByte returns a flip of one bit of every byte of a file of n
// bytes, bit off%8, so that every bit position is flipped somewhere: the
// plan for tables, whose every block is checked by its checksum before
// anything in it is parsed, in an eighth of the time.
func oneBitPerByte(n int) []bitFlip {
	flips := make([]bitFlip, 0, n)
	for off := range n {
		flips = append(flips, bitFlip{off, uint(off % 8)})
	}
	return flips
}

// sampledBits returns, for a file of n bytes above corruptionSweepAll, a
// flip at corruptionSweepSample evenly spread offsets and at every offset
// of dense (the places a sample would rarely hit: headers, block
// boundaries, the seal), one bit each, bit off%8.
func sampledBits(n int, dense []int) []bitFlip {
	offs := slices.Clone(dense)
	for i := range corruptionSweepSample {
		offs = append(offs, i*n/corruptionSweepSample)
	}
	slices.Sort(offs)
	offs = slices.Compact(offs)
	flips := make([]bitFlip, 0, len(offs))
	for _, off := range offs {
		if off >= 0 && off < n {
			flips = append(flips, bitFlip{off, uint(off % 8)})
		}
	}
	return flips
}

// corruptionOutcome is what one damaged copy of the database did.
type corruptionOutcome int

const (
	refusedAtOpen  corruptionOutcome = iota // Open failed with ErrCorruption
	reportedByRead                          // Open succeeded; a read reported ErrCorruption
	harmless                                // Open succeeded; every read was right
	numOutcomes
)

// TestCorruptionSweep flips, one at a time and each in its own
// crash-clone of the filesystem, every bit of every byte of the log, the
// MANIFEST and CURRENT of a small closed database, and one bit of every
// byte of its tables, and checks the contract above. It logs how many
// corruptions it tried per kind of file and what they did.
func TestCorruptionSweep(t *testing.T) {
	fs, model := buildCorruptionDB(t)
	files := corruptionFiles(t, fs)
	for _, f := range files {
		require.LessOrEqual(t, len(f.data), corruptionSweepAll, "%s: every offset is swept", f.name)
	}
	sweepCorruptions(t, fs, model, files, func(f corruptionFile) []bitFlip {
		if f.kind == "table" {
			return oneBitPerByte(len(f.data))
		}
		return everyBitOf(len(f.data))
	})
}

// TestCorruptionSweepLargeLog sweeps a log of about 120 KiB whose records
// cross block boundaries (FIRST, MIDDLE and LAST chunks, padding at block
// ends), too large to damage at every offset: one bit at 2,048 evenly
// spread offsets, and at every byte of every record's first chunk header
// and durable prefix, of the 16 bytes either side of each block boundary,
// of the file header and of the seal.
func TestCorruptionSweepLargeLog(t *testing.T) {
	fs := vfs.NewMem()
	opts := corruptionOptions(fs)
	opts.MemTableSize = 1 << 20 // the large values stay in the log
	db, err := dkv.Open(corruptionDir, opts)
	require.NoError(t, err)
	model := map[string]string{}
	put := func(k, v string) {
		require.NoError(t, db.Put([]byte(k), []byte(v)))
		model[k] = v
	}
	for i := range 20 {
		put(fmt.Sprintf("key%03d", i), fmt.Sprintf("table-%d", i))
	}
	require.NoError(t, db.Flush())
	for i := range 10 {
		put(fmt.Sprintf("key%03d", 2*i), fmt.Sprintf("log-%d", i))
	}
	put("key040", strings.Repeat("forty thousand bytes ", 2000)[:40000])
	require.NoError(t, db.Delete([]byte("key001")))
	delete(model, "key001")
	put("key041", strings.Repeat("seventy thousand bytes ", 4000)[:70000])
	b := db.NewBatch()
	for i := range 30 {
		k, v := fmt.Sprintf("key%03d", 42+i), strings.Repeat("b", 100+i)
		require.NoError(t, b.Put([]byte(k), []byte(v)))
		model[k] = v
	}
	require.NoError(t, db.Write(b, nil))
	for i := range 200 {
		put(fmt.Sprintf("key%03d", 100+i), fmt.Sprintf("after-%d", i))
	}
	require.NoError(t, db.Close())

	var log corruptionFile
	var logNum base.FileNum
	names, err := fs.List(corruptionDir)
	require.NoError(t, err)
	for _, name := range names {
		if typ, num, ok := base.ParseFilename(name); ok && typ == base.FileTypeLog {
			require.Empty(t, log.name, "one log")
			log = corruptionFile{name: name, kind: "WAL", data: readMemFile(t, fs, name)}
			logNum = num
		}
	}
	n := len(log.data)
	require.Greater(t, n, 3*wal.BlockSize, "the log spans four blocks")
	dense := make([]int, 0, 1024)
	r := wal.NewReader(bytes.NewReader(log.data), int64(n), log.name, logNum)
	for {
		_, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		for i := range wal.ChunkHeaderSize + wal.RecordPrefixSize {
			dense = append(dense, int(r.Offset())+i)
		}
	}
	require.False(t, r.Tail().Torn)
	for b := wal.BlockSize; b < n; b += wal.BlockSize {
		for i := -16; i < 16; i++ {
			dense = append(dense, b+i)
		}
	}
	for i := range wal.FileHeaderSize {
		dense = append(dense, i)
	}
	for i := range corruptionSealSize {
		dense = append(dense, n-1-i)
	}
	sweepCorruptions(t, fs, model, []corruptionFile{log}, func(f corruptionFile) []bitFlip {
		flips := sampledBits(n, dense)
		require.GreaterOrEqual(t, len(flips), corruptionSweepSample)
		return flips
	})
}

// sweepCorruptions applies each flip plan returns for each of files to its
// own crash-clone of fs, whose database holds model, and checks the
// contract. It logs the corruptions tried per kind of file.
func sweepCorruptions(t *testing.T, fs *vfs.MemFS, model map[string]string, files []corruptionFile, plan func(corruptionFile) []bitFlip) {
	t.Helper()
	keys := make([]string, 0, len(model))
	for k := range model {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// Every key ever written, deleted ones included, and some never
	// written, before, between and after the others.
	probes := []string{"a", "empty", "key", "key0035", "key999", "zzz"}
	for i := range 60 {
		probes = append(probes, fmt.Sprintf("key%03d", i))
	}
	for k := range model {
		if !slices.Contains(probes, k) {
			probes = append(probes, k)
		}
	}

	// The sweep's premise: the undamaged copy opens and reads right.
	require.Equal(t, harmless, checkDamaged(t, fs.CrashClone(vfs.CrashOptions{}), corruptionFile{}, bitFlip{}, model, keys, probes))

	type tally struct {
		files, tried int
		outcomes     [numOutcomes]int
	}
	tallies := map[string]*tally{}
	for _, f := range files {
		tl := tallies[f.kind]
		if tl == nil {
			tl = &tally{}
			tallies[f.kind] = tl
		}
		tl.files++
		for _, fl := range plan(f) {
			clone := fs.CrashClone(vfs.CrashOptions{})
			flipMemBit(t, clone, f.name, int64(fl.off), fl.bit)
			o := checkDamaged(t, clone, f, fl, model, keys, probes)
			if o == harmless && (f.kind == "table" || f.kind == "CURRENT" || fl.off < len(f.data)-corruptionSealSize) {
				t.Fatalf("%s offset %d bit %d: damage outside a seal went unreported", f.name, fl.off, fl.bit)
			}
			tl.tried++
			tl.outcomes[o]++
		}
	}
	for _, kind := range []string{"WAL", "table", "MANIFEST", "CURRENT"} {
		tl := tallies[kind]
		if tl == nil {
			continue
		}
		t.Logf("%-8s %d file(s), %d corruptions tried: %d refused at Open, %d reported by a read, %d harmless (a seal taken for a torn tail)",
			kind, tl.files, tl.tried, tl.outcomes[refusedAtOpen], tl.outcomes[reportedByRead], tl.outcomes[harmless])
		dkv.SoakCount(t, "corruptions", int64(tl.tried))
	}
}

// flipMemBit inverts bit of the byte at off of the file name in fs's
// database directory.
func flipMemBit(t *testing.T, fs vfs.FS, name string, off int64, bit uint) {
	t.Helper()
	f, err := fs.OpenReadWrite(fs.PathJoin(corruptionDir, name))
	require.NoError(t, err)
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 1 << bit
	_, err = f.Seek(off, io.SeekStart)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

// checkDamaged opens the database in fs, whose file damaged.name was
// damaged by fl, reads it all, and checks the contract: every read is
// right or fails with ErrCorruption naming the damaged file. It returns
// what happened.
func checkDamaged(t *testing.T, fs *vfs.MemFS, damaged corruptionFile, fl bitFlip, model map[string]string, keys, probes []string) (outcome corruptionOutcome) {
	t.Helper()
	where := fmt.Sprintf("%s offset %d bit %d", damaged.name, fl.off, fl.bit)
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s: panic: %v", where, r)
		}
	}()
	db, err := dkv.Open(corruptionDir, corruptionOptions(fs))
	if err != nil {
		requireCorruptionOf(t, fs, err, damaged, where+": Open")
		return refusedAtOpen
	}
	outcome = harmless
	read := func(err error, what string) bool {
		if err == nil {
			return true
		}
		requireCorruptionOf(t, fs, err, damaged, where+": "+what)
		outcome = reportedByRead
		return false
	}

	if it, err := db.NewIter(nil); read(err, "NewIter") {
		got := []string{}
		for ok := it.First(); ok; ok = it.Next() {
			got = append(got, string(it.Key())+"="+string(it.Value()))
		}
		want := make([]string, len(keys))
		for i, k := range keys {
			want[i] = k + "=" + model[k]
		}
		if read(it.Close(), "scan") {
			require.Equal(t, want, got, "%s: a scan without error returns every key, right", where)
		} else {
			require.Less(t, len(got), len(want)+1, "%s: scan", where)
			require.Equal(t, want[:len(got)], got, "%s: the keys a scan returns before an error are right", where)
		}
	}
	for _, k := range probes {
		v, err := db.Get([]byte(k))
		want, ok := model[k]
		switch {
		case errors.Is(err, dkv.ErrNotFound):
			require.False(t, ok, "%s: Get(%q) found nothing, want %q", where, k, want)
		case read(err, "Get "+k):
			require.True(t, ok, "%s: Get(%q) = %q, want not found", where, k, v)
			require.Equal(t, want, string(v), "%s: Get(%q)", where, k)
		}
	}
	// With the invariants tag, Close reads every table again.
	if err := db.Close(); err != nil {
		requireCorruptionOf(t, fs, err, damaged, where+": Close")
		require.Equal(t, reportedByRead, outcome, "%s: Close reports damage no read met", where)
	}
	return outcome
}

// requireCorruptionOf checks that err is a corruption error that names
// the damaged file with a valid offset. Damage to CURRENT may also show
// as the MANIFEST it now names, which does not exist.
func requireCorruptionOf(t *testing.T, fs vfs.FS, err error, damaged corruptionFile, where string) {
	t.Helper()
	require.ErrorIs(t, err, dkv.ErrCorruption, "%s", where)
	var ce *dkv.CorruptionError
	require.True(t, errors.As(err, &ce), "%s: %v is not a *CorruptionError", where, err)
	require.GreaterOrEqual(t, ce.Offset, int64(-1), "%s: %v", where, err)
	path := fs.PathJoin(corruptionDir, damaged.name)
	if damaged.kind == "CURRENT" && ce.File != path {
		typ, _, ok := base.ParseFilename(fs.PathBase(ce.File))
		require.True(t, ok && typ == base.FileTypeManifest, "%s: %v names neither CURRENT nor a MANIFEST", where, err)
		_, serr := fs.Stat(ce.File)
		require.Error(t, serr, "%s: %v blames a MANIFEST that exists", where, err)
		return
	}
	require.Equal(t, path, ce.File, "%s: %v", where, err)
}

// TestCorruptionMissingNewestLog: a database whose log the MANIFEST's log
// number names is missing has lost the writes made since the last flush;
// Open must refuse it as corruption naming the log, as it refuses a
// missing table or a log missing between two others (by the gap in
// sequence numbers). When the missing log was the newest there is no gap
// to see: Open checks that the log numbered LogNum exists (before this
// check, Open succeeded without those writes).
func TestCorruptionMissingNewestLog(t *testing.T) {
	fs, _ := buildCorruptionDB(t)
	var logName string
	names, err := fs.List(corruptionDir)
	require.NoError(t, err)
	for _, name := range names {
		if typ, _, ok := base.ParseFilename(name); ok && typ == base.FileTypeLog {
			logName = name
		}
	}
	require.NotEmpty(t, logName)
	require.NoError(t, fs.Remove(fs.PathJoin(corruptionDir, logName)))
	db, err := dkv.Open(corruptionDir, corruptionOptions(fs))
	if err == nil {
		_, gerr := db.Get([]byte("key053"))
		require.NoError(t, db.Close())
		t.Fatalf("Open succeeded without %s; Get(key053), written to it and acknowledged: %v", logName, gerr)
	}
	requireCorruptionOf(t, fs, err, corruptionFile{name: logName, kind: "WAL"}, "Open")
}

// TestCorruptionSwappedTable: a table file replaced by another table of the
// database — intact, every checksum right — is not read as data: opening
// it fails the check against the MANIFEST's size, key range and sequence
// numbers, and reads that need it report ErrCorruption naming it.
func TestCorruptionSwappedTable(t *testing.T) {
	fs, model := buildCorruptionDB(t)
	var tables []corruptionFile
	for _, f := range corruptionFiles(t, fs) {
		if f.kind == "table" {
			tables = append(tables, f)
		}
	}
	for i, victim := range tables {
		donor := tables[(i+1)%len(tables)]
		t.Run(victim.name+"="+donor.name, func(t *testing.T) {
			img := fs.CrashClone(vfs.CrashOptions{})
			writeMemFile(t, img, victim.name, donor.data)
			db, err := dkv.Open(corruptionDir, corruptionOptions(img))
			require.NoError(t, err, "Open reads no table")
			defer db.Close()
			reported := 0
			for k := range 60 {
				key := fmt.Sprintf("key%03d", k)
				v, err := db.Get([]byte(key))
				if err != nil && !errors.Is(err, dkv.ErrNotFound) {
					requireCorruptionIn(t, err, corruptionDir+"/"+victim.name, key)
					reported++
					continue
				}
				want, ok := model[key]
				require.Equal(t, ok, err == nil, "key %s", key)
				require.Equal(t, want, string(v), "key %s", key)
			}
			require.Positive(t, reported, "no read met the swapped table")
		})
	}
}

func writeMemFile(t *testing.T, fs vfs.FS, name string, data []byte) {
	t.Helper()
	f, err := fs.Create(fs.PathJoin(corruptionDir, name))
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

func requireCorruptionIn(t *testing.T, err error, path, where string) {
	t.Helper()
	require.ErrorIs(t, err, dkv.ErrCorruption, where)
	var ce *base.CorruptionError
	require.True(t, errors.As(err, &ce), where)
	require.Equal(t, path, ce.File, "%s: %v", where, err)
}

// Error messages say what is wrong once, with the "dkv:" prefix once, and
// damage on disk is ErrCorruption naming the file (issue 13): a CURRENT
// without its newline, a CURRENT that is a directory, a path through a
// file, a damaged table given to Ingest.
func TestErrorMessagesOnDisk(t *testing.T) {
	dir := t.TempDir()
	open := func(d string, o *dkv.Options) error {
		if o == nil {
			o = &dkv.Options{}
		}
		db, err := dkv.Open(d, o)
		if err == nil {
			require.NoError(t, db.Close())
		}
		return err
	}
	once := func(err error, want string, sub ...string) {
		t.Helper()
		require.Error(t, err)
		msg := err.Error()
		require.Contains(t, msg, want)
		require.Equal(t, 1, strings.Count(msg, "dkv:"), msg)
		for _, s := range sub {
			require.Equal(t, 1, strings.Count(msg, s), "%q said once in %s", s, msg)
		}
	}

	d := filepath.Join(dir, "newline")
	require.NoError(t, open(d, nil))
	b, err := os.ReadFile(filepath.Join(d, "CURRENT"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(d, "CURRENT"), bytes.TrimSuffix(b, []byte("\n")), 0o644))
	err = open(d, nil)
	require.ErrorIs(t, err, dkv.ErrCorruption)
	once(err, "without the newline that ends it")

	d = filepath.Join(dir, "currentdir")
	require.NoError(t, open(d, nil))
	require.NoError(t, os.Remove(filepath.Join(d, "CURRENT")))
	require.NoError(t, os.Mkdir(filepath.Join(d, "CURRENT"), 0o755))
	for _, ro := range []bool{false, true} {
		err = open(d, &dkv.Options{ReadOnly: ro})
		require.ErrorIs(t, err, dkv.ErrCorruption)
		once(err, "CURRENT is a directory")
	}

	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	err = open(file, nil)
	require.ErrorIs(t, err, dkv.ErrInvalidArgument)
	once(err, "is not a directory", file)
	once(open(filepath.Join(file, "sub"), nil), "not a directory", filepath.Join(file, "sub"))

	d = filepath.Join(dir, "ingest")
	db, err := dkv.Open(d, nil)
	require.NoError(t, err)
	defer db.Close()
	bad := filepath.Join(dir, "bad.sst")
	require.NoError(t, os.WriteFile(bad, bytes.Repeat([]byte("not a table "), 8), 0o644))
	err = db.Ingest([]string{bad})
	require.ErrorIs(t, err, dkv.ErrCorruption)
	once(err, "bad.sst", bad)
}
