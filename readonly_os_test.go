package dkv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/vfs"
)

// osDirImage returns the name, size and contents of every file of dir.
func osDirImage(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = fmt.Sprintf("%d bytes: %q", len(b), b)
	}
	return out
}

// Contract: on the operating system's filesystem, a read-only Open of a
// directory whose writer died without closing its DB (its process
// "killed": nothing more reaches the disk, the lock is released) sees every
// write the writer acknowledged — what a read-write Open of a copy of the
// directory recovers — and leaves every file as the dead writer left it.
func TestReadOnlyOpenOfKilledWriterOnOS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	k := &killableFS{FS: vfs.Default}
	db, err := Open(dir, &Options{FS: k, MemTableSize: 16 << 10, Logger: discardLogger()})
	require.NoError(t, err)
	want := map[string]string{}
	for i := range 400 {
		key, value := fmt.Sprintf("k%03d", i%250), fmt.Sprintf("value %d, padded to fill memtables a little faster", i)
		require.NoError(t, db.Put([]byte(key), []byte(value)))
		want[key] = value
	}
	require.NotZero(t, db.Metrics().Flush.Count, "the test wants tables and logs")
	killDB(k, db)
	image := osDirImage(t, dir)
	copied := filepath.Join(t.TempDir(), "copy")
	require.NoError(t, os.CopyFS(copied, os.DirFS(dir)))

	ro, err := Open(dir, &Options{ReadOnly: true, Logger: discardLogger()})
	require.NoError(t, err)
	require.Equal(t, want, DBContents(t, ro))
	require.NoError(t, ro.Close())
	require.Equal(t, image, osDirImage(t, dir), "a read-only Open changed the directory")

	rw, err := Open(copied, &Options{Logger: discardLogger()})
	require.NoError(t, err)
	require.Equal(t, want, DBContents(t, rw))
	require.NoError(t, rw.Close())
}
