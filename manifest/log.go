package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/killpoint"
	"github.com/distributedkv/dkv/vfs"
	"github.com/distributedkv/dkv/wal"
)

// Writer appends version edits to a MANIFEST file. Each Append returns
// once its edit is durable. A Writer is safe for concurrent use, but the
// caller orders edits (one logAndApply at a time).
type Writer struct {
	path string
	num  base.FileNum
	w    *wal.Writer

	mu      sync.Mutex
	cond    sync.Cond
	durable int64
	err     error
}

// Create makes a new MANIFEST numbered num in dir whose first record is
// first (a snapshot of the whole state), and returns once the file and its
// directory entry are durable. CURRENT is not changed: see SetCurrent.
func Create(fsys vfs.FS, dir string, num base.FileNum, first *VersionEdit) (*Writer, error) {
	path := fsys.PathJoin(dir, base.MakeFilename(base.FileTypeManifest, num))
	f, err := fsys.Create(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: create: %w", err)
	}
	mw := &Writer{path: path, num: num}
	mw.cond.L = &mw.mu
	mw.w, err = wal.NewWriter(f, path, num, wal.WriterOptions{OnSync: mw.onSync})
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if err := mw.Append(first); err != nil {
		_ = mw.w.Close()
		return nil, err
	}
	if err := vfs.SyncDir(fsys, dir); err != nil {
		_ = mw.w.Close()
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return mw, nil
}

func (mw *Writer) onSync(durable int64, err error) {
	mw.mu.Lock()
	if err != nil {
		mw.err = err
	} else {
		mw.durable = durable
	}
	mw.cond.Broadcast()
	mw.mu.Unlock()
}

// Append writes e and waits until it is durable. An error is sticky: the
// state of the MANIFEST on disk is then unknown, and the caller must stop
// relying on it (the DB stops writes).
func (mw *Writer) Append(e *VersionEdit) error {
	end, err := mw.w.Append(e.Encode(), true)
	if err != nil {
		return fmt.Errorf("manifest: append: %w", err)
	}
	mw.mu.Lock()
	defer mw.mu.Unlock()
	for mw.durable < end && mw.err == nil {
		mw.cond.Wait()
	}
	if mw.err != nil {
		return fmt.Errorf("manifest: %w", mw.err)
	}
	return nil
}

// Size returns the MANIFEST's size in bytes.
func (mw *Writer) Size() int64 { return mw.w.Size() }

// FileNum returns the MANIFEST's file number.
func (mw *Writer) FileNum() base.FileNum { return mw.num }

// Close seals and closes the MANIFEST.
func (mw *Writer) Close() error { return mw.w.Close() }

// SetCurrent points CURRENT at the MANIFEST numbered num, atomically: it
// writes the new contents to a temporary file numbered tempNum, fsyncs it,
// renames it over CURRENT and fsyncs the directory. A crash leaves CURRENT
// naming either the old MANIFEST or the new one.
func SetCurrent(fsys vfs.FS, dir string, num, tempNum base.FileNum) error {
	tmp := fsys.PathJoin(dir, base.MakeFilename(base.FileTypeTemp, tempNum))
	f, err := fsys.Create(tmp)
	if err != nil {
		return fmt.Errorf("manifest: create %s: %w", tmp, err)
	}
	_, err = f.Write([]byte(base.MakeFilename(base.FileTypeManifest, num) + "\n"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		killpoint.Hit(killpoint.CurrentTempSynced)
		err = fsys.Rename(tmp, fsys.PathJoin(dir, base.MakeFilename(base.FileTypeCurrent, 0)))
	}
	if err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("manifest: set CURRENT: %w", err)
	}
	killpoint.Hit(killpoint.CurrentRenamed)
	if err := vfs.SyncDir(fsys, dir); err != nil {
		return fmt.Errorf("manifest: set CURRENT: %w", err)
	}
	return nil
}

// ReadCurrent returns the number of the MANIFEST that CURRENT names. ok is
// false when there is no CURRENT (no database yet). A CURRENT that does not
// name a MANIFEST is corruption.
func ReadCurrent(fsys vfs.FS, dir string) (num base.FileNum, ok bool, err error) {
	path := fsys.PathJoin(dir, base.MakeFilename(base.FileTypeCurrent, 0))
	f, err := fsys.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("manifest: open CURRENT: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, false, fmt.Errorf("manifest: stat CURRENT: %w", err)
	}
	if st.IsDir() {
		return 0, false, base.CorruptionErrorf(path, 0, "CURRENT is a directory, not the file naming the MANIFEST")
	}
	b, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return 0, false, fmt.Errorf("manifest: read CURRENT: %w", err)
	}
	name, found := strings.CutSuffix(string(b), "\n")
	typ, num, parsed := base.ParseFilename(name)
	switch {
	case !parsed || typ != base.FileTypeManifest:
		return 0, false, base.CorruptionErrorf(path, 0, "CURRENT holds %q, not the name of a MANIFEST", b)
	case !found:
		// SetCurrent writes the name and its newline in one file it
		// renames into place: a CURRENT without the newline was not
		// written whole by dkv.
		return 0, false, base.CorruptionErrorf(path, 0,
			"CURRENT holds %q without the newline that ends it: not written whole by dkv", b)
	}
	return num, true, nil
}

// State is what a MANIFEST records: the version and the counters recovery
// continues from.
type State struct {
	Version      *Version
	ComparerName string
	LogNum       base.FileNum // oldest log still needed
	NextFileNum  base.FileNum // above every file number in use
	LastSeqNum   base.SeqNum  // largest sequence number in the tables
	Edits        int          // records replayed
}

// Apply folds edit into s, building the next version.
func (s *State) Apply(cmp base.Compare, edit *VersionEdit) error {
	v, err := s.Version.Apply(cmp, edit)
	if err != nil {
		return err
	}
	s.Version = v
	s.applyCounters(edit)
	return nil
}

// applyCounters folds the edit's comparer and counters into s.
func (s *State) applyCounters(edit *VersionEdit) {
	if edit.ComparerName != "" {
		s.ComparerName = edit.ComparerName
	}
	s.LogNum = max(s.LogNum, edit.LogNum)
	s.NextFileNum = max(s.NextFileNum, edit.NextFileNum)
	s.LastSeqNum = max(s.LastSeqNum, edit.LastSeqNum)
}

// Replay reads the MANIFEST numbered num in dir and returns the state it
// records. A torn last record (an append a crash interrupted, which was
// never acknowledged) is ignored; any other damage, an edit that does not
// decode or does not apply, or a comparer other than cmp's, is an error —
// corruption where bytes are to blame. visit, when set, is called with each
// edit in order (for tools).
func Replay(fsys vfs.FS, dir string, num base.FileNum, cmp *base.Comparer, visit func(offset int64, e *VersionEdit)) (*State, error) {
	path := fsys.PathJoin(dir, base.MakeFilename(base.FileTypeManifest, num))
	f, err := fsys.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, base.CorruptionErrorf(path, -1, "CURRENT names a MANIFEST that does not exist")
		}
		return nil, fmt.Errorf("manifest: open: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("manifest: stat: %w", err)
	}
	s := &State{Version: &Version{}}
	b := NewBuilder(cmp.Compare, nil)
	r := wal.NewReader(f, st.Size(), path, num)
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		var e VersionEdit
		if err := e.Decode(rec); err != nil {
			return nil, base.CorruptionErrorf(path, r.Offset(), "%v", err)
		}
		if visit != nil {
			visit(r.Offset(), &e)
		}
		if e.ComparerName != "" && e.ComparerName != cmp.Name {
			// Checked before applying: with the wrong order, valid edits
			// would look like overlapping tables, i.e. corruption.
			return nil, fmt.Errorf("manifest: the database was written with comparer %q, not %q", e.ComparerName, cmp.Name)
		}
		if err := b.Apply(&e); err != nil {
			return nil, base.CorruptionErrorf(path, r.Offset(), "%v", err)
		}
		s.applyCounters(&e)
		s.Edits++
	}
	if s.Version, err = b.Version(); err != nil {
		return nil, base.CorruptionErrorf(path, -1, "%v", err)
	}
	if s.Edits == 0 {
		return nil, base.CorruptionErrorf(path, 0, "MANIFEST holds no edit")
	}
	if s.ComparerName == "" {
		return nil, base.CorruptionErrorf(path, -1, "MANIFEST names no comparer")
	}
	for _, f := range s.Version.Files() {
		if f.FileNum >= s.NextFileNum {
			return nil, base.CorruptionErrorf(path, -1, "table %s is not below the next file number %s", f.FileNum, s.NextFileNum)
		}
	}
	if s.LogNum >= s.NextFileNum && s.LogNum != 0 {
		return nil, base.CorruptionErrorf(path, -1, "log number %s is not below the next file number %s", s.LogNum, s.NextFileNum)
	}
	return s, nil
}
