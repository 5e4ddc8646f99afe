package vfs_test

// The durability contract of MemFS (see the MemFS doc comment): file contents
// are durable at the file's last Sync, directory entries at the directory's
// last Sync, and CrashClone returns what survives a power loss now.

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/vfs"
)

// snapshot returns the whole tree of fsys: each file's path mapped to its
// contents, each directory's path (with a trailing slash) mapped to "".
func snapshot(t *testing.T, fsys vfs.FS) map[string]string {
	t.Helper()
	out := make(map[string]string)
	var walk func(dir string)
	walk = func(dir string) {
		names, err := fsys.List(dir)
		require.NoError(t, err)
		for _, n := range names {
			p := fsys.PathJoin(dir, n)
			info, err := fsys.Stat(p)
			require.NoError(t, err)
			if info.IsDir() {
				out[p+"/"] = ""
				walk(p)
				continue
			}
			out[p] = readFile(t, fsys, p)
		}
	}
	walk("/")
	return out
}

// createSynced creates name holding data, syncs the file and then its
// directory, so that both contents and entry are durable.
func createSynced(t *testing.T, m *vfs.MemFS, name, data string) {
	t.Helper()
	f, err := m.Create(name)
	require.NoError(t, err)
	_, err = f.Write([]byte(data))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	require.NoError(t, vfs.SyncDir(m, m.PathDir(name)))
}

// appendTo appends data at the end of name, syncing the file if sync is set.
func appendTo(t *testing.T, m *vfs.MemFS, name, data string, sync bool) {
	t.Helper()
	f, err := m.OpenReadWrite(name)
	require.NoError(t, err)
	_, err = f.Seek(0, io.SeekEnd)
	require.NoError(t, err)
	_, err = f.Write([]byte(data))
	require.NoError(t, err)
	if sync {
		require.NoError(t, f.Sync())
	}
	require.NoError(t, f.Close())
}

// Contract: CrashClone(CrashOptions{}) keeps exactly the durable state. Each
// case runs some operations and lists the whole tree that must survive.
func TestCrashKeepsExactlyTheDurableState(t *testing.T) {
	cases := []struct {
		name string
		ops  func(t *testing.T, m *vfs.MemFS)
		want map[string]string
	}{
		{
			name: "unsynced data is lost",
			ops: func(t *testing.T, m *vfs.MemFS) {
				writeFile(t, m, "/f", "abc")
				require.NoError(t, vfs.SyncDir(m, "/"))
			},
			want: map[string]string{"/f": ""},
		},
		{
			name: "synced data survives",
			ops: func(t *testing.T, m *vfs.MemFS) {
				createSynced(t, m, "/f", "abc")
			},
			want: map[string]string{"/f": "abc"},
		},
		{
			name: "sync through a second handle covers the first handle's writes",
			ops: func(t *testing.T, m *vfs.MemFS) {
				writeFile(t, m, "/f", "abc")
				f, err := m.Open("/f")
				require.NoError(t, err)
				require.NoError(t, f.Sync())
				require.NoError(t, f.Close())
				require.NoError(t, vfs.SyncDir(m, "/"))
			},
			want: map[string]string{"/f": "abc"},
		},
		{
			name: "created file vanishes without a dir sync",
			ops: func(t *testing.T, m *vfs.MemFS) {
				f, err := m.Create("/f")
				require.NoError(t, err)
				_, err = f.Write([]byte("abc"))
				require.NoError(t, err)
				require.NoError(t, f.Sync())
				require.NoError(t, f.Close())
			},
			want: map[string]string{},
		},
		{
			name: "dir sync before the file's data is written keeps an empty file",
			ops: func(t *testing.T, m *vfs.MemFS) {
				f, err := m.Create("/f")
				require.NoError(t, err)
				require.NoError(t, vfs.SyncDir(m, "/"))
				_, err = f.Write([]byte("abc"))
				require.NoError(t, err)
				require.NoError(t, f.Close())
			},
			want: map[string]string{"/f": ""},
		},
		{
			name: "rename without dir sync reverts to the old name",
			ops: func(t *testing.T, m *vfs.MemFS) {
				createSynced(t, m, "/f", "abc")
				require.NoError(t, m.Rename("/f", "/g"))
			},
			want: map[string]string{"/f": "abc"},
		},
		{
			name: "rename with dir sync survives",
			ops: func(t *testing.T, m *vfs.MemFS) {
				createSynced(t, m, "/f", "abc")
				require.NoError(t, m.Rename("/f", "/g"))
				require.NoError(t, vfs.SyncDir(m, "/"))
			},
			want: map[string]string{"/g": "abc"},
		},
		{
			name: "rename over a file without dir sync restores both",
			ops: func(t *testing.T, m *vfs.MemFS) {
				createSynced(t, m, "/new", "NEW")
				createSynced(t, m, "/cur", "OLD")
				require.NoError(t, m.Rename("/new", "/cur"))
			},
			want: map[string]string{"/new": "NEW", "/cur": "OLD"},
		},
		{
			name: "rename across dirs survives once both dirs are synced",
			ops: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.MkdirAll("/a", 0o755))
				require.NoError(t, m.MkdirAll("/b", 0o755))
				require.NoError(t, vfs.SyncDir(m, "/"))
				createSynced(t, m, "/a/f", "abc")
				require.NoError(t, m.Rename("/a/f", "/b/f"))
				require.NoError(t, vfs.SyncDir(m, "/b"))
				require.NoError(t, vfs.SyncDir(m, "/a"))
			},
			want: map[string]string{"/a/": "", "/b/": "", "/b/f": "abc"},
		},
		{
			name: "remove without dir sync reverts",
			ops: func(t *testing.T, m *vfs.MemFS) {
				createSynced(t, m, "/f", "abc")
				require.NoError(t, m.Remove("/f"))
			},
			want: map[string]string{"/f": "abc"},
		},
		{
			name: "remove with dir sync survives",
			ops: func(t *testing.T, m *vfs.MemFS) {
				createSynced(t, m, "/f", "abc")
				require.NoError(t, m.Remove("/f"))
				require.NoError(t, vfs.SyncDir(m, "/"))
			},
			want: map[string]string{},
		},
		{
			name: "remove and re-create without dir sync restores the old file",
			ops: func(t *testing.T, m *vfs.MemFS) {
				createSynced(t, m, "/f", "old")
				require.NoError(t, m.Remove("/f"))
				f, err := m.Create("/f")
				require.NoError(t, err)
				_, err = f.Write([]byte("new"))
				require.NoError(t, err)
				require.NoError(t, f.Sync())
				require.NoError(t, f.Close())
			},
			want: map[string]string{"/f": "old"},
		},
		{
			name: "truncate below the synced length restores the synced contents",
			ops: func(t *testing.T, m *vfs.MemFS) {
				createSynced(t, m, "/f", "abcdef")
				f, err := m.OpenReadWrite("/f")
				require.NoError(t, err)
				require.NoError(t, f.Truncate(2))
				_, err = f.Seek(0, io.SeekEnd)
				require.NoError(t, err)
				_, err = f.Write([]byte("XYZWVU"))
				require.NoError(t, err)
				require.NoError(t, f.Close())
			},
			want: map[string]string{"/f": "abcdef"},
		},
		{
			name: "synced truncate survives",
			ops: func(t *testing.T, m *vfs.MemFS) {
				createSynced(t, m, "/f", "abcdef")
				f, err := m.OpenReadWrite("/f")
				require.NoError(t, err)
				require.NoError(t, f.Truncate(2))
				require.NoError(t, f.Sync())
				require.NoError(t, f.Close())
			},
			want: map[string]string{"/f": "ab"},
		},
		{
			name: "truncate above the synced length keeps the synced contents",
			ops: func(t *testing.T, m *vfs.MemFS) {
				createSynced(t, m, "/f", "abc")
				appendTo(t, m, "/f", "def", false)
				f, err := m.OpenReadWrite("/f")
				require.NoError(t, err)
				require.NoError(t, f.Truncate(4))
				require.NoError(t, f.Close())
			},
			want: map[string]string{"/f": "abc"},
		},
		{
			name: "create over a synced file without sync restores the old contents",
			ops: func(t *testing.T, m *vfs.MemFS) {
				createSynced(t, m, "/f", "old contents")
				f, err := m.Create("/f")
				require.NoError(t, err)
				_, err = f.Write([]byte("new"))
				require.NoError(t, err)
				require.NoError(t, f.Close())
			},
			want: map[string]string{"/f": "old contents"},
		},
		{
			name: "overwrite in place without sync restores the old contents",
			ops: func(t *testing.T, m *vfs.MemFS) {
				createSynced(t, m, "/f", "abcdef")
				f, err := m.OpenReadWrite("/f")
				require.NoError(t, err)
				_, err = f.Write([]byte("XY"))
				require.NoError(t, err)
				require.NoError(t, f.Close())
			},
			want: map[string]string{"/f": "abcdef"},
		},
		{
			name: "overwrite straddling the synced end restores the old contents",
			ops: func(t *testing.T, m *vfs.MemFS) {
				createSynced(t, m, "/f", "abcdef")
				f := openAt(t, m, "/f", 4)
				_, err := f.Write([]byte("XYZ"))
				require.NoError(t, err)
				require.NoError(t, f.Close())
			},
			want: map[string]string{"/f": "abcdef"},
		},
		{
			name: "append after sync keeps exactly the synced prefix",
			ops: func(t *testing.T, m *vfs.MemFS) {
				createSynced(t, m, "/f", "abc")
				appendTo(t, m, "/f", "def", false)
				appendTo(t, m, "/f", "ghi", false)
			},
			want: map[string]string{"/f": "abc"},
		},
		{
			name: "each sync moves the durable end",
			ops: func(t *testing.T, m *vfs.MemFS) {
				createSynced(t, m, "/f", "abc")
				appendTo(t, m, "/f", "def", true)
				appendTo(t, m, "/f", "ghi", false)
			},
			want: map[string]string{"/f": "abcdef"},
		},
		{
			name: "MkdirAll dirs vanish without a parent sync",
			ops: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.MkdirAll("/a/b/c", 0o755))
			},
			want: map[string]string{},
		},
		{
			name: "MkdirAll dirs survive as far as their parents are synced",
			ops: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.MkdirAll("/a/b/c", 0o755))
				require.NoError(t, vfs.SyncDir(m, "/"))
				require.NoError(t, vfs.SyncDir(m, "/a"))
			},
			want: map[string]string{"/a/": "", "/a/b/": ""},
		},
		{
			name: "a file in a new dir needs every dir on its path synced",
			ops: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.MkdirAll("/a", 0o755))
				createSynced(t, m, "/a/f", "abc") // syncs /a but not /
			},
			want: map[string]string{},
		},
		{
			name: "a file in a new dir survives once the root is synced too",
			ops: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.MkdirAll("/a", 0o755))
				createSynced(t, m, "/a/f", "abc")
				require.NoError(t, vfs.SyncDir(m, "/"))
			},
			want: map[string]string{"/a/": "", "/a/f": "abc"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := vfs.NewMem()
			c.ops(t, m)
			live := snapshot(t, m)

			crashed := m.CrashClone(vfs.CrashOptions{})
			require.Equal(t, c.want, snapshot(t, crashed), "what survived the crash")
			require.Equal(t, live, snapshot(t, m), "CrashClone changed the original")
			require.Equal(t, c.want, snapshot(t, crashed.CrashClone(vfs.CrashOptions{})),
				"a crash clone must be wholly durable")
		})
	}
}

// Contract: CrashClone leaves m unchanged and usable, and the clone shares
// nothing with it: writes through m's open handles, later syncs on m, and
// writes to the clone stay on their own side.
func TestCrashCloneIsIndependent(t *testing.T) {
	m := vfs.NewMem()
	createSynced(t, m, "/f", "abc")
	f, err := m.OpenReadWrite("/f")
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Seek(0, io.SeekEnd)
	require.NoError(t, err)
	_, err = f.Write([]byte("def"))
	require.NoError(t, err)

	crashed := m.CrashClone(vfs.CrashOptions{})
	require.Equal(t, "abc", readFile(t, crashed, "/f"))
	require.Equal(t, "abcdef", readFile(t, m, "/f"))

	// m still tracks durability: its open handle writes and syncs.
	_, err = f.Write([]byte("ghi"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.Equal(t, "abc", readFile(t, crashed, "/f"), "a write to m reached the clone")
	require.Equal(t, "abcdefghi", readFile(t, m.CrashClone(vfs.CrashOptions{}), "/f"))

	// Writes and new files in the clone stay there.
	appendTo(t, crashed, "/f", "XYZ", true)
	createSynced(t, crashed, "/g", "only in clone")
	require.Equal(t, "abcdefghi", readFile(t, m, "/f"))
	_, err = m.Stat("/g")
	require.Error(t, err)

	// Truncating in the clone does not disturb m's durable bytes either.
	g, err := crashed.OpenReadWrite("/f")
	require.NoError(t, err)
	require.NoError(t, g.Truncate(0))
	require.NoError(t, g.Close())
	require.Equal(t, "abcdefghi", readFile(t, m.CrashClone(vfs.CrashOptions{}), "/f"))
}

// Contract: a hard link's new name is durable once its directory is
// synced, and then holds the file's durable contents, like the old name; a
// crash keeps the two names one file.
func TestCrashKeepsLinks(t *testing.T) {
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("/a", 0o755))
	require.NoError(t, m.MkdirAll("/b", 0o755))
	require.NoError(t, vfs.SyncDir(m, "/"))
	createSynced(t, m, "/a/f", "synced")
	appendTo(t, m, "/a/f", "+unsynced", false)
	require.NoError(t, m.Link("/a/f", "/b/g"))

	crashed := m.CrashClone(vfs.CrashOptions{})
	_, err := crashed.Stat("/b/g")
	require.Error(t, err, "the new name survived without a sync of its directory")

	require.NoError(t, vfs.SyncDir(m, "/b"))
	crashed = m.CrashClone(vfs.CrashOptions{})
	require.Equal(t, "synced", readFile(t, crashed, "/a/f"))
	require.Equal(t, "synced", readFile(t, crashed, "/b/g"), "the link holds the file's durable contents")
	appendTo(t, crashed, "/b/g", "!", true)
	require.Equal(t, "synced!", readFile(t, crashed, "/a/f"), "the crash split one file in two")
}

// memModel is what a test knows about one file: its durable and live
// contents. The random crash test only appends, so durable is a prefix of
// live.
type memModel struct {
	durable, live []byte
	handle        vfs.File // nil once the file is removed
}

// tornOutcome classifies what a crash kept of one file's unsynced tail.
type tornOutcome struct {
	kept  int // bytes kept past the durable end
	zeros int // how many of those read as zeros
}

// checkTorn asserts the contract of CrashOptions.Rand for one file: got is
// durable followed by a prefix of the bytes appended since, whose end may
// read as zeros. The test appends only non-zero bytes, so a zero is never a
// written byte.
func checkTorn(t *testing.T, got, durable, live []byte, msg string) tornOutcome {
	t.Helper()
	require.GreaterOrEqual(t, len(got), len(durable), "%s: lost durable bytes", msg)
	require.LessOrEqual(t, len(got), len(live), "%s: longer than ever written", msg)
	require.Equal(t, durable, got[:len(durable)], "%s: durable bytes changed", msg)
	tail := got[len(durable):]
	written := 0
	for written < len(tail) && tail[written] == live[len(durable)+written] {
		written++
	}
	for i, b := range tail[written:] {
		require.Zero(t, b, "%s: byte %d is neither the written byte nor zero, or zeros are not a suffix",
			msg, len(durable)+written+i)
	}
	return tornOutcome{kept: len(tail), zeros: len(tail) - written}
}

// Contract of CrashOptions.Rand: each file keeps its durable bytes plus a
// prefix of the bytes appended since its last sync, the end of which may read
// as zeros; each directory keeps either exactly its durable entries or exactly
// its live ones. The test runs random append/sync/create/remove workloads and
// crashes each several times with fixed seeds. It also checks that Rand makes
// every kind of outcome happen, so a CrashClone that ignores Rand fails.
func TestCrashWithRandKeepsDurablePrefixAndTornTail(t *testing.T) {
	const (
		workloads = 150
		crashes   = 20
		ops       = 40
	)
	var seen struct {
		durableOnly, partialTail, fullTail, zeroTail bool
		durableDir, liveDir                          bool
	}
	for seed := range uint64(workloads) {
		rng := rand.New(rand.NewPCG(seed, 0))
		m := vfs.NewMem()
		require.NoError(t, m.MkdirAll("/d", 0o755))
		require.NoError(t, vfs.SyncDir(m, "/"))

		files := make(map[string]*memModel) // every file ever created, by name
		var liveNames, durableNames []string
		open := func() []string { // files still linked, sorted
			return slices.Clone(liveNames)
		}
		for range ops {
			switch op := rng.IntN(10); {
			case op == 0 && len(files) < 6:
				name := fmt.Sprintf("f%d", len(files))
				f, err := m.Create("/d/" + name)
				require.NoError(t, err)
				files[name] = &memModel{durable: []byte{}, live: []byte{}, handle: f}
				liveNames = append(liveNames, name)
				slices.Sort(liveNames)
			case op <= 5 && len(liveNames) > 0:
				mf := files[liveNames[rng.IntN(len(liveNames))]]
				b := make([]byte, 1+rng.IntN(40))
				for i := range b {
					b[i] = byte(1 + rng.IntN(255)) // never zero
				}
				_, err := mf.handle.Write(b)
				require.NoError(t, err)
				mf.live = append(mf.live, b...)
			case op == 6 && len(liveNames) > 0:
				mf := files[liveNames[rng.IntN(len(liveNames))]]
				require.NoError(t, mf.handle.Sync())
				mf.durable = slices.Clone(mf.live)
			case op == 7:
				require.NoError(t, vfs.SyncDir(m, "/d"))
				durableNames = open()
			case op == 8 && len(liveNames) > 1:
				i := rng.IntN(len(liveNames))
				name := liveNames[i]
				require.NoError(t, m.Remove("/d/"+name))
				require.NoError(t, files[name].handle.Close())
				files[name].handle = nil
				liveNames = slices.Delete(liveNames, i, i+1)
			}
		}

		for k := range uint64(crashes) {
			msg := fmt.Sprintf("seed %d crash %d", seed, k)
			crashed := m.CrashClone(vfs.CrashOptions{Rand: rand.New(rand.NewPCG(seed, k+1))})

			root, err := crashed.List("/")
			require.NoError(t, err, msg)
			require.Equal(t, []string{"d"}, root, msg)

			got, err := crashed.List("/d")
			require.NoError(t, err, msg)
			isDurable := slices.Equal(got, durableNames)
			isLive := slices.Equal(got, liveNames)
			require.True(t, isDurable || isLive,
				"%s: entries %v are neither the durable %v nor the live %v", msg, got, durableNames, liveNames)
			if !slices.Equal(durableNames, liveNames) {
				seen.durableDir = seen.durableDir || isDurable
				seen.liveDir = seen.liveDir || isLive
			}

			for _, name := range got {
				mf := files[name]
				data := []byte(readFile(t, crashed, "/d/"+name))
				o := checkTorn(t, data, mf.durable, mf.live, msg+" file "+name)
				if unsynced := len(mf.live) - len(mf.durable); unsynced > 1 {
					switch {
					case o.kept == 0:
						seen.durableOnly = true
					case o.zeros > 0:
						seen.zeroTail = true
					case o.kept == unsynced:
						seen.fullTail = true
					default:
						seen.partialTail = true
					}
				}
			}
		}
		for _, mf := range files {
			if mf.handle != nil {
				require.NoError(t, mf.handle.Close())
			}
		}
	}
	require.True(t, seen.durableOnly, "no crash kept only the durable bytes")
	require.True(t, seen.partialTail, "no crash kept part of an unsynced tail")
	require.True(t, seen.fullTail, "no crash kept a whole unsynced tail")
	require.True(t, seen.zeroTail, "no crash ended a file in zeros")
	require.True(t, seen.durableDir, "no crash kept a directory's durable entries")
	require.True(t, seen.liveDir, "no crash kept a directory's live entries")
}

// Contract: with the same Rand seed, CrashClone makes the same choices, so a
// failing crash test can be replayed.
func TestCrashWithRandIsReproducible(t *testing.T) {
	m := vfs.NewMem()
	for i := range 8 {
		name := fmt.Sprintf("/f%d", i)
		createSynced(t, m, name, "abc")
		appendTo(t, m, name, "defghijklmnopqrstuvwxyz", false)
		writeFile(t, m, fmt.Sprintf("/unsynced%d", i), "unsynced entry")
	}
	for seed := range uint64(20) {
		a := m.CrashClone(vfs.CrashOptions{Rand: rand.New(rand.NewPCG(seed, 1))})
		b := m.CrashClone(vfs.CrashOptions{Rand: rand.New(rand.NewPCG(seed, 1))})
		require.Equal(t, snapshot(t, a), snapshot(t, b), "seed %d", seed)
	}
}

// With Holes, a crash may lose any page of the unsynced part of a file, not
// only its end: every byte past the synced length is the live byte or zero,
// the synced bytes are intact, and over many seeds a lost page is followed
// by a kept one.
func TestCrashCloneHoles(t *testing.T) {
	sawHole := false
	for seed := range uint64(200) {
		m := vfs.NewMem()
		f, err := m.Create("/f")
		require.NoError(t, err)
		synced := bytes.Repeat([]byte{'s'}, 5000)
		_, err = f.Write(synced)
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		require.NoError(t, vfs.SyncDir(m, "/"))
		live := bytes.Repeat([]byte{'u'}, 5*vfs.PageSize)
		_, err = f.Write(live)
		require.NoError(t, err)

		c := m.CrashClone(vfs.CrashOptions{Rand: rand.New(rand.NewPCG(seed, 1)), Holes: true})
		g, err := c.Open("/f")
		require.NoError(t, err)
		got, err := io.ReadAll(g)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(got), len(synced))
		require.Equal(t, synced, got[:len(synced)])
		zeroSeen := false
		for i, b := range got[len(synced):] {
			require.Contains(t, []byte{0, 'u'}, b, "byte %d", len(synced)+i)
			if b == 0 {
				zeroSeen = true
			} else if zeroSeen {
				sawHole = true
			}
		}
	}
	require.True(t, sawHole, "no seed produced a lost page before a kept one")
}
