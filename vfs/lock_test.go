package vfs_test

// The contract of FS.Lock and FS.LockShared: a lock named by a file, taken
// exclusively (Lock) or shared (LockShared), refused at once with ErrLocked
// while held in a mode that excludes it (by this process or another),
// released by Close.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/vfs"
)

// isUnix reports whether Default.Lock is implemented (flock) on this OS.
func isUnix() bool {
	switch runtime.GOOS {
	case "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos",
		"ios", "linux", "netbsd", "openbsd", "solaris":
		return true
	}
	return false
}

// lockFS runs f against MemFS and, on Unix, against vfs.Default.
func lockFS(t *testing.T, f func(t *testing.T, fsys vfs.FS, dir string)) {
	t.Run("mem", func(t *testing.T) {
		f(t, vfs.NewMem(), "/")
	})
	t.Run("os", func(t *testing.T) {
		if !isUnix() {
			t.Skipf("file locking is not implemented on %s", runtime.GOOS)
		}
		f(t, vfs.Default, t.TempDir())
	})
}

// Contract: a second Lock of a held name fails with ErrLocked; after Close
// the name can be locked again.
func TestLockIsExclusiveUntilClosed(t *testing.T) {
	lockFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := fsys.PathJoin(dir, "LOCK")
		l, err := fsys.Lock(name)
		require.NoError(t, err)

		_, err = fsys.Lock(name)
		require.ErrorIs(t, err, vfs.ErrLocked)
		_, err = fsys.Lock(name)
		require.ErrorIs(t, err, vfs.ErrLocked, "a refused Lock released the lock")

		require.NoError(t, l.Close())
		l2, err := fsys.Lock(name)
		require.NoError(t, err)
		require.NoError(t, l2.Close())
	})
}

// Contract: Lock creates the lock file when missing and, when it exists,
// neither truncates it nor needs it to be empty.
func TestLockCreatesButKeepsTheFile(t *testing.T) {
	lockFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := fsys.PathJoin(dir, "LOCK")
		l, err := fsys.Lock(name)
		require.NoError(t, err)
		_, err = fsys.Stat(name)
		require.NoError(t, err, "Lock did not create its file")
		require.NoError(t, l.Close())

		writeFile(t, fsys, name, "owner info")
		l, err = fsys.Lock(name)
		require.NoError(t, err)
		require.NoError(t, l.Close())
		require.Equal(t, "owner info", readFile(t, fsys, name))
	})
}

// Contract: locks with different names are independent.
func TestLockNamesAreIndependent(t *testing.T) {
	lockFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		a, err := fsys.Lock(fsys.PathJoin(dir, "A"))
		require.NoError(t, err)
		defer a.Close()
		b, err := fsys.Lock(fsys.PathJoin(dir, "B"))
		require.NoError(t, err)
		defer b.Close()
	})
}

// Contract: closing a lock twice is harmless: the second Close must not
// release a lock someone else took in between.
func TestLockStaleCloseDoesNotReleaseNewHolder(t *testing.T) {
	lockFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := fsys.PathJoin(dir, "LOCK")
		first, err := fsys.Lock(name)
		require.NoError(t, err)
		require.NoError(t, first.Close())

		second, err := fsys.Lock(name)
		require.NoError(t, err)
		defer second.Close()
		_ = first.Close()

		_, err = fsys.Lock(name)
		require.ErrorIs(t, err, vfs.ErrLocked, "a stale Close released the new holder's lock")
	})
}

// Contract: shared locks coexist; the exclusive lock is refused while any is
// held, and refuses them while it is held; the name is free again once the
// last shared holder closes.
func TestLockSharedExcludesLock(t *testing.T) {
	lockFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := fsys.PathJoin(dir, "LOCK")
		writeFile(t, fsys, name, "")
		a, err := fsys.LockShared(name)
		require.NoError(t, err)
		b, err := fsys.LockShared(name)
		require.NoError(t, err, "shared locks coexist")

		_, err = fsys.Lock(name)
		require.ErrorIs(t, err, vfs.ErrLocked)
		require.NoError(t, a.Close())
		_, err = fsys.Lock(name)
		require.ErrorIs(t, err, vfs.ErrLocked, "one shared holder is left")
		require.NoError(t, b.Close())

		x, err := fsys.Lock(name)
		require.NoError(t, err, "the last shared holder closed")
		_, err = fsys.LockShared(name)
		require.ErrorIs(t, err, vfs.ErrLocked)
		_, err = fsys.LockShared(name)
		require.ErrorIs(t, err, vfs.ErrLocked, "a refused LockShared released the lock")
		require.NoError(t, x.Close())

		c, err := fsys.LockShared(name)
		require.NoError(t, err)
		require.NoError(t, c.Close())
	})
}

// Contract: LockShared creates nothing: a missing file is an error matching
// fs.ErrNotExist, and the directory stays empty. An existing file is not
// changed.
func TestLockSharedNeedsTheFile(t *testing.T) {
	lockFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := fsys.PathJoin(dir, "LOCK")
		_, err := fsys.LockShared(name)
		require.ErrorIs(t, err, fs.ErrNotExist)
		names, err := fsys.List(dir)
		require.NoError(t, err)
		require.Empty(t, names, "LockShared created its file")

		writeFile(t, fsys, name, "owner info")
		l, err := fsys.LockShared(name)
		require.NoError(t, err)
		require.NoError(t, l.Close())
		require.Equal(t, "owner info", readFile(t, fsys, name))
	})
}

// Contract: closing a shared lock twice releases it once: the other shared
// holder still keeps the exclusive lock out.
func TestLockSharedStaleCloseKeepsOtherHolders(t *testing.T) {
	lockFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := fsys.PathJoin(dir, "LOCK")
		writeFile(t, fsys, name, "")
		a, err := fsys.LockShared(name)
		require.NoError(t, err)
		b, err := fsys.LockShared(name)
		require.NoError(t, err)
		defer b.Close()
		require.NoError(t, a.Close())
		_ = a.Close()
		_, err = fsys.Lock(name)
		require.ErrorIs(t, err, vfs.ErrLocked, "a stale Close released another shared holder's lock")
	})
}

// Contract: MemFS names the lock by its cleaned path, so "LOCK", "/LOCK" and
// "./LOCK" are one lock.
func TestMemLockPathSpellingsAreOneLock(t *testing.T) {
	m := vfs.NewMem()
	l, err := m.Lock("LOCK")
	require.NoError(t, err)
	defer l.Close()
	for _, name := range []string{"/LOCK", "./LOCK", "//LOCK"} {
		_, err := m.Lock(name)
		require.ErrorIs(t, err, vfs.ErrLocked, name)
	}
}

// Contract: locks belong to one MemFS value; a CrashClone starts with none, as
// a rebooted machine does, and taking one there leaves the original's lock
// held.
func TestMemCrashCloneStartsUnlocked(t *testing.T) {
	m := vfs.NewMem()
	l, err := m.Lock("/LOCK")
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, vfs.SyncDir(m, "/"))

	crashed := m.CrashClone(vfs.CrashOptions{})
	cl, err := crashed.Lock("/LOCK")
	require.NoError(t, err, "the crash clone inherited a lock")
	defer cl.Close()

	_, err = m.Lock("/LOCK")
	require.ErrorIs(t, err, vfs.ErrLocked, "locking the clone released the original")
	_, err = crashed.Lock("/LOCK")
	require.ErrorIs(t, err, vfs.ErrLocked)
}

// lockHelperEnv, when set, names the lock file TestLockHelperProcess takes;
// lockHelperSharedEnv, when set, makes it take the lock shared.
const (
	lockHelperEnv       = "DKV_VFS_TEST_LOCK_HELPER"
	lockHelperSharedEnv = "DKV_VFS_TEST_LOCK_HELPER_SHARED"
)

// TestLockHelperProcess is not a test: TestOSLockExcludesOtherProcesses runs
// the test binary again with only this function, as a second process that
// holds a lock. It takes the lock named by lockHelperEnv, prints "locked",
// and holds it until its stdin closes.
func TestLockHelperProcess(t *testing.T) {
	name := os.Getenv(lockHelperEnv)
	if name == "" {
		t.Skip("helper process for TestOSLockExcludesOtherProcesses")
	}
	lock := vfs.Default.Lock
	if os.Getenv(lockHelperSharedEnv) != "" {
		lock = vfs.Default.LockShared
	}
	l, err := lock(name)
	if err != nil {
		fmt.Printf("lock failed: %v\n", err)
		t.Fatal(err)
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	require.NoError(t, l.Close())
}

// holdInChild runs the test binary again as a second process that holds
// the lock name (shared or exclusive), and returns once it does. release
// makes the child close the lock and exit, and waits for it.
func holdInChild(t *testing.T, name string, shared bool) (release func()) {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$", "-test.count=1")
	child.Env = append(os.Environ(), lockHelperEnv+"="+name)
	if shared {
		child.Env = append(child.Env, lockHelperSharedEnv+"=1")
	}
	var stderr bytes.Buffer
	child.Stderr = &stderr
	stdin, err := child.StdinPipe()
	require.NoError(t, err)
	stdout, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	exited := false
	t.Cleanup(func() { // make sure the child never outlives a failed test
		if !exited {
			stdin.Close()
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	})

	// failChild reports the child's stderr, which is safe to read only once
	// the child has exited.
	failChild := func(why string) {
		t.Helper()
		stdin.Close()
		_ = child.Wait()
		exited = true
		t.Fatalf("%s; child stderr:\n%s", why, stderr.String())
	}
	out := bufio.NewScanner(stdout)
	for out.Text() != "locked" {
		if !out.Scan() {
			failChild("child exited before locking")
		}
		if bytes.Contains(out.Bytes(), []byte("lock failed")) {
			failChild(out.Text())
		}
	}
	return func() {
		t.Helper()
		require.NoError(t, stdin.Close())
		_, _ = io.Copy(io.Discard, stdout)
		err := child.Wait()
		exited = true
		require.NoError(t, err, "child failed; stderr:\n%s", stderr.String())
	}
}

// Contract: a lock held by another process refuses Lock with ErrLocked, and
// is free again once that process has exited.
func TestOSLockExcludesOtherProcesses(t *testing.T) {
	if !isUnix() {
		t.Skipf("file locking is not implemented on %s", runtime.GOOS)
	}
	name := vfs.Default.PathJoin(t.TempDir(), "LOCK")

	release := holdInChild(t, name, false)
	_, err := vfs.Default.Lock(name)
	require.ErrorIs(t, err, vfs.ErrLocked, "another process holds the lock")
	_, err = vfs.Default.LockShared(name)
	require.ErrorIs(t, err, vfs.ErrLocked, "another process holds the lock exclusively")
	release()

	l, err := vfs.Default.Lock(name)
	require.NoError(t, err, "the lock outlived the process that held it")
	require.NoError(t, l.Close())
}

// Contract: a shared lock held by another process lets this one take a
// shared lock too, and refuses it the exclusive one until that process has
// exited.
func TestOSLockSharedAcrossProcesses(t *testing.T) {
	if !isUnix() {
		t.Skipf("file locking is not implemented on %s", runtime.GOOS)
	}
	name := vfs.Default.PathJoin(t.TempDir(), "LOCK")
	writeFile(t, vfs.Default, name, "")

	release := holdInChild(t, name, true)
	s, err := vfs.Default.LockShared(name)
	require.NoError(t, err, "shared locks of two processes coexist")
	_, err = vfs.Default.Lock(name)
	require.ErrorIs(t, err, vfs.ErrLocked)
	require.NoError(t, s.Close())
	_, err = vfs.Default.Lock(name)
	require.ErrorIs(t, err, vfs.ErrLocked, "the other process still holds its shared lock")
	release()

	l, err := vfs.Default.Lock(name)
	require.NoError(t, err, "the shared lock outlived the process that held it")
	require.NoError(t, l.Close())
}
