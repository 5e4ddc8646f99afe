package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemFS is a filesystem in memory that remembers, for every file and
// directory, what has been made durable:
//
//   - a file's durable contents are what it held at its last successful Sync;
//   - a directory's durable entries are what it held at its last Sync
//     (OpenDir + Sync), so a created, renamed or removed name is durable only
//     after its directory is synced.
//
// CrashClone returns what a machine would find after losing power now. Paths
// are slash-separated; relative paths are taken from the root "/".
type MemFS struct {
	mu    sync.Mutex
	root  *memNode
	locks map[string]int // by cleaned path: -1 held exclusively, n > 0 by n shared holders
}

// NewMem returns an empty in-memory filesystem.
func NewMem() *MemFS {
	return &MemFS{root: newDirNode(), locks: make(map[string]int)}
}

// memNode is a file or a directory. All fields are guarded by MemFS.mu.
type memNode struct {
	isDir   bool
	modTime time.Time

	// Directory: the live entries and the durable ones.
	children       map[string]*memNode
	syncedChildren map[string]*memNode

	// File: the live contents. The durable contents are data[:syncedLen]
	// while every change since the last Sync has been an append; otherwise
	// syncedCopy holds them.
	data       []byte
	syncedLen  int
	syncedCopy []byte
	diverged   bool
}

func newDirNode() *memNode {
	return &memNode{
		isDir:          true,
		modTime:        time.Now(),
		children:       make(map[string]*memNode),
		syncedChildren: make(map[string]*memNode),
	}
}

// durable returns the file's durable contents (not a copy).
func (n *memNode) durable() []byte {
	if n.diverged {
		return n.syncedCopy
	}
	return n.data[:n.syncedLen]
}

// beforeChange must be called before bytes at offsets >= off change in a way
// other than appending: it preserves the durable contents first.
func (n *memNode) beforeChange(off int) {
	if !n.diverged && off < n.syncedLen {
		n.syncedCopy = slices.Clone(n.data[:n.syncedLen])
		n.diverged = true
	}
}

func (n *memNode) sync() {
	if n.isDir {
		n.syncedChildren = make(map[string]*memNode, len(n.children))
		for name, c := range n.children {
			n.syncedChildren[name] = c
		}
		return
	}
	n.syncedLen = len(n.data)
	n.syncedCopy = nil
	n.diverged = false
}

func cleanPath(name string) string {
	return path.Clean("/" + name)
}

// walk returns the directory that holds name and name's base, creating
// nothing. It fails if a parent is missing or is a file.
func (m *MemFS) walk(name string) (dir *memNode, base string, err error) {
	p := cleanPath(name)
	if p == "/" {
		return nil, "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	dir = m.root
	for _, part := range parts[:len(parts)-1] {
		next, ok := dir.children[part]
		if !ok {
			return nil, "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		if !next.isDir {
			return nil, "", &fs.PathError{Op: "open", Path: name, Err: errors.New("not a directory")}
		}
		dir = next
	}
	return dir, parts[len(parts)-1], nil
}

func (m *MemFS) lookup(name string) (*memNode, error) {
	if cleanPath(name) == "/" {
		return m.root, nil
	}
	dir, base, err := m.walk(name)
	if err != nil {
		return nil, err
	}
	n, ok := dir.children[base]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return n, nil
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.walk(name)
	if err != nil {
		return nil, err
	}
	if old, ok := dir.children[base]; ok {
		if old.isDir {
			return nil, &fs.PathError{Op: "create", Path: name, Err: errors.New("is a directory")}
		}
		old.beforeChange(0)
		old.data = old.data[:0]
		old.modTime = time.Now()
		return &memFile{fs: m, node: old, name: name, write: true}, nil
	}
	n := &memNode{modTime: time.Now()}
	dir.children[base] = n
	return &memFile{fs: m, node: n, name: name, write: true}, nil
}

func (m *MemFS) open(name string, write bool) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	if n.isDir && write {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("is a directory")}
	}
	return &memFile{fs: m, node: n, name: name, write: write}, nil
}

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) { return m.open(name, false) }

// OpenReadWrite implements FS.
func (m *MemFS) OpenReadWrite(name string) (File, error) { return m.open(name, true) }

// OpenDir implements FS.
func (m *MemFS) OpenDir(name string) (File, error) {
	f, err := m.open(name, false)
	if err != nil {
		return nil, err
	}
	if !f.(*memFile).node.isDir {
		return nil, &fs.PathError{Op: "opendir", Path: name, Err: errors.New("not a directory")}
	}
	return f, nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.walk(name)
	if err != nil {
		return err
	}
	n, ok := dir.children[base]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if n.isDir && len(n.children) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: errors.New("directory not empty")}
	}
	delete(dir.children, base)
	return nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	odir, obase, err := m.walk(oldname)
	if err != nil {
		return err
	}
	n, ok := odir.children[obase]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	ndir, nbase, err := m.walk(newname)
	if err != nil {
		return err
	}
	if n.isDir && strings.HasPrefix(cleanPath(newname)+"/", cleanPath(oldname)+"/") {
		// Moving a directory into itself would cut it off from the tree.
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrInvalid}
	}
	// As os.Rename: a directory is never replaced, nor replaces a file.
	if target, ok := ndir.children[nbase]; ok && (target.isDir || n.isDir) {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrExist}
	}
	delete(odir.children, obase)
	ndir.children[nbase] = n
	return nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, part := range strings.Split(strings.TrimPrefix(cleanPath(dir), "/"), "/") {
		if part == "" {
			continue
		}
		next, ok := n.children[part]
		if !ok {
			next = newDirNode()
			n.children[part] = next
		} else if !next.isDir {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: errors.New("not a directory")}
		}
		n = next
	}
	return nil
}

// List implements FS.
func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(dir)
	if err != nil {
		return nil, err
	}
	if !n.isDir {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: errors.New("not a directory")}
	}
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	return n.info(path.Base(cleanPath(name))), nil
}

// Link implements FS. The two names share one file: a write through either
// shows through both, its contents are durable when either is synced, and
// a CrashClone keeps them one file.
func (m *MemFS) Link(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	odir, obase, err := m.walk(oldname)
	if err != nil {
		return err
	}
	n, ok := odir.children[obase]
	if !ok {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	if n.isDir {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fs.ErrPermission}
	}
	ndir, nbase, err := m.walk(newname)
	if err != nil {
		return err
	}
	if _, ok := ndir.children[nbase]; ok {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fs.ErrExist}
	}
	ndir.children[nbase] = n
	return nil
}

// Lock implements FS. Locks belong to the MemFS value: a CrashClone starts
// with none, as a rebooted machine does.
func (m *MemFS) Lock(name string) (io.Closer, error) {
	f, err := m.openOrCreate(name)
	if err != nil {
		return nil, err
	}
	_ = f.Close()
	key := cleanPath(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks[key] != 0 {
		return nil, fmt.Errorf("%w: %s", ErrLocked, name)
	}
	m.locks[key] = -1
	return &memLock{fs: m, key: key}, nil
}

// LockShared implements FS.
func (m *MemFS) LockShared(name string) (io.Closer, error) {
	key := cleanPath(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.lookup(name); err != nil {
		return nil, err
	}
	if m.locks[key] < 0 {
		return nil, fmt.Errorf("%w: %s", ErrLocked, name)
	}
	m.locks[key]++
	return &memLock{fs: m, key: key, shared: true}, nil
}

func (m *MemFS) openOrCreate(name string) (File, error) {
	if f, err := m.OpenReadWrite(name); err == nil {
		return f, nil
	}
	return m.Create(name)
}

type memLock struct {
	fs     *MemFS
	key    string
	shared bool
	once   sync.Once
}

func (l *memLock) Close() error {
	l.once.Do(func() {
		l.fs.mu.Lock()
		if n := l.fs.locks[l.key]; l.shared && n > 1 {
			l.fs.locks[l.key] = n - 1
		} else {
			delete(l.fs.locks, l.key)
		}
		l.fs.mu.Unlock()
	})
	return nil
}

// PathJoin implements FS.
func (*MemFS) PathJoin(elem ...string) string { return path.Join(elem...) }

// PathBase implements FS.
func (*MemFS) PathBase(p string) string { return path.Base(p) }

// PathDir implements FS.
func (*MemFS) PathDir(p string) string { return path.Dir(p) }

// CrashOptions shapes what CrashClone keeps beyond the durable state.
type CrashOptions struct {
	// Rand, when set, makes the crash less tidy, as real ones are: each file
	// keeps a random prefix of the bytes appended since its last sync (the
	// end of which may read as zeros, as when a file's size reached the disk
	// before its data), and each directory keeps, at random, either its
	// durable entries or its live ones. With Rand nil exactly the durable
	// state survives.
	Rand *rand.Rand

	// Holes (with Rand) also lets pages of the kept unsynced bytes read as
	// zeros anywhere, not only at the end: the operating system writes
	// dirty pages back in any order, so a power failure can keep a later
	// page of an unsynced append and lose an earlier one. Pages are
	// PageSize bytes, aligned to the file's start.
	Holes bool
}

// PageSize is the page granularity of CrashOptions.Holes.
const PageSize = 4096

// CrashClone returns a new MemFS holding what would survive if the machine
// lost power now. m is unchanged and stays usable; open files of m do not
// refer to the clone.
func (m *MemFS) CrashClone(opts CrashOptions) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := crasher{rng: opts.Rand, holes: opts.Holes, files: map[*memNode]*memNode{}}
	return &MemFS{root: c.dir(m.root), locks: make(map[string]int)}
}

// crasher builds a CrashClone. files maps each file already cloned to its
// clone, so that the names of a hard-linked file stay one file.
type crasher struct {
	rng   *rand.Rand
	holes bool
	files map[*memNode]*memNode
}

func (c *crasher) dir(d *memNode) *memNode {
	out := newDirNode()
	entries := d.syncedChildren
	if c.rng != nil && c.rng.IntN(2) == 0 {
		entries = d.children
	}
	// Visit names in order, so that a seeded rng makes the same crash.
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		n := entries[name]
		var cc *memNode
		switch clone, seen := c.files[n]; {
		case n.isDir:
			cc = c.dir(n)
		case seen:
			cc = clone
		default:
			cc = crashFile(n, c.rng, c.holes)
			c.files[n] = cc
		}
		out.children[name] = cc
		out.syncedChildren[name] = cc
	}
	return out
}

func crashFile(f *memNode, rng *rand.Rand, holes bool) *memNode {
	data := slices.Clone(f.durable())
	if rng != nil && !f.diverged && len(f.data) > f.syncedLen {
		// Keep a torn prefix of the unsynced appends, possibly ending in
		// zeros where the size was persisted but not the data.
		keep := f.syncedLen + rng.IntN(len(f.data)-f.syncedLen+1)
		written := f.syncedLen + rng.IntN(keep-f.syncedLen+1)
		if rng.IntN(4) != 0 {
			written = keep
		}
		data = append(data, f.data[f.syncedLen:written]...)
		data = append(data, make([]byte, keep-written)...)
		if holes && rng.IntN(2) == 0 {
			// Lose whole pages of the unsynced part; the synced bytes of a
			// page that straddles the sync point stay.
			for page := f.syncedLen / PageSize * PageSize; page < keep; page += PageSize {
				if rng.IntN(3) == 0 {
					clear(data[max(page, f.syncedLen):min(page+PageSize, keep)])
				}
			}
		}
	}
	return &memNode{modTime: f.modTime, data: data, syncedLen: len(data)}
}

func (n *memNode) info(name string) os.FileInfo {
	mode := os.FileMode(0o644)
	if n.isDir {
		mode = os.ModeDir | 0o755
	}
	return memFileInfo{name: name, size: int64(len(n.data)), mode: mode, modTime: n.modTime}
}

type memFileInfo struct {
	name    string
	size    int64
	mode    os.FileMode
	modTime time.Time
}

func (i memFileInfo) Name() string       { return i.name }
func (i memFileInfo) Size() int64        { return i.size }
func (i memFileInfo) Mode() os.FileMode  { return i.mode }
func (i memFileInfo) ModTime() time.Time { return i.modTime }
func (i memFileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i memFileInfo) Sys() any           { return nil }

// memFile is an open handle. Its offset is its own; the node is shared.
type memFile struct {
	fs     *MemFS
	node   *memNode
	name   string
	pos    int64
	write  bool
	closed bool
}

// errFileClosed matches fs.ErrClosed, as *os.File's error does.
var errFileClosed = fmt.Errorf("vfs: %w", fs.ErrClosed)

func (f *memFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, errFileClosed
	}
	if f.node.isDir {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: errors.New("is a directory")}
	}
	if f.pos >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[f.pos:])
	f.pos += int64(n)
	return n, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, errFileClosed
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: f.name, Err: fs.ErrInvalid}
	}
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, errFileClosed
	}
	if !f.write {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: errors.New("file not open for writing")}
	}
	n := f.node
	end := f.pos + int64(len(p))
	if f.pos < int64(len(n.data)) {
		n.beforeChange(int(f.pos))
	}
	if grow := end - int64(len(n.data)); grow > 0 {
		n.data = append(n.data, make([]byte, grow)...)
	}
	copy(n.data[f.pos:end], p)
	f.pos = end
	n.modTime = time.Now()
	return len(p), nil
}

func (f *memFile) Seek(offset int64, whence int) (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, errFileClosed
	}
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		pos = f.pos + offset
	case io.SeekEnd:
		pos = int64(len(f.node.data)) + offset
	default:
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: fs.ErrInvalid}
	}
	if pos < 0 {
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: fs.ErrInvalid}
	}
	f.pos = pos
	return pos, nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return errFileClosed
	}
	f.node.sync()
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return errFileClosed
	}
	if !f.write || f.node.isDir || size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: fs.ErrInvalid}
	}
	n := f.node
	if size < int64(len(n.data)) {
		n.beforeChange(int(size))
		n.data = n.data[:size]
	} else {
		n.data = append(n.data, make([]byte, size-int64(len(n.data)))...)
	}
	n.modTime = time.Now()
	return nil
}

func (f *memFile) Stat() (os.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return nil, errFileClosed
	}
	return f.node.info(path.Base(cleanPath(f.name))), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return errFileClosed
	}
	f.closed = true
	return nil
}
