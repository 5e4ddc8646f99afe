package dkv

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/killpoint"
	"github.com/distributedkv/dkv/manifest"
	"github.com/distributedkv/dkv/vfs"
)

// versionSet owns the MANIFEST: it applies edits to the current version
// and makes them durable before anyone relies on them (logAndApply), hands
// out file numbers, and rewrites the MANIFEST as a snapshot when it grows.
type versionSet struct {
	fs       vfs.FS
	dir      string
	comparer *base.Comparer
	maxSize  int64

	nextFileNum atomic.Uint64

	mu       sync.Mutex // serializes edits
	manifest *manifest.Writer
	state    manifest.State // the state the MANIFEST records
	err      error          // sticky: once the MANIFEST failed, no edit is logged again
}

// newFileNum returns an unused file number.
func (vs *versionSet) newFileNum() base.FileNum {
	return base.FileNum(vs.nextFileNum.Add(1) - 1)
}

// markFileNumUsed makes sure later numbers are above num.
func (vs *versionSet) markFileNumUsed(num base.FileNum) {
	for {
		cur := vs.nextFileNum.Load()
		if uint64(num) < cur || vs.nextFileNum.CompareAndSwap(cur, uint64(num)+1) {
			return
		}
	}
}

// load reads the state the MANIFEST named by CURRENT records; ok is false
// when the directory holds no database yet.
func (vs *versionSet) load() (ok bool, err error) {
	num, ok, err := manifest.ReadCurrent(vs.fs, vs.dir)
	if err != nil || !ok {
		return false, err
	}
	s, err := manifest.Replay(vs.fs, vs.dir, num, vs.comparer, nil)
	if err != nil {
		return false, err
	}
	vs.state = *s
	vs.markFileNumUsed(num)
	if s.NextFileNum > 0 {
		vs.markFileNumUsed(s.NextFileNum - 1)
	}
	return true, nil
}

// snapshotEdit returns an edit that recreates the whole state.
func (vs *versionSet) snapshotEdit() *manifest.VersionEdit {
	e := vs.state.Version.SnapshotEdit()
	e.ComparerName = vs.comparer.Name
	e.LogNum = vs.state.LogNum
	e.LastSeqNum = vs.state.LastSeqNum
	return e
}

// rotate writes a new MANIFEST holding a snapshot of the state, points
// CURRENT at it and removes the old one. vs.mu is held (or Open is running).
func (vs *versionSet) rotate() error {
	num := vs.newFileNum()
	snap := vs.snapshotEdit()
	// The snapshot's next file number must cover the temp file for CURRENT
	// too: reserve it first.
	tmp := vs.newFileNum()
	snap.NextFileNum = base.FileNum(vs.nextFileNum.Load())
	w, err := manifest.Create(vs.fs, vs.dir, num, snap)
	if err != nil {
		return err
	}
	killpoint.Hit(killpoint.ManifestCreated)
	if err := manifest.SetCurrent(vs.fs, vs.dir, num, tmp); err != nil {
		_ = w.Close()
		return err
	}
	old := vs.manifest
	vs.manifest = w
	vs.state.NextFileNum = snap.NextFileNum
	if old != nil {
		_ = old.Close()
		_ = vs.fs.Remove(vs.fs.PathJoin(vs.dir, base.MakeFilename(base.FileTypeManifest, old.FileNum())))
		killpoint.Hit(killpoint.ManifestRotated)
	}
	return nil
}

// logAndApply makes edit durable in the MANIFEST, then calls install with
// the version it produces — under the version set's lock, so that versions
// are installed in the order they were logged. The edit's NextFileNum is
// filled in. Lock order: vs.mu before db.mu.
//
// An error from the MANIFEST is sticky: this and every later call return
// it, and the caller must stop writes, since what the MANIFEST (or, after a
// failed rotation, CURRENT) holds on disk is then unknown. install is
// called exactly when the edit is durable — also when the rotation that
// follows it fails, for the edit is then in the old MANIFEST and in the
// new one's snapshot alike.
func (vs *versionSet) logAndApply(edit *manifest.VersionEdit, install func(*manifest.Version)) error {
	return vs.logAndApplyBuild(func(*manifest.Version) (*manifest.VersionEdit, error) { return edit, nil }, install)
}

// logAndApplyBuild is logAndApply with an edit that build makes from the
// current version, under the version set's lock: no other edit can come
// between what build saw and what it decided (Ingest places tables so).
// An error from build changes nothing and is not sticky.
func (vs *versionSet) logAndApplyBuild(build func(*manifest.Version) (*manifest.VersionEdit, error), install func(*manifest.Version)) error {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if vs.err != nil {
		return vs.err
	}
	edit, err := build(vs.state.Version)
	if err != nil {
		return err
	}
	next := vs.state
	edit.NextFileNum = base.FileNum(vs.nextFileNum.Load())
	if err := next.Apply(vs.comparer.Compare, edit); err != nil {
		return fmt.Errorf("dkv: bad version edit (a bug): %w", err)
	}
	if err := vs.manifest.Append(edit); err != nil {
		vs.err = err
		return err
	}
	killpoint.Hit(killpoint.ManifestEditDurable)
	vs.state = next
	install(next.Version)
	if vs.manifest.Size() > vs.maxSize {
		if err := vs.rotate(); err != nil {
			vs.err = fmt.Errorf("manifest: rotation: %w", err)
			return vs.err
		}
	}
	return nil
}

func (vs *versionSet) close() error {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if vs.manifest == nil {
		return nil
	}
	err := vs.manifest.Close()
	vs.manifest = nil
	return err
}
