package vfs_test

// MemFS behaviour that the OS filesystem does not share (its path syntax) or
// that only MemFS promises (concurrent use under one lock). The semantics both
// share are checked in fs_test.go.

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/vfs"
)

// Contract: MemFS paths are slash-separated and relative paths are taken from
// the root, so "a/b", "/a/b", "./a/b" and "/a//b/" all name the same file.
func TestMemRelativeAndAbsolutePathsAreEquivalent(t *testing.T) {
	spellings := []string{"a/b", "/a/b", "./a/b", "/a//b/", "a/./b", "/x/../a/b"}
	for _, writeAs := range spellings {
		t.Run(writeAs, func(t *testing.T) {
			m := vfs.NewMem()
			require.NoError(t, m.MkdirAll("a", 0o755))
			writeFile(t, m, writeAs, "data")
			for _, readAs := range spellings {
				require.Equal(t, "data", readFile(t, m, readAs), "read as %q", readAs)
				info, err := m.Stat(readAs)
				require.NoError(t, err)
				require.Equal(t, "b", info.Name())
			}
			for _, dir := range []string{"a", "/a", "a/", "./a"} {
				names, err := m.List(dir)
				require.NoError(t, err)
				require.Equal(t, []string{"b"}, names, "List(%q)", dir)
			}
			names, err := m.List("")
			require.NoError(t, err)
			require.Equal(t, []string{"a"}, names, `List("") is the root`)

			require.NoError(t, m.Rename("a/b", "/a/c"))
			require.Equal(t, "data", readFile(t, m, "/a/c"))
			require.NoError(t, m.Remove("a/c"))
			names, err = m.List("/a")
			require.NoError(t, err)
			require.Empty(t, names)
		})
	}
}

// Contract: MemFS.OpenDir refuses a file (the OS filesystem cannot tell at
// open time), and the root cannot be created, removed or renamed.
func TestMemRejectsMisusedNames(t *testing.T) {
	m := vfs.NewMem()
	writeFile(t, m, "f", "x")
	_, err := m.OpenDir("f")
	require.Error(t, err)
	_, err = m.Open("f/g")
	require.Error(t, err, "a file used as a directory")

	_, err = m.Create("/")
	require.Error(t, err)
	require.Error(t, m.Remove("/"))
	require.Error(t, m.Rename("/", "/r"))

	names, err := m.List("/")
	require.NoError(t, err)
	require.Equal(t, []string{"f"}, names)
}

// Contract: a MemFS is safe for concurrent use, and a File's ReadAt may run
// while its one writer writes. Writers each append to their own file while
// readers read those files through other handles and through the writer's
// handle, list the directory and take crash clones. Every read must see a
// prefix of what its file will finally hold. Run with -race.
func TestMemConcurrentUse(t *testing.T) {
	const (
		writers = 8
		chunks  = 200
	)
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("/dir", 0o755))
	content := func(w int) []byte {
		var b bytes.Buffer
		for c := range chunks {
			fmt.Fprintf(&b, "w%d-c%03d;", w, c)
		}
		return b.Bytes()
	}
	// checkPrefix reports whether got is a prefix of writer w's contents.
	checkPrefix := func(w int, got []byte) error {
		if want := content(w); !bytes.HasPrefix(want, got) {
			return fmt.Errorf("file %d: read %q, not a prefix of its contents", w, got)
		}
		return nil
	}

	var wg sync.WaitGroup
	errs := make(chan error, 4*writers)
	for w := range writers {
		name := fmt.Sprintf("/dir/f%d", w)
		f, err := m.Create(name)
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() }) // after every goroutine using f is done
		done := make(chan struct{})
		wg.Go(func() { // the writer
			defer close(done)
			want := content(w)
			step := len(want) / chunks
			for c := range chunks {
				if _, err := f.Write(want[c*step : (c+1)*step]); err != nil {
					errs <- err
					return
				}
				if c%50 == 0 {
					if err := f.Sync(); err != nil {
						errs <- err
						return
					}
				}
			}
		})
		wg.Go(func() { // ReadAt on the writer's own handle, concurrently
			buf := make([]byte, 64)
			for off := 0; ; off = (off + 7) % 1000 {
				select {
				case <-done:
					return
				default:
				}
				n, err := f.ReadAt(buf, int64(off))
				if err != nil && err != io.EOF {
					errs <- err
					return
				}
				want := content(w)
				if off+n > len(want) || !bytes.Equal(want[off:off+n], buf[:n]) {
					errs <- fmt.Errorf("file %d: ReadAt(%d) = %q", w, off, buf[:n])
					return
				}
			}
		})
		wg.Go(func() { // another goroutine reading whole files and listing
			for range 20 {
				r, err := m.Open(name)
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(r)
				r.Close()
				if err == nil {
					err = checkPrefix(w, got)
				}
				if err != nil {
					errs <- err
					return
				}
				if _, err := m.List("/dir"); err != nil {
					errs <- err
					return
				}
				if _, err := m.Stat(name); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() { // crash clones taken while everything runs
		for range 20 {
			c := m.CrashClone(vfs.CrashOptions{})
			if _, err := c.List("/"); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	names, err := m.List("/dir")
	require.NoError(t, err)
	require.Len(t, names, writers)
	for w := range writers {
		require.Equal(t, string(content(w)), readFile(t, m, fmt.Sprintf("/dir/f%d", w)))
	}
}
