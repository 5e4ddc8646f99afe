package vfs_test

// Conformance tests: every test in this file runs against both MemFS and the
// operating system's filesystem (vfs.Default), so that code tested on MemFS
// meets the same answers in production.

import (
	"io"
	"io/fs"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/vfs"
)

// forEachFS runs f once per implementation, each time with a fresh, empty
// directory dir inside fsys.
func forEachFS(t *testing.T, f func(t *testing.T, fsys vfs.FS, dir string)) {
	t.Run("mem", func(t *testing.T) {
		m := vfs.NewMem()
		require.NoError(t, m.MkdirAll("/test", 0o755))
		f(t, m, "/test")
	})
	t.Run("os", func(t *testing.T) {
		f(t, vfs.Default, t.TempDir())
	})
}

// writeFile creates name holding data, without syncing anything.
func writeFile(t *testing.T, fsys vfs.FS, name, data string) {
	t.Helper()
	f, err := fsys.Create(name)
	require.NoError(t, err)
	_, err = f.Write([]byte(data))
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// readFile returns the whole contents of name.
func readFile(t *testing.T, fsys vfs.FS, name string) string {
	t.Helper()
	f, err := fsys.Open(name)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return string(b)
}

// openAt opens name for writing and seeks to off; writes then land there.
func openAt(t *testing.T, fsys vfs.FS, name string, off int64) vfs.File {
	t.Helper()
	f, err := fsys.OpenReadWrite(name)
	require.NoError(t, err)
	_, err = f.Seek(off, io.SeekStart)
	require.NoError(t, err)
	return f
}

// Contract: bytes written through a handle read back through it after a Seek
// to the start, and Read reports io.EOF once the contents are exhausted.
func TestWriteThenReadBack(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		f, err := fsys.Create(fsys.PathJoin(dir, "f"))
		require.NoError(t, err)
		defer f.Close()

		n, err := f.Write([]byte("hello "))
		require.NoError(t, err)
		require.Equal(t, 6, n)
		_, err = f.Write([]byte("world"))
		require.NoError(t, err)

		pos, err := f.Seek(0, io.SeekStart)
		require.NoError(t, err)
		require.Zero(t, pos)
		got, err := io.ReadAll(f)
		require.NoError(t, err)
		require.Equal(t, "hello world", string(got))

		n, err = f.Read(make([]byte, 4))
		require.Zero(t, n)
		require.ErrorIs(t, err, io.EOF)
	})
}

// Contract: ReadAt reads at an absolute offset without moving the handle's
// offset; it returns io.EOF exactly when it reads fewer bytes than asked.
func TestReadAt(t *testing.T) {
	cases := []struct {
		name    string
		off     int64
		size    int
		want    string
		wantEOF bool
		wantErr bool
	}{
		{name: "whole", off: 0, size: 10, want: "0123456789"},
		{name: "middle", off: 3, size: 4, want: "3456"},
		{name: "up to end", off: 6, size: 4, want: "6789"},
		{name: "past end is short", off: 8, size: 4, want: "89", wantEOF: true},
		{name: "at end", off: 10, size: 1, want: "", wantEOF: true},
		{name: "beyond end", off: 50, size: 1, want: "", wantEOF: true},
		{name: "negative offset", off: -1, size: 1, wantErr: true},
	}
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := fsys.PathJoin(dir, "f")
		writeFile(t, fsys, name, "0123456789")
		f, err := fsys.Open(name)
		require.NoError(t, err)
		defer f.Close()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				buf := make([]byte, c.size)
				n, err := f.ReadAt(buf, c.off)
				switch {
				case c.wantErr:
					require.Error(t, err)
					return
				case c.wantEOF:
					require.ErrorIs(t, err, io.EOF)
				default:
					require.NoError(t, err)
				}
				require.Equal(t, c.want, string(buf[:n]))
			})
		}
		// ReadAt must not have moved the offset Read uses.
		b := make([]byte, 3)
		n, err := f.Read(b)
		require.NoError(t, err)
		require.Equal(t, "012", string(b[:n]))
	})
}

// Contract: Seek moves the offset relative to the start, the current offset
// or the end; a resulting negative offset is an error and leaves the offset
// where it was.
func TestSeek(t *testing.T) {
	cases := []struct {
		name    string
		offset  int64
		whence  int
		wantPos int64
		wantErr bool
	}{
		{name: "start", offset: 2, whence: io.SeekStart, wantPos: 2},
		{name: "current forward", offset: 2, whence: io.SeekCurrent, wantPos: 6},
		{name: "current back", offset: -4, whence: io.SeekCurrent, wantPos: 0},
		{name: "end", offset: -3, whence: io.SeekEnd, wantPos: 7},
		{name: "beyond end", offset: 5, whence: io.SeekEnd, wantPos: 15},
		{name: "negative from start", offset: -1, whence: io.SeekStart, wantErr: true},
		{name: "negative from current", offset: -5, whence: io.SeekCurrent, wantErr: true},
		{name: "negative from end", offset: -11, whence: io.SeekEnd, wantErr: true},
	}
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := fsys.PathJoin(dir, "f")
		writeFile(t, fsys, name, "0123456789")
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				f, err := fsys.Open(name)
				require.NoError(t, err)
				defer f.Close()
				_, err = f.Seek(4, io.SeekStart)
				require.NoError(t, err)

				pos, err := f.Seek(c.offset, c.whence)
				if c.wantErr {
					require.Error(t, err)
					pos, err = f.Seek(0, io.SeekCurrent)
					require.NoError(t, err)
					require.EqualValues(t, 4, pos, "a failed Seek moved the offset")
					return
				}
				require.NoError(t, err)
				require.Equal(t, c.wantPos, pos)
				b := make([]byte, 1)
				n, _ := f.Read(b)
				if c.wantPos < 10 {
					require.Equal(t, 1, n)
					require.Equal(t, byte('0'+c.wantPos), b[0], "Read does not start at the sought offset")
				} else {
					require.Zero(t, n)
				}
			})
		}
	})
}

// Contract: a write past the end of a file extends it, and the gap reads as
// zeros.
func TestWritePastEndZeroFills(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := fsys.PathJoin(dir, "f")
		writeFile(t, fsys, name, "ab")
		f := openAt(t, fsys, name, 5)
		_, err := f.Write([]byte("x"))
		require.NoError(t, err)
		require.NoError(t, f.Close())
		require.Equal(t, "ab\x00\x00\x00x", readFile(t, fsys, name))
	})
}

// Contract: Truncate sets the length; shrinking drops the tail, growing
// appends zeros; a negative size is an error.
func TestTruncate(t *testing.T) {
	cases := []struct {
		name string
		size int64
		want string
	}{
		{name: "shrink", size: 3, want: "abc"},
		{name: "to zero", size: 0, want: ""},
		{name: "same", size: 6, want: "abcdef"},
		{name: "grow", size: 8, want: "abcdef\x00\x00"},
	}
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				name := fsys.PathJoin(dir, "f")
				writeFile(t, fsys, name, "abcdef")
				f, err := fsys.OpenReadWrite(name)
				require.NoError(t, err)
				require.NoError(t, f.Truncate(c.size))
				info, err := f.Stat()
				require.NoError(t, err)
				require.Equal(t, c.size, info.Size())
				require.NoError(t, f.Close())
				require.Equal(t, c.want, readFile(t, fsys, name))
			})
		}
		t.Run("negative", func(t *testing.T) {
			name := fsys.PathJoin(dir, "f")
			writeFile(t, fsys, name, "abcdef")
			f, err := fsys.OpenReadWrite(name)
			require.NoError(t, err)
			defer f.Close()
			require.Error(t, f.Truncate(-1))
			require.Equal(t, "abcdef", readFile(t, fsys, name))
		})
	})
}

// Contract: FS.Stat and File.Stat report the base name, the current size and
// whether the name is a directory.
func TestStat(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := fsys.PathJoin(dir, "file")
		f, err := fsys.Create(name)
		require.NoError(t, err)
		defer f.Close()
		_, err = f.Write([]byte("12345"))
		require.NoError(t, err)

		info, err := fsys.Stat(name)
		require.NoError(t, err)
		require.Equal(t, "file", info.Name())
		require.EqualValues(t, 5, info.Size())
		require.False(t, info.IsDir())
		require.True(t, info.Mode().IsRegular())

		info, err = f.Stat()
		require.NoError(t, err)
		require.Equal(t, "file", info.Name())
		require.EqualValues(t, 5, info.Size())

		sub := fsys.PathJoin(dir, "sub")
		require.NoError(t, fsys.MkdirAll(sub, 0o755))
		info, err = fsys.Stat(sub)
		require.NoError(t, err)
		require.Equal(t, "sub", info.Name())
		require.True(t, info.IsDir())
	})
}

// Contract: OpenReadWrite keeps the contents and writes from offset 0;
// Create on an existing file empties it.
func TestOpenReadWriteKeepsContentsCreateTruncates(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := fsys.PathJoin(dir, "f")
		writeFile(t, fsys, name, "abcdef")

		f, err := fsys.OpenReadWrite(name)
		require.NoError(t, err)
		_, err = f.Write([]byte("XY"))
		require.NoError(t, err)
		require.NoError(t, f.Close())
		require.Equal(t, "XYcdef", readFile(t, fsys, name))

		f, err = fsys.Create(name)
		require.NoError(t, err)
		info, err := f.Stat()
		require.NoError(t, err)
		require.Zero(t, info.Size())
		require.NoError(t, f.Close())
		require.Equal(t, "", readFile(t, fsys, name))
	})
}

// Contract: each handle has its own offset, while all handles of one file
// see the same contents.
func TestHandlesShareContentsNotOffsets(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := fsys.PathJoin(dir, "f")
		w, err := fsys.Create(name)
		require.NoError(t, err)
		defer w.Close()
		r, err := fsys.Open(name)
		require.NoError(t, err)
		defer r.Close()

		_, err = w.Write([]byte("abc"))
		require.NoError(t, err)
		b := make([]byte, 2)
		n, err := r.Read(b)
		require.NoError(t, err)
		require.Equal(t, "ab", string(b[:n]))

		_, err = w.Write([]byte("def"))
		require.NoError(t, err)
		rest, err := io.ReadAll(r)
		require.NoError(t, err)
		require.Equal(t, "cdef", string(rest), "the reader's offset moved with the writer's")
	})
}

// Contract: List returns the base names of a directory's direct entries
// (files and directories, not deeper ones), sorted.
func TestListIsSortedAndShallow(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		got, err := fsys.List(dir)
		require.NoError(t, err)
		require.Empty(t, got)

		for _, n := range []string{"m", "b", "z", "a10", "a2"} {
			writeFile(t, fsys, fsys.PathJoin(dir, n), n)
		}
		require.NoError(t, fsys.MkdirAll(fsys.PathJoin(dir, "d", "deep"), 0o755))
		writeFile(t, fsys, fsys.PathJoin(dir, "d", "inner"), "")

		got, err = fsys.List(dir)
		require.NoError(t, err)
		require.Equal(t, []string{"a10", "a2", "b", "d", "m", "z"}, got)

		got, err = fsys.List(fsys.PathJoin(dir, "d"))
		require.NoError(t, err)
		require.Equal(t, []string{"deep", "inner"}, got)

		_, err = fsys.List(fsys.PathJoin(dir, "m"))
		require.Error(t, err, "List of a file must fail")
	})
}

// Contract: Remove removes a file or an empty directory; it refuses a
// directory that still has entries and leaves it intact.
func TestRemove(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		file := fsys.PathJoin(dir, "f")
		writeFile(t, fsys, file, "x")
		require.NoError(t, fsys.Remove(file))
		_, err := fsys.Stat(file)
		require.ErrorIs(t, err, fs.ErrNotExist)

		full := fsys.PathJoin(dir, "full")
		require.NoError(t, fsys.MkdirAll(full, 0o755))
		writeFile(t, fsys, fsys.PathJoin(full, "inner"), "kept")
		require.Error(t, fsys.Remove(full), "removed a non-empty directory")
		require.Equal(t, "kept", readFile(t, fsys, fsys.PathJoin(full, "inner")))

		require.NoError(t, fsys.Remove(fsys.PathJoin(full, "inner")))
		require.NoError(t, fsys.Remove(full))
		got, err := fsys.List(dir)
		require.NoError(t, err)
		require.Empty(t, got)
	})
}

// Contract: Rename moves a file or directory, replacing a file at the target,
// within or across directories. Like os.Rename it refuses a missing source, a
// directory moved into itself, and any existing target when either side is a
// directory (a directory is never replaced, nor replaces a file); a refused
// rename changes nothing.
func TestRename(t *testing.T) {
	type setup struct {
		fsys vfs.FS
		dir  string
	}
	p := func(s setup, elem ...string) string {
		return s.fsys.PathJoin(append([]string{s.dir}, elem...)...)
	}
	cases := []struct {
		name    string
		from    []string
		to      []string
		wantErr bool
		// want maps paths (relative to dir) to contents after the rename;
		// absent lists paths that must not exist.
		want   map[string]string
		absent [][]string
	}{
		{name: "file", from: []string{"a"}, to: []string{"new"},
			want: map[string]string{"new": "A"}, absent: [][]string{{"a"}}},
		{name: "file over file", from: []string{"a"}, to: []string{"b"},
			want: map[string]string{"b": "A"}, absent: [][]string{{"a"}}},
		{name: "file onto itself", from: []string{"a"}, to: []string{"a"},
			want: map[string]string{"a": "A"}},
		{name: "file across directories", from: []string{"a"}, to: []string{"d", "a"},
			want: map[string]string{"d/a": "A"}, absent: [][]string{{"a"}}},
		{name: "directory", from: []string{"d"}, to: []string{"e"},
			want: map[string]string{"e/inner": "I"}, absent: [][]string{{"d"}}},
		{name: "missing source", from: []string{"nope"}, to: []string{"x"}, wantErr: true},
		{name: "missing target directory", from: []string{"a"}, to: []string{"nodir", "a"}, wantErr: true},
		{name: "directory into itself", from: []string{"d"}, to: []string{"d", "sub"}, wantErr: true},
		{name: "directory over empty directory", from: []string{"d"}, to: []string{"empty"}, wantErr: true},
		{name: "directory over non-empty directory", from: []string{"empty"}, to: []string{"d"}, wantErr: true},
		{name: "directory onto itself", from: []string{"d"}, to: []string{"d"}, wantErr: true},
		{name: "file over directory", from: []string{"a"}, to: []string{"empty"}, wantErr: true},
		{name: "directory over file", from: []string{"empty"}, to: []string{"a"}, wantErr: true},
	}
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s := setup{fsys, fsys.PathJoin(dir, string(rune('A'+i)))}
				require.NoError(t, fsys.MkdirAll(p(s, "d"), 0o755))
				require.NoError(t, fsys.MkdirAll(p(s, "empty"), 0o755))
				writeFile(t, fsys, p(s, "a"), "A")
				writeFile(t, fsys, p(s, "b"), "B")
				writeFile(t, fsys, p(s, "d", "inner"), "I")

				err := fsys.Rename(p(s, c.from...), p(s, c.to...))
				if c.wantErr {
					require.Error(t, err)
					// Nothing moved.
					require.Equal(t, "A", readFile(t, fsys, p(s, "a")))
					require.Equal(t, "I", readFile(t, fsys, p(s, "d", "inner")))
					names, err := fsys.List(s.dir)
					require.NoError(t, err)
					require.Equal(t, []string{"a", "b", "d", "empty"}, names)
					return
				}
				require.NoError(t, err)
				for rel, data := range c.want {
					require.Equal(t, data, readFile(t, fsys, fsys.PathJoin(s.dir, rel)), rel)
				}
				for _, rel := range c.absent {
					_, err := fsys.Stat(p(s, rel...))
					require.ErrorIs(t, err, fs.ErrNotExist, "%v still exists", rel)
				}
			})
		}
	})
}

// Contract: Link gives a file a second name, in the same or another
// directory: both read the same contents, a write through one shows through
// the other, and removing one leaves the other. It refuses an existing new
// name, a missing old one and a directory, changing nothing.
func TestLink(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		a := fsys.PathJoin(dir, "a")
		sub := fsys.PathJoin(dir, "sub")
		b := fsys.PathJoin(sub, "b")
		writeFile(t, fsys, a, "hello")
		require.NoError(t, fsys.MkdirAll(sub, 0o755))
		require.NoError(t, fsys.Link(a, b))
		require.Equal(t, "hello", readFile(t, fsys, b))

		f := openAt(t, fsys, b, 5)
		_, err := f.Write([]byte(" world"))
		require.NoError(t, err)
		require.NoError(t, f.Close())
		require.Equal(t, "hello world", readFile(t, fsys, a), "the names are one file")

		writeFile(t, fsys, fsys.PathJoin(dir, "c"), "C")
		require.ErrorIs(t, fsys.Link(a, fsys.PathJoin(dir, "c")), fs.ErrExist)
		require.Equal(t, "C", readFile(t, fsys, fsys.PathJoin(dir, "c")), "a refused link replaced the file")
		require.ErrorIs(t, fsys.Link(fsys.PathJoin(dir, "missing"), fsys.PathJoin(dir, "d")), fs.ErrNotExist)
		require.Error(t, fsys.Link(sub, fsys.PathJoin(dir, "e")), "a directory has one name")
		names, err := fsys.List(dir)
		require.NoError(t, err)
		require.Equal(t, []string{"a", "c", "sub"}, names)

		require.NoError(t, fsys.Remove(a))
		require.Equal(t, "hello world", readFile(t, fsys, b), "removing one name removed the file")
	})
}

// Contract: MkdirAll creates every missing parent, succeeds when the
// directory exists, and fails when a component is a file.
func TestMkdirAll(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		deep := fsys.PathJoin(dir, "a", "b", "c")
		require.NoError(t, fsys.MkdirAll(deep, 0o755))
		require.NoError(t, fsys.MkdirAll(deep, 0o755), "MkdirAll of an existing directory")
		for _, p := range []string{"a", "a/b", "a/b/c"} {
			info, err := fsys.Stat(fsys.PathJoin(dir, p))
			require.NoError(t, err)
			require.True(t, info.IsDir(), p)
		}
		writeFile(t, fsys, fsys.PathJoin(deep, "f"), "x")
		require.Equal(t, "x", readFile(t, fsys, fsys.PathJoin(deep, "f")))

		file := fsys.PathJoin(dir, "file")
		writeFile(t, fsys, file, "")
		require.Error(t, fsys.MkdirAll(file, 0o755))
		require.Error(t, fsys.MkdirAll(fsys.PathJoin(file, "sub"), 0o755))
	})
}

// Contract: OpenDir opens a directory so that it can be synced; SyncDir syncs
// a directory by name and reports a missing one.
func TestOpenDirAndSyncDir(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		writeFile(t, fsys, fsys.PathJoin(dir, "f"), "x")
		d, err := fsys.OpenDir(dir)
		require.NoError(t, err)
		require.NoError(t, d.Sync())
		require.NoError(t, d.Close())

		require.NoError(t, vfs.SyncDir(fsys, dir))
		require.ErrorIs(t, vfs.SyncDir(fsys, fsys.PathJoin(dir, "missing")), fs.ErrNotExist)
	})
}

// Contract: every operation on a name that does not exist fails with an
// error matching fs.ErrNotExist, including creating a file in a missing
// directory.
func TestMissingPathsReportNotExist(t *testing.T) {
	ops := []struct {
		name string
		op   func(fsys vfs.FS, missing string) error
	}{
		{"Open", func(fsys vfs.FS, p string) error { _, err := fsys.Open(p); return err }},
		{"OpenReadWrite", func(fsys vfs.FS, p string) error { _, err := fsys.OpenReadWrite(p); return err }},
		{"OpenDir", func(fsys vfs.FS, p string) error { _, err := fsys.OpenDir(p); return err }},
		{"Stat", func(fsys vfs.FS, p string) error { _, err := fsys.Stat(p); return err }},
		{"List", func(fsys vfs.FS, p string) error { _, err := fsys.List(p); return err }},
		{"Remove", func(fsys vfs.FS, p string) error { return fsys.Remove(p) }},
		{"Rename", func(fsys vfs.FS, p string) error { return fsys.Rename(p, p+"2") }},
		{"Create in missing dir", func(fsys vfs.FS, p string) error {
			_, err := fsys.Create(fsys.PathJoin(p, "f"))
			return err
		}},
		{"Open in missing dir", func(fsys vfs.FS, p string) error {
			_, err := fsys.Open(fsys.PathJoin(p, "f"))
			return err
		}},
		{"Lock in missing dir", func(fsys vfs.FS, p string) error {
			_, err := fsys.Lock(fsys.PathJoin(p, "LOCK"))
			return err
		}},
	}
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		missing := fsys.PathJoin(dir, "missing")
		for _, o := range ops {
			t.Run(o.name, func(t *testing.T) {
				err := o.op(fsys, missing)
				require.ErrorIs(t, err, fs.ErrNotExist)
			})
		}
		names, err := fsys.List(dir)
		require.NoError(t, err)
		require.Empty(t, names, "a failed operation left an entry behind")
	})
}

// Contract: a handle from Open is read-only: Write and Truncate fail and
// leave the contents as they were.
func TestReadOnlyHandleRejectsWrites(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := fsys.PathJoin(dir, "f")
		writeFile(t, fsys, name, "abc")
		f, err := fsys.Open(name)
		require.NoError(t, err)
		defer f.Close()

		_, err = f.Write([]byte("XYZ"))
		require.Error(t, err)
		require.Error(t, f.Truncate(1))
		require.Equal(t, "abc", readFile(t, fsys, name))
	})
}

// Contract: Create refuses a name that is a directory, and OpenReadWrite
// refuses to open a directory for writing.
func TestDirectoryIsNotWritable(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		sub := fsys.PathJoin(dir, "sub")
		require.NoError(t, fsys.MkdirAll(sub, 0o755))
		_, err := fsys.Create(sub)
		require.Error(t, err)
		_, err = fsys.OpenReadWrite(sub)
		require.Error(t, err)
		info, err := fsys.Stat(sub)
		require.NoError(t, err)
		require.True(t, info.IsDir())
	})
}

// Contract: once closed, a handle refuses every call, with an error matching
// fs.ErrClosed (as *os.File does), and a second Close fails the same way.
func TestClosedFileRejectsUse(t *testing.T) {
	ops := []struct {
		name string
		op   func(f vfs.File) error
	}{
		{"Read", func(f vfs.File) error { _, err := f.Read(make([]byte, 1)); return err }},
		{"ReadAt", func(f vfs.File) error { _, err := f.ReadAt(make([]byte, 1), 0); return err }},
		{"Write", func(f vfs.File) error { _, err := f.Write([]byte("x")); return err }},
		{"Seek", func(f vfs.File) error { _, err := f.Seek(0, io.SeekStart); return err }},
		{"Sync", func(f vfs.File) error { return f.Sync() }},
		{"Stat", func(f vfs.File) error { _, err := f.Stat(); return err }},
		{"Truncate", func(f vfs.File) error { return f.Truncate(0) }},
		{"Close", func(f vfs.File) error { return f.Close() }},
	}
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := fsys.PathJoin(dir, "f")
		writeFile(t, fsys, name, "abc")
		for _, o := range ops {
			t.Run(o.name, func(t *testing.T) {
				f, err := fsys.OpenReadWrite(name)
				require.NoError(t, err)
				require.NoError(t, f.Close())
				require.ErrorIs(t, o.op(f), fs.ErrClosed)
			})
		}
		require.Equal(t, "abc", readFile(t, fsys, name), "a closed handle changed the file")
	})
}

// Contract: PathJoin, PathBase and PathDir build and split names in the FS's
// syntax, and round-trip.
func TestPathHelpers(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		p := fsys.PathJoin(dir, "sub", "file")
		require.Equal(t, "file", fsys.PathBase(p))
		require.Equal(t, fsys.PathJoin(dir, "sub"), fsys.PathDir(p))
		require.Equal(t, dir, fsys.PathDir(fsys.PathDir(p)))
	})
}

// Contract: data written, synced and closed through vfs.Default is on the
// real disk, where the os package reads it.
func TestDefaultWritesReachTheOS(t *testing.T) {
	dir := t.TempDir()
	name := vfs.Default.PathJoin(dir, "f")
	f, err := vfs.Default.Create(name)
	require.NoError(t, err)
	_, err = f.Write([]byte("on disk"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	require.NoError(t, vfs.SyncDir(vfs.Default, dir))

	got, err := os.ReadFile(name)
	require.NoError(t, err)
	require.Equal(t, "on disk", string(got))
}
