package dkv

// Regression test for a review finding about the MANIFEST.

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/manifest"
	"github.com/distributedkv/dkv/vfs"
)

// reviewDirSyncFS fails the first directory fsync that follows a rename
// while armed: SetCurrent's step 4, after CURRENT was already replaced.
type reviewDirSyncFS struct {
	vfs.FS
	armed   atomic.Bool
	renamed atomic.Bool
}

func (fs *reviewDirSyncFS) Rename(a, b string) error {
	err := fs.FS.Rename(a, b)
	if err == nil && fs.armed.Load() {
		fs.renamed.Store(true)
	}
	return err
}

func (fs *reviewDirSyncFS) OpenDir(name string) (vfs.File, error) {
	f, err := fs.FS.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &reviewDirFile{File: f, fs: fs}, nil
}

type reviewDirFile struct {
	vfs.File
	fs *reviewDirSyncFS
}

func (f *reviewDirFile) Sync() error {
	if f.fs.renamed.Load() && f.fs.armed.CompareAndSwap(true, false) {
		return errReviewInjected
	}
	return f.File.Sync()
}

func reviewTableEdit(num base.FileNum, seq base.SeqNum) *manifest.VersionEdit {
	return &manifest.VersionEdit{
		LastSeqNum: seq,
		NewFiles: []manifest.NewFile{{Level: 0, Meta: &manifest.FileMetadata{
			FileNum: num, Size: 100,
			Smallest:    base.MakeInternalKey([]byte("a"), seq, base.KindSet),
			Largest:     base.MakeInternalKey([]byte("z"), seq, base.KindSet),
			SmallestSeq: seq, LargestSeq: seq,
		}}},
	}
}

// Finding: a failed MANIFEST rotation was not sticky in the versionSet. When SetCurrent fails after its
// rename (the directory fsync fails), CURRENT already names the new
// MANIFEST, but vs.manifest stays the old, healthy writer: the next
// logAndApply succeeds, appending to a MANIFEST that CURRENT no longer
// names. After a reopen that edit is gone — the tables it added become
// orphans (deleted at Open), and the tables it deleted are back in the
// version though their files were removed. Only the flush path's
// stopWrites stands in the way today; any second caller that is already
// past its "stopped" check (a running compaction) or that ignores it loses
// an acknowledged edit.
func TestRegressionFailedManifestRotationNotSticky(t *testing.T) {
	mem := vfs.NewMem()
	require.NoError(t, mem.MkdirAll("/db", 0o755))
	fs := &reviewDirSyncFS{FS: mem}
	vs := &versionSet{fs: fs, dir: "/db", comparer: base.DefaultComparer, maxSize: 1 << 20}
	vs.nextFileNum.Store(100)
	vs.state = manifest.State{Version: &manifest.Version{}, ComparerName: base.DefaultComparer.Name, LogNum: 1}
	require.NoError(t, vs.rotate())
	t.Cleanup(func() { _ = vs.close() })

	// Edit 1 triggers a rotation whose SetCurrent fails after the rename.
	vs.maxSize = 0
	fs.armed.Store(true)
	err := vs.logAndApply(reviewTableEdit(10, 5), func(*manifest.Version) {})
	require.ErrorIs(t, err, errReviewInjected, "the rotation failed")

	// Edit 2: the MANIFEST state is unknown, yet the append is accepted.
	vs.maxSize = 1 << 20
	installed := false
	err2 := vs.logAndApply(reviewTableEdit(11, 6), func(*manifest.Version) { installed = true })
	require.ErrorIs(t, err2, errReviewInjected, "a failed rotation is sticky")
	require.False(t, installed)
}
