package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
	"github.com/distributedkv/dkv/wal"
)

const dir = "/db"

func newFS(t testing.TB) *vfs.MemFS {
	t.Helper()
	fs := vfs.NewMem()
	require.NoError(t, fs.MkdirAll(dir, 0o755))
	require.NoError(t, vfs.SyncDir(fs, "/")) // the directory itself survives a crash
	return fs
}

func manifestPath(num base.FileNum) string {
	return dir + "/" + base.MakeFilename(base.FileTypeManifest, num)
}

func readFile(t testing.TB, fs vfs.FS, path string) []byte {
	t.Helper()
	f, err := fs.Open(path)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

func writeFile(t testing.TB, fs vfs.FS, path string, data []byte) {
	t.Helper()
	f, err := fs.Create(path)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

// historyEdits are the records of a small MANIFEST: a new database's
// snapshot, a flush, a compaction rewriting the flushed table into L1, and
// a second flush.
func historyEdits() []*VersionEdit {
	return []*VersionEdit{
		{ComparerName: base.DefaultComparer.Name, NextFileNum: 3},
		{LogNum: 4, NextFileNum: 6, LastSeqNum: 3, NewFiles: []NewFile{
			{Level: 0, Meta: meta(5, 790, ikey("a", 2, base.KindSet), ikey("greeting", 1, base.KindSet), 1, 3)},
		}},
		{NextFileNum: 8, DeletedFiles: []DeletedFile{{Level: 0, FileNum: 5}}, NewFiles: []NewFile{
			{Level: 1, Meta: meta(7, 760, ikey("a", 2, base.KindSet), ikey("greeting", 1, base.KindSet), 1, 3)},
		}},
		{LogNum: 9, NextFileNum: 11, LastSeqNum: 10, NewFiles: []NewFile{
			{Level: 0, Meta: meta(10, 500, ikey("b", 9, base.KindDelete), ikey("h", 10, base.KindSet), 4, 10)},
		}},
	}
}

// fold returns the state edits record, applied in order to an empty one.
func fold(t testing.TB, edits []*VersionEdit) *State {
	t.Helper()
	s := &State{Version: &Version{}}
	for _, e := range edits {
		require.NoError(t, s.Apply(cmp, e))
		s.Edits++
	}
	return s
}

func requireStatesEqual(t testing.TB, want, got *State) {
	t.Helper()
	require.Equal(t, want.Version.String(), got.Version.String())
	w, g := *want, *got
	w.Version, g.Version = nil, nil
	require.Equal(t, w, g)
}

// writeManifest writes edits as MANIFEST num with Create, Append and Close.
func writeManifest(t testing.TB, fs vfs.FS, num base.FileNum, edits []*VersionEdit) {
	t.Helper()
	w, err := Create(fs, dir, num, edits[0])
	require.NoError(t, err)
	require.Equal(t, num, w.FileNum())
	for _, e := range edits[1:] {
		require.NoError(t, w.Append(e))
	}
	require.NoError(t, w.Close())
}

// replay replays MANIFEST num and returns the state and each record's
// offset.
func replay(fs vfs.FS, num base.FileNum) (*State, []int64, error) {
	var offsets []int64
	s, err := Replay(fs, dir, num, base.DefaultComparer, func(off int64, _ *VersionEdit) {
		offsets = append(offsets, off)
	})
	return s, offsets, err
}

// requireCorruption checks that err is a corruption error in path at off
// whose reason mentions reason.
func requireCorruption(t testing.TB, err error, path string, off int64, reason string) {
	t.Helper()
	require.Error(t, err)
	require.True(t, errors.Is(err, base.ErrCorruption), "not corruption: %v", err)
	var ce *base.CorruptionError
	require.True(t, errors.As(err, &ce))
	require.Equal(t, path, ce.File)
	require.Equal(t, off, ce.Offset, "%v", err)
	require.Contains(t, ce.Reason, reason)
}

// Create, Append and Close, then Replay: the state is the edits folded in
// order, and visit sees every edit, at increasing offsets.
func TestReplay(t *testing.T) {
	fs := newFS(t)
	edits := historyEdits()
	writeManifest(t, fs, 1, edits)

	var seen []*VersionEdit
	var offsets []int64
	s, err := Replay(fs, dir, 1, base.DefaultComparer, func(off int64, e *VersionEdit) {
		seen = append(seen, e)
		offsets = append(offsets, off)
	})
	require.NoError(t, err)
	require.Len(t, seen, len(edits))
	for i := range edits {
		requireEditsEqual(t, edits[i], seen[i])
		if i > 0 {
			require.Greater(t, offsets[i], offsets[i-1])
		}
	}
	require.Equal(t, int64(wal.FileHeaderSize), offsets[0], "the first record follows the file header")

	require.Equal(t, base.DefaultComparer.Name, s.ComparerName)
	require.Equal(t, base.FileNum(9), s.LogNum)
	require.Equal(t, base.FileNum(11), s.NextFileNum)
	require.Equal(t, base.SeqNum(10), s.LastSeqNum)
	require.Equal(t, 4, s.Edits)
	require.Equal(t, "L0:\n"+
		"  000010.sst[\"b\"#9,DEL-\"h\"#10,SET] 500 bytes, seqs 4-10\n"+
		"L1:\n"+
		"  000007.sst[\"a\"#2,SET-\"greeting\"#1,SET] 760 bytes, seqs 1-3\n", s.Version.String())
	require.NoError(t, s.Version.CheckOrdering(cmp))
	requireStatesEqual(t, fold(t, edits), s)
}

// The counters of State only move forward: an edit with a lower number (or
// none) leaves them, and a later comparer name replaces the earlier.
func TestStateApplyCounters(t *testing.T) {
	s := fold(t, []*VersionEdit{
		{ComparerName: "a", LogNum: 5, NextFileNum: 9, LastSeqNum: 100},
		{LogNum: 3, NextFileNum: 2, LastSeqNum: 50},
		{},
	})
	require.Equal(t, &State{Version: &Version{}, ComparerName: "a", LogNum: 5, NextFileNum: 9, LastSeqNum: 100, Edits: 3}, s)
	require.NoError(t, s.Apply(cmp, &VersionEdit{ComparerName: "b"}))
	require.Equal(t, "b", s.ComparerName)
	// An edit that does not apply leaves the state as it was.
	require.Error(t, s.Apply(cmp, &VersionEdit{LogNum: 50, DeletedFiles: []DeletedFile{{Level: 0, FileNum: 1}}}))
	require.Equal(t, base.FileNum(5), s.LogNum)
}

// Append returns once its edit is durable, and Create once the MANIFEST and
// its directory entry are: a crash right after either keeps the edits.
func TestAppendIsDurable(t *testing.T) {
	fs := newFS(t)
	edits := historyEdits()
	w, err := Create(fs, dir, 1, edits[0])
	require.NoError(t, err)
	check := func(n int) {
		for seed := range uint64(4) {
			opts := vfs.CrashOptions{}
			if seed > 0 {
				opts = vfs.CrashOptions{Rand: rand.New(rand.NewPCG(seed, uint64(n))), Holes: true}
			}
			s, _, err := replay(fs.CrashClone(opts), 1)
			require.NoError(t, err, "after %d edits, crash %d", n, seed)
			requireStatesEqual(t, fold(t, edits[:n]), s)
		}
	}
	check(1)
	for i, e := range edits[1:] {
		require.NoError(t, w.Append(e))
		check(i + 2)
	}
	size := w.Size()
	require.NoError(t, w.Close())
	require.Equal(t, int64(len(readFile(t, fs, manifestPath(1)))), size+15, "Close appends a 15-byte seal")
	check(len(edits))
	require.Error(t, w.Append(edits[1]), "Append after Close")
}

// Appends from several goroutines all become records (the caller orders
// dependent edits; these are independent).
func TestConcurrentAppend(t *testing.T) {
	fs := newFS(t)
	w, err := Create(fs, dir, 1, &VersionEdit{ComparerName: base.DefaultComparer.Name, NextFileNum: 1000})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				num := base.FileNum(10 + g*10 + i)
				k := ikey(fmt.Sprintf("k%03d", num), base.SeqNum(num), base.KindSet)
				require.NoError(t, w.Append(&VersionEdit{NewFiles: []NewFile{{Level: 0, Meta: meta(num, 1, k, k, k.SeqNum(), k.SeqNum())}}}))
			}
		}()
	}
	wg.Wait()
	require.NoError(t, w.Close())
	s, _, err := replay(fs, 1)
	require.NoError(t, err)
	require.Equal(t, 41, s.Edits)
	require.Len(t, s.Version.Levels[0], 40)
	require.NoError(t, s.Version.CheckOrdering(cmp))
}

// A torn last record — the MANIFEST cut at any byte of it, with or without
// zeros after the cut, as a crash during an append leaves it — is ignored:
// Replay returns the state before it. That append never returned, so no
// one relied on the edit. Damage confined to the seal loses nothing.
func TestReplayTornLastRecord(t *testing.T) {
	fs := newFS(t)
	edits := historyEdits()
	writeManifest(t, fs, 1, edits)
	data := readFile(t, fs, manifestPath(1))
	_, offsets, err := replay(fs, 1)
	require.NoError(t, err)
	last := offsets[len(offsets)-1]
	sealStart := int64(len(data)) - 15
	for cut := last; cut < int64(len(data)); cut++ {
		want := fold(t, edits[:len(edits)-1])
		if cut >= sealStart {
			want = fold(t, edits) // the last record is whole; only the seal is cut
		}
		for _, zeros := range []int{0, 1, 7, 64, 1000} {
			tfs := newFS(t)
			writeFile(t, tfs, manifestPath(1), append(bytes.Clone(data[:cut]), make([]byte, zeros)...))
			s, _, err := replay(tfs, 1)
			require.NoError(t, err, "cut at %d, %d zeros", cut, zeros)
			requireStatesEqual(t, want, s)
		}
	}
	// Damage in the seal alone is a torn seal: every edit is kept.
	for pos := sealStart; pos < int64(len(data)); pos++ {
		img := bytes.Clone(data)
		img[pos] ^= 0xff
		tfs := newFS(t)
		writeFile(t, tfs, manifestPath(1), img)
		s, _, err := replay(tfs, 1)
		require.NoError(t, err, "seal byte %d flipped", pos)
		requireStatesEqual(t, fold(t, edits), s)
	}
}

// A flipped byte anywhere before the seal is corruption: every record was
// fsynced before the next was appended (and the seal vouches for the last),
// so damage there is not a torn append. The error names the MANIFEST and
// the offset of the damaged record (0 for the file header).
func TestReplayFlippedByte(t *testing.T) {
	fs := newFS(t)
	writeManifest(t, fs, 1, historyEdits())
	data := readFile(t, fs, manifestPath(1))
	_, offsets, err := replay(fs, 1)
	require.NoError(t, err)
	sealStart := len(data) - 15
	for pos := 0; pos < sealStart; pos++ {
		img := bytes.Clone(data)
		img[pos] ^= 0xff
		tfs := newFS(t)
		writeFile(t, tfs, manifestPath(1), img)
		_, err := Replay(tfs, dir, 1, base.DefaultComparer, nil)
		want, reason := int64(0), "bad file header"
		for _, off := range offsets {
			if int64(pos) >= off {
				want, reason = off, ""
			}
		}
		requireCorruption(t, err, manifestPath(1), want, reason)
	}
}

// writeRawManifest writes records (edit encodings or any bytes) as MANIFEST
// num in the WAL framing, each synced before the next as Writer.Append
// does, and seals it. salt 0 means a random one.
func writeRawManifest(t testing.TB, fs vfs.FS, num base.FileNum, salt uint64, records [][]byte) {
	t.Helper()
	f, err := fs.Create(manifestPath(num))
	require.NoError(t, err)
	var (
		mu      sync.Mutex
		cond    = sync.NewCond(&mu)
		durable int64
		syncErr error
	)
	w, err := wal.NewWriter(f, manifestPath(num), num, wal.WriterOptions{Salt: salt, OnSync: func(d int64, err error) {
		mu.Lock()
		durable, syncErr = max(durable, d), err
		cond.Broadcast()
		mu.Unlock()
	}})
	require.NoError(t, err)
	for _, rec := range records {
		end, err := w.Append(rec, true)
		require.NoError(t, err)
		mu.Lock()
		for durable < end && syncErr == nil {
			cond.Wait()
		}
		mu.Unlock()
		require.NoError(t, syncErr)
	}
	require.NoError(t, w.Close())
}

func encodeAll(edits ...*VersionEdit) [][]byte {
	var out [][]byte
	for _, e := range edits {
		out = append(out, e.Encode())
	}
	return out
}

// Whole records whose contents are wrong are corruption at the record's
// offset: an edit that does not decode, or that does not apply to the
// version before it. So is a MANIFEST with no edit, a missing one, and one
// whose header names another number (a renamed file).
func TestReplayBadRecords(t *testing.T) {
	first := historyEdits()[0]
	second := wal.FileHeaderSize + wal.ChunkHeaderSize + wal.RecordPrefixSize + int64(len(first.Encode()))
	for _, c := range []struct {
		name    string
		records [][]byte
		off     int64
		reason  string
	}{
		{"unknown tag", append(encodeAll(first), []byte{8, 1}), second, "version edit: unknown field tag 8"},
		{"empty record", append(encodeAll(first), nil), second, "version edit: empty"},
		{"level out of range", append(encodeAll(first), []byte{tagDeletedFile, 9, 1}), second, "level 9 out of range"},
		{"deletes a missing table", encodeAll(first, &VersionEdit{DeletedFiles: []DeletedFile{{Level: 1, FileNum: 2}}}), second,
			"edit deletes 000002 from L1, which does not hold it"},
		{"adds a table twice", encodeAll(first, historyEdits()[1], historyEdits()[1]), -2, "which the version already holds"},
		{"overlapping L1 tables", encodeAll(first,
			&VersionEdit{NewFiles: []NewFile{{Level: 1, Meta: meta(1, 1, ikey("a", 1, base.KindSet), ikey("c", 1, base.KindSet), 1, 1)}}},
			&VersionEdit{NewFiles: []NewFile{{Level: 1, Meta: meta(2, 1, ikey("b", 1, base.KindSet), ikey("d", 1, base.KindSet), 1, 1)}}},
		), -1, "overlap"}, // checked once all edits are folded: no one record to blame
		{"no edit", nil, 0, "MANIFEST holds no edit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := newFS(t)
			writeRawManifest(t, fs, 1, 0, c.records)
			off := c.off
			if off == -2 { // the last record
				off = int64(wal.FileHeaderSize)
				for _, r := range c.records[:len(c.records)-1] {
					off += wal.ChunkHeaderSize + wal.RecordPrefixSize + int64(len(r))
				}
			}
			_, err := Replay(fs, dir, 1, base.DefaultComparer, nil)
			requireCorruption(t, err, manifestPath(1), off, c.reason)
		})
	}

	t.Run("missing", func(t *testing.T) {
		_, err := Replay(newFS(t), dir, 3, base.DefaultComparer, nil)
		requireCorruption(t, err, manifestPath(3), -1, "does not exist")
	})
	t.Run("renamed", func(t *testing.T) {
		fs := newFS(t)
		writeManifest(t, fs, 1, historyEdits())
		require.NoError(t, fs.Rename(manifestPath(1), manifestPath(2)))
		_, err := Replay(fs, dir, 2, base.DefaultComparer, nil)
		requireCorruption(t, err, manifestPath(2), 0, "file header names log 000001")
	})
}

// Replay checks the state's invariants once every edit is applied: every
// table and the log number lie below the next file number (else a new file
// could take a number in use).
func TestReplayFileNumbers(t *testing.T) {
	k := ikey("a", 1, base.KindSet)
	for _, c := range []struct {
		name   string
		edits  []*VersionEdit
		reason string // "" for no error
	}{
		{"tables below", []*VersionEdit{{ComparerName: base.DefaultComparer.Name, NextFileNum: 5, LogNum: 4,
			NewFiles: []NewFile{{Level: 0, Meta: meta(4, 1, k, k, 1, 1)}}}}, ""},
		{"table at the next number", []*VersionEdit{{ComparerName: base.DefaultComparer.Name, NextFileNum: 5,
			NewFiles: []NewFile{{Level: 0, Meta: meta(5, 1, k, k, 1, 1)}}}}, "table 000005 is not below the next file number 000005"},
		{"table above, added by a later edit", []*VersionEdit{{ComparerName: base.DefaultComparer.Name, NextFileNum: 5},
			{NewFiles: []NewFile{{Level: 3, Meta: meta(9, 1, k, k, 1, 1)}}}}, "table 000009 is not below the next file number 000005"},
		{"no next file number", []*VersionEdit{{ComparerName: base.DefaultComparer.Name,
			NewFiles: []NewFile{{Level: 0, Meta: meta(1, 1, k, k, 1, 1)}}}}, "not below the next file number 000000"},
		{"log at the next number", []*VersionEdit{{ComparerName: base.DefaultComparer.Name, NextFileNum: 5, LogNum: 5}},
			"log number 000005 is not below the next file number 000005"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := newFS(t)
			writeManifest(t, fs, 1, c.edits)
			_, err := Replay(fs, dir, 1, base.DefaultComparer, nil)
			if c.reason == "" {
				require.NoError(t, err)
				return
			}
			requireCorruption(t, err, manifestPath(1), -1, c.reason)
		})
	}
}

// A database is never opened with a key order other than its own: Replay
// with another comparer fails, and the failure is not corruption (the
// bytes are fine; the caller is wrong).
func TestReplayComparerMismatch(t *testing.T) {
	fs := newFS(t)
	writeManifest(t, fs, 1, historyEdits())
	reverse := &base.Comparer{Name: "test.Reverse", Compare: func(a, b []byte) int { return bytes.Compare(b, a) }}
	_, err := Replay(fs, dir, 1, reverse, nil)
	require.Error(t, err)
	require.False(t, errors.Is(err, base.ErrCorruption), "%v", err)
	require.Contains(t, err.Error(), `"dkv.BytewiseComparator"`)
	require.Contains(t, err.Error(), `"test.Reverse"`)

	// A MANIFEST that never names its comparer was not written by dkv,
	// whose first record always names it: corruption.
	fs = newFS(t)
	writeManifest(t, fs, 1, []*VersionEdit{{NextFileNum: 3}})
	_, err = Replay(fs, dir, 1, base.DefaultComparer, nil)
	require.ErrorIs(t, err, base.ErrCorruption)
	require.Contains(t, err.Error(), "names no comparer")
}

func currentPath() string { return dir + "/CURRENT" }

// SetCurrent writes "MANIFEST-NNNNNN\n" to CURRENT, leaves no temporary
// file, and ReadCurrent reads the number back.
func TestCurrentRoundTrip(t *testing.T) {
	fs := newFS(t)
	_, ok, err := ReadCurrent(fs, dir)
	require.NoError(t, err)
	require.False(t, ok, "no CURRENT: no database yet")

	for _, c := range []struct{ num, tmp base.FileNum }{{1, 2}, {7, 8}, {1234567, 1234568}} {
		require.NoError(t, SetCurrent(fs, dir, c.num, c.tmp))
		num, ok, err := ReadCurrent(fs, dir)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, c.num, num)
		require.Equal(t, base.MakeFilename(base.FileTypeManifest, c.num)+"\n", string(readFile(t, fs, currentPath())))
		names, err := fs.List(dir)
		require.NoError(t, err)
		require.Equal(t, []string{"CURRENT"}, names)
	}
}

// A CURRENT that does not hold exactly one MANIFEST name and a newline is
// corruption in CURRENT at offset 0.
func TestCurrentGarbage(t *testing.T) {
	for _, content := range []string{
		"",
		"\n",
		"hello\n",
		"MANIFEST-000007\n\n",   // two newlines
		"MANIFEST-000007\r\n",   // CRLF
		" MANIFEST-000007\n",    // leading space
		"MANIFEST-7\n",          // not the canonical spelling
		"MANIFEST-0000007\n",    // nor this
		"MANIFEST-000007\x00\n", // a NUL
		"000007.log\n",          // another file type
		"000007.sst\n",          // another file type
		"CURRENT\n",             // itself
		"LOCK\n",                // the lock file
		"MANIFEST-000007\nMANIFEST-000008\n",
		"MANIFEST-" + string(bytes.Repeat([]byte("1"), 300)) + "\n",        // longer than ReadCurrent reads
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", // zeros: size persisted, data not
	} {
		fs := newFS(t)
		writeFile(t, fs, currentPath(), []byte(content))
		_, ok, err := ReadCurrent(fs, dir)
		require.False(t, ok, "%q", content)
		requireCorruption(t, err, currentPath(), 0, "not the name of a MANIFEST")
	}
	// A MANIFEST's name without its newline says so.
	fs := newFS(t)
	writeFile(t, fs, currentPath(), []byte("MANIFEST-000007"))
	_, ok, err := ReadCurrent(fs, dir)
	require.False(t, ok)
	requireCorruption(t, err, currentPath(), 0, "without the newline that ends it")
}

// After SetCurrent returns, a crash keeps the new CURRENT, however the
// crash treats unsynced state.
func TestSetCurrentIsDurable(t *testing.T) {
	fs := newFS(t)
	require.NoError(t, SetCurrent(fs, dir, 1, 2))
	require.NoError(t, SetCurrent(fs, dir, 3, 4))
	for seed := range uint64(20) {
		opts := vfs.CrashOptions{}
		if seed > 0 {
			opts = vfs.CrashOptions{Rand: rand.New(rand.NewPCG(seed, 1)), Holes: true}
		}
		num, ok, err := ReadCurrent(fs.CrashClone(opts), dir)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, base.FileNum(3), num, "crash %d", seed)
	}
}

// A crash in the middle of replacing CURRENT leaves the old one or the new
// one, never anything else. The steps of SetCurrent are taken by hand here,
// crashing after each.
func TestSetCurrentCrashMidway(t *testing.T) {
	fs := newFS(t)
	require.NoError(t, SetCurrent(fs, dir, 1, 2))
	tmp := dir + "/" + base.MakeFilename(base.FileTypeTemp, 4)

	// crashes returns what CURRENT names after several kinds of crash.
	crashes := func() map[base.FileNum]bool {
		seen := map[base.FileNum]bool{}
		for seed := range uint64(20) {
			opts := vfs.CrashOptions{}
			if seed > 0 {
				opts = vfs.CrashOptions{Rand: rand.New(rand.NewPCG(seed, 2)), Holes: seed%2 == 0}
			}
			num, ok, err := ReadCurrent(fs.CrashClone(opts), dir)
			require.NoError(t, err, "crash %d", seed)
			require.True(t, ok)
			seen[num] = true
		}
		return seen
	}
	old := map[base.FileNum]bool{1: true}

	// 1. The temporary file is created and written, not synced.
	f, err := fs.Create(tmp)
	require.NoError(t, err)
	_, err = f.Write([]byte("MANIFEST-000003\n"))
	require.NoError(t, err)
	require.Equal(t, old, crashes())
	// 2. It is synced and closed, not renamed.
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	require.Equal(t, old, crashes())
	// 3. It is renamed over CURRENT; the directory is not synced: the
	// rename may or may not survive, and either way CURRENT is whole.
	require.NoError(t, fs.Rename(tmp, currentPath()))
	num, _, err := ReadCurrent(fs, dir)
	require.NoError(t, err)
	require.Equal(t, base.FileNum(3), num, "the running process sees the new CURRENT")
	require.Subset(t, []base.FileNum{1, 3}, keys(crashes()))
	require.Equal(t, base.FileNum(1), mustReadCurrent(t, fs.CrashClone(vfs.CrashOptions{})), "only synced state")
	// 4. The directory is synced: the new CURRENT survives every crash.
	require.NoError(t, vfs.SyncDir(fs, dir))
	require.Equal(t, map[base.FileNum]bool{3: true}, crashes())
}

// Why SetCurrent syncs the temporary file before renaming it: without that
// sync, a crash after the rename and the directory sync can leave CURRENT
// empty (the name is durable, its bytes are not), which reads as
// corruption.
func TestSetCurrentNeedsFileSync(t *testing.T) {
	fs := newFS(t)
	require.NoError(t, SetCurrent(fs, dir, 1, 2))
	tmp := dir + "/" + base.MakeFilename(base.FileTypeTemp, 4)
	f, err := fs.Create(tmp)
	require.NoError(t, err)
	_, err = f.Write([]byte("MANIFEST-000003\n"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, fs.Rename(tmp, currentPath()))
	require.NoError(t, vfs.SyncDir(fs, dir))
	_, _, err = ReadCurrent(fs.CrashClone(vfs.CrashOptions{}), dir)
	requireCorruption(t, err, currentPath(), 0, "not the name of a MANIFEST")
}

func mustReadCurrent(t testing.TB, fs vfs.FS) base.FileNum {
	t.Helper()
	num, ok, err := ReadCurrent(fs, dir)
	require.NoError(t, err)
	require.True(t, ok)
	return num
}

func keys(m map[base.FileNum]bool) []base.FileNum {
	var out []base.FileNum
	for k := range m {
		out = append(out, k)
	}
	return out
}
