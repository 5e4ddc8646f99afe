package dkv

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
)

// crashPointFS counts the filesystem operations that change state (create,
// write, sync, truncate, rename, remove, mkdir) and, just before operation
// number target, takes the image a power failure would leave.
type crashPointFS struct {
	*vfs.MemFS
	target int64
	ops    atomic.Int64
	onHit  func() // called once, before the image of the target operation

	mu    sync.Mutex
	image *vfs.MemFS
	what  string
}

func (c *crashPointFS) step(what string) {
	if c.ops.Add(1) == c.target {
		// Count the acknowledged writes first: every write acknowledged
		// before this point is durable in the image taken after it.
		c.onHit()
		c.mu.Lock()
		c.image = c.MemFS.CrashClone(vfs.CrashOptions{})
		c.what = what
		c.mu.Unlock()
	}
}

func (c *crashPointFS) Create(name string) (vfs.File, error) {
	c.step("create " + name)
	f, err := c.MemFS.Create(name)
	if err != nil {
		return nil, err
	}
	return &crashPointFile{File: f, fs: c, name: name}, nil
}

func (c *crashPointFS) OpenReadWrite(name string) (vfs.File, error) {
	f, err := c.MemFS.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	return &crashPointFile{File: f, fs: c, name: name}, nil
}

func (c *crashPointFS) OpenDir(name string) (vfs.File, error) {
	f, err := c.MemFS.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &crashPointFile{File: f, fs: c, name: name}, nil
}

func (c *crashPointFS) Rename(a, b string) error {
	c.step("rename " + a + " " + b)
	return c.MemFS.Rename(a, b)
}

func (c *crashPointFS) Remove(name string) error {
	c.step("remove " + name)
	return c.MemFS.Remove(name)
}

type crashPointFile struct {
	vfs.File
	fs   *crashPointFS
	name string
}

func (f *crashPointFile) Write(p []byte) (int, error) {
	f.fs.step("write " + f.name)
	return f.File.Write(p)
}

func (f *crashPointFile) Sync() error {
	f.fs.step("sync " + f.name)
	return f.File.Sync()
}

func (f *crashPointFile) Truncate(n int64) error {
	f.fs.step("truncate " + f.name)
	return f.File.Truncate(n)
}

// crashPointWorkload writes through fs with constant flushes, compactions
// of every kind (L0, size, moves, manual), MANIFEST rotations and a reopen
// halfway, and returns the model of what it
// acknowledged. acked counts the acknowledged ops as they happen.
func crashPointWorkload(t *testing.T, fs vfs.FS, seed uint64, acked *atomic.Int64) *crashModel {
	rng := rand.New(rand.NewPCG(seed, 11))
	opts := &Options{FS: fs, MemTableSize: 4 << 10, MaxManifestFileSize: 1 << 10, Logger: discardLogger(),
		L0CompactionThreshold: 2, LBaseMaxBytes: 8 << 10, TargetFileSize: 2 << 10}
	db, err := Open("/db", opts)
	require.NoError(t, err)
	m := &crashModel{base: map[string][]byte{}}
	for i := range 300 {
		if i == 150 {
			require.NoError(t, db.Close())
			db, err = Open("/db", opts)
			require.NoError(t, err)
		}
		if i%40 == 39 {
			require.NoError(t, db.Flush())
		}
		if i%100 == 99 {
			require.NoError(t, db.Compact(context.Background(), nil, nil))
		}
		op := randomOp(rng, 60)
		require.NoError(t, applyOp(db, op))
		op.last = base.SeqNum(db.visible.Load())
		m.ops = append(m.ops, op)
		acked.Add(1)
	}
	require.NoError(t, db.Close())
	return m
}

// TestCrashPoints checks the durability contract at every kind of
// filesystem operation of the engine: the workload runs again and again,
// and each time the machine loses power just before its k-th state-changing
// operation — inside a log append or its fsync, a memtable rotation, a
// flush writing its table, a compaction writing its outputs, the MANIFEST
// edit, a MANIFEST rotation and the replacement of CURRENT, the deletion of
// obsolete logs and tables, or recovery at Open. Reopening the image must succeed and hold exactly a prefix of the
// acknowledged writes that includes every synced one acknowledged before
// the crash.
func TestCrashPoints(t *testing.T) {
	var dry atomic.Int64
	dryFS := &crashPointFS{MemFS: vfs.NewMem(), target: -1}
	seed := 1 + SoakSeedBase()
	crashPointWorkload(t, dryFS, seed, &dry)
	total := dryFS.ops.Load()
	points := int64(120)
	if testing.Short() {
		points = 30
	}
	if s := os.Getenv("DKV_CRASH_POINTS"); s != "" {
		points, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("the workload makes %d state-changing filesystem operations; crashing at %d of them", total, min(points, total))
	kinds := map[string]bool{}
	tried := int64(0)
	defer func() { SoakCount(t, "crash-points", tried) }()
	for i := range min(points, total) {
		target := 1 + i*total/min(points, total)
		var acked atomic.Int64
		var ackedAtCrash int64
		fs := &crashPointFS{MemFS: vfs.NewMem(), target: target}
		fs.onHit = func() { ackedAtCrash = acked.Load() }
		m := crashPointWorkload(t, fs, seed, &acked)
		fs.mu.Lock()
		image, what := fs.image, fs.what
		fs.mu.Unlock()
		if image == nil {
			continue // this run made fewer operations (background timing)
		}
		kinds[kindOf(what)] = true
		tried++

		db, err := Open("/db", &Options{FS: image, Logger: discardLogger()})
		require.NoError(t, err, "crash before op %d (%s)", target, what)
		got := base.SeqNum(db.visible.Load())
		before := &crashModel{base: map[string][]byte{}, ops: m.ops[:ackedAtCrash]}
		require.GreaterOrEqual(t, got, before.minRecoverable(), "crash before op %d (%s): a synced write was lost", target, what)
		want, err := m.stateAt(got)
		require.NoError(t, err, "crash before op %d (%s)", target, what)
		checkState(t, db, want, 60)
		require.NoError(t, db.Close())
	}
	t.Logf("crashed at operations of kinds %v", kinds)
}

// kindOf reduces "sync /db/000012.log" to "sync .log", for the log line.
func kindOf(what string) string {
	op, name, _ := strings.Cut(what, " ")
	base := name[strings.LastIndex(name, "/")+1:]
	switch {
	case strings.HasPrefix(base, "MANIFEST-"):
		return op + " MANIFEST"
	case strings.Contains(base, "."):
		return op + " " + base[strings.LastIndex(base, "."):]
	}
	return op + " " + base
}
