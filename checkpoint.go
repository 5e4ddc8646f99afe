package dkv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/manifest"
	"github.com/distributedkv/dkv/vfs"
)

// Checkpoints.
//
// A checkpoint is the database as of one moment, in a directory of its own
// that opens like the original. It is cheap because tables never change
// once written: each table of one version is hard-linked into the new
// directory (copied where a link fails), and a fresh MANIFEST holding one
// snapshot edit of that version is written beside them. No log is needed.
//
// Why one version is one moment of the history: a write takes its sequence
// numbers, its log record and its memtable inserts in one order under
// db.commit (write.go), so each memtable holds a contiguous run of sequence
// numbers; memtables are flushed strictly oldest first, and each flush's
// edit moves the MANIFEST's LastSeqNum to the last number of its memtable.
// So the tables of every version hold exactly the writes numbered up to its
// LastSeqNum — compactions rewrite tables but drop only versions of keys
// that newer ones hide — a prefix of the history, with no hole. Flushing
// first puts every write acknowledged before Checkpoint was called into
// that prefix; writes that raced with the call may be in it too, only ever
// as a longer prefix.
//
// The version and its LastSeqNum are read together under the version
// set's lock (logAndApply installs both under it), and the version is
// referenced until the last table is linked, so that no compaction can
// delete a table under the checkpoint (refs.go).

// checkpointSource is what a checkpoint copies: a referenced version and
// the counters of the MANIFEST state it belongs to.
type checkpointSource struct {
	version     *version
	lastSeq     base.SeqNum
	logNum      base.FileNum  // 0 unless logs are copied
	nextFileNum base.FileNum  // above every file number of the source
	logs        []replayedLog // a read-only DB's logs, copied
}

// checkpointStats counts how the files reached the checkpoint.
type checkpointStats struct {
	linked, copied, logs int
}

// Checkpoint writes a copy of the database as of one moment to destDir, a
// directory that must not exist yet, in one that does. Open opens it like
// the original, read-write or read-only, and it shares nothing that can
// change with the DB: later writes, flushes, compactions and Close of the
// DB leave it as it was.
//
// The checkpoint holds every write acknowledged before Checkpoint was
// called, and is a prefix of the history: if it holds a write, it holds
// every write before it. Writes may go on meanwhile. Checkpoint first
// flushes the memtables (waiting like Flush), then hard-links the tables of
// the current version into the checkpoint — copying those it cannot link,
// as across filesystems — and writes a MANIFEST naming them. Tables are
// never modified, so a link is as independent as a copy.
//
// A read-only DB cannot flush: its checkpoint also holds copies of the logs
// Open replayed, up to their last whole record, so that it holds exactly
// what the read-only DB reads.
//
// The checkpoint is built in a temporary directory beside destDir, named
// after it with a ".checkpoint-…tmp" suffix, and renamed to destDir once
// every file in it is durable: after a crash destDir is complete or absent.
// A failed or canceled Checkpoint removes the temporary directory and
// leaves no destDir; a crash may leave the temporary directory, which can
// be deleted. ctx is checked between files. Checkpoint fails with an error
// matching ErrInvalidArgument and fs.ErrExist when destDir exists, with
// ErrClosed when the DB is or gets closed (Close cancels it), and with the
// flush's error when the memtables cannot be flushed.
func (db *DB) Checkpoint(ctx context.Context, destDir string) error {
	if db.closed.Load() {
		return ErrClosed
	}
	dest, tmp, err := db.checkpointPaths(destDir)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !db.opts.ReadOnly {
		if err := db.Flush(); err != nil {
			return fmt.Errorf("dkv: checkpoint: flush: %w", err)
		}
	}
	src, err := db.pinCheckpoint()
	if err != nil {
		return err
	}
	defer db.unpinCheckpoint(src)

	// Close cancels the checkpoint, and waits for it to stop.
	ctx, cancel := db.cancelOnClose(ctx)
	defer cancel()

	start := time.Now()
	st, err := db.writeCheckpoint(ctx, tmp, src)
	if err == nil {
		err = db.publishCheckpoint(tmp, dest)
	}
	if err != nil {
		db.removeCheckpointDir(tmp)
		select {
		case <-db.closeCh:
			if errors.Is(err, context.Canceled) {
				return ErrClosed
			}
		default:
		}
		return err
	}
	// Copies cost space and time that links do not: say so louder.
	level := slog.LevelDebug
	if st.copied > 0 {
		level = slog.LevelInfo
	}
	db.logger.Log(ctx, level, "dkv: checkpoint written", "dir", dest, "tables linked", st.linked,
		"tables copied", st.copied, "logs copied", st.logs, "duration", time.Since(start))
	return nil
}

// checkpointPaths checks destDir — absent, in an existing directory — and
// returns it cleaned, and the temporary directory to build it in.
func (db *DB) checkpointPaths(destDir string) (dest, tmp string, err error) {
	if destDir == "" {
		return "", "", fmt.Errorf("%w: empty checkpoint directory name", ErrInvalidArgument)
	}
	dest = db.fs.PathJoin(destDir) // cleaned
	if err := db.checkAbsent(dest); err != nil {
		return "", "", err
	}
	parent := db.fs.PathDir(dest)
	info, err := db.fs.Stat(parent)
	if err != nil {
		return "", "", fmt.Errorf("dkv: checkpoint: the parent of %s: %w", dest, err)
	}
	if !info.IsDir() {
		return "", "", fmt.Errorf("%w: checkpoint: the parent of %s is not a directory", ErrInvalidArgument, dest)
	}
	tmp = db.fs.PathJoin(parent, fmt.Sprintf("%s.checkpoint-%016x.tmp", db.fs.PathBase(dest), rand.Uint64()))
	return dest, tmp, nil
}

// checkAbsent fails unless nothing exists at dest.
func (db *DB) checkAbsent(dest string) error {
	_, err := db.fs.Stat(dest)
	switch {
	case err == nil:
		return fmt.Errorf("%w: checkpoint directory %s: %w", ErrInvalidArgument, dest, fs.ErrExist)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("dkv: checkpoint: %w", err)
	}
	return nil
}

// pinCheckpoint references the current version, with the counters of its
// MANIFEST state, and counts the checkpoint as under way (Close waits for
// it).
func (db *DB) pinCheckpoint() (*checkpointSource, error) {
	vs := db.versions
	vs.mu.Lock() // the state and db.mu.version agree under vs.mu
	defer vs.mu.Unlock()
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.mu.closing {
		return nil, ErrClosed
	}
	v := db.mu.version
	v.ref()
	db.mu.checkpoints++
	src := &checkpointSource{version: v, lastSeq: vs.state.LastSeqNum, nextFileNum: base.FileNum(vs.nextFileNum.Load())}
	if db.opts.ReadOnly {
		src.logNum, src.logs = vs.state.LogNum, db.replayed
	}
	return src, nil
}

func (db *DB) unpinCheckpoint(src *checkpointSource) {
	src.version.unref()
	db.mu.Lock()
	db.mu.checkpoints--
	db.mu.cond.Broadcast()
	db.mu.Unlock()
}

// writeCheckpoint fills dir with src's tables (and logs), an empty LOCK
// file, a MANIFEST holding one snapshot edit of src, and CURRENT; every
// file and dir's entries are durable when it returns.
func (db *DB) writeCheckpoint(ctx context.Context, dir string, src *checkpointSource) (checkpointStats, error) {
	var st checkpointStats
	if err := db.fs.MkdirAll(dir, 0o755); err != nil {
		return st, fmt.Errorf("dkv: checkpoint: %w", err)
	}
	for _, files := range src.version.Levels {
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return st, err
			}
			name := base.MakeFilename(base.FileTypeTable, f.FileNum)
			linked, err := db.linkOrCopy(db.fs.PathJoin(db.dir, name), db.fs.PathJoin(dir, name), int64(f.Size))
			if err != nil {
				return st, err
			}
			if linked {
				st.linked++
			} else {
				st.copied++
			}
		}
	}
	// Logs are copied, never linked: a writer that opens the source later
	// continues its newest log in place.
	for _, l := range src.logs {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if err := copyFile(db.fs, l.path, db.fs.PathJoin(dir, db.fs.PathBase(l.path)), l.end); err != nil {
			return st, err
		}
		st.logs++
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	// A read-write Open creates LOCK, but a read-only one needs it.
	lock, err := db.fs.Create(db.fs.PathJoin(dir, base.MakeFilename(base.FileTypeLock, 0)))
	if err != nil {
		return st, fmt.Errorf("dkv: checkpoint: %w", err)
	}
	if err := lock.Close(); err != nil {
		return st, fmt.Errorf("dkv: checkpoint: %w", err)
	}

	edit := src.version.SnapshotEdit()
	edit.ComparerName = db.comparer.Name
	edit.LogNum = src.logNum
	edit.LastSeqNum = src.lastSeq
	manifestNum, tempNum := src.nextFileNum, src.nextFileNum+1
	edit.NextFileNum = src.nextFileNum + 2
	w, err := manifest.Create(db.fs, dir, manifestNum, edit) // syncs dir
	if err != nil {
		return st, fmt.Errorf("dkv: checkpoint: %w", err)
	}
	if err := w.Close(); err != nil {
		return st, fmt.Errorf("dkv: checkpoint: close MANIFEST: %w", err)
	}
	if err := manifest.SetCurrent(db.fs, dir, manifestNum, tempNum); err != nil { // syncs dir
		return st, fmt.Errorf("dkv: checkpoint: %w", err)
	}
	return st, nil
}

// linkOrCopy hard-links the table src to dst, or copies its size bytes
// when the link fails. Its contents are durable either way: a table is
// synced before any version names it.
func (db *DB) linkOrCopy(src, dst string, size int64) (linked bool, err error) {
	lerr := db.fs.Link(src, dst)
	if lerr == nil {
		return true, nil
	}
	db.logger.Debug("dkv: checkpoint: copying a table it could not link", "table", src, "err", lerr)
	if err := copyFile(db.fs, src, dst, size); err != nil {
		return false, fmt.Errorf("%w (after the link failed: %v)", err, lerr)
	}
	return false, nil
}

// copyFile copies the first size bytes of src to a new file dst and syncs
// it.
func copyFile(fsys vfs.FS, src, dst string, size int64) error {
	in, err := fsys.Open(src)
	if err != nil {
		return fmt.Errorf("dkv: checkpoint: %w", err)
	}
	defer in.Close()
	out, err := fsys.Create(dst)
	if err != nil {
		return fmt.Errorf("dkv: checkpoint: %w", err)
	}
	n, err := io.CopyN(out, in, size)
	if errors.Is(err, io.EOF) {
		err = base.CorruptionErrorf(src, n, "the file ends at %d bytes, expected %d", n, size)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dkv: checkpoint: copy %s to %s: %w", src, dst, err)
	}
	return nil
}

// publishCheckpoint renames the finished tmp to dest and syncs their
// parent. If that sync fails, dest is removed: whether it would survive a
// crash is unknown.
func (db *DB) publishCheckpoint(tmp, dest string) error {
	// dest may have appeared meanwhile; os.Rename would replace an empty
	// directory.
	if err := db.checkAbsent(dest); err != nil {
		return err
	}
	if err := db.fs.Rename(tmp, dest); err != nil {
		return fmt.Errorf("dkv: checkpoint: %w", err)
	}
	if err := vfs.SyncDir(db.fs, db.fs.PathDir(dest)); err != nil {
		db.removeCheckpointDir(dest)
		return fmt.Errorf("dkv: checkpoint: %w", err)
	}
	return nil
}

// removeCheckpointDir removes a checkpoint directory that failed, with its
// files. Failures are only logged: the directory is not a database's.
func (db *DB) removeCheckpointDir(dir string) {
	names, err := db.fs.List(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	for _, name := range names {
		if err := db.fs.Remove(db.fs.PathJoin(dir, name)); err != nil {
			db.logger.Warn("dkv: checkpoint: remove a file of a failed checkpoint", "file", name, "err", err)
		}
	}
	if err := db.fs.Remove(dir); err != nil {
		db.logger.Warn("dkv: checkpoint: remove a failed checkpoint", "dir", dir, "err", err)
	}
}
