package vfs

import (
	"errors"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// ErrorFS wraps an FS and fails the operations an Injector picks, so that
// tests can check what the engine does when the disk fails.
//
// Every method of FS and of the Files it opens consults the Injector first,
// except the path helpers (PathJoin, PathBase, PathDir) and File.Seek and
// File.Close, which never fail: a test must always be able to release what
// it opened. Each operation is described by its kind (an Op) and the kind of
// file it touches (a FileKind, from the file's base name; see FileKindOf),
// and is counted in Stats, injected or not.
//
// What an injected error leaves behind:
//
//   - The operation is not performed: nothing is created, opened, renamed,
//     removed, truncated or synced, and a failed Sync makes nothing durable
//     (on a MemFS, the durable state is the one before the call).
//   - A failed Write writes nothing and returns 0 — except when the error
//     matches syscall.ENOSPC: then, as a full disk does, the first half of
//     the buffer (len(p)/2 bytes) is written and that count returned with
//     the error, so the file ends in a torn prefix.
//   - The error is returned as an *fs.PathError naming the operation and
//     the path, wrapping what the Injector returned (errors.Is sees
//     through it).
//
// An ErrorFS is safe for concurrent use when its FS and Injector are; the
// Injectors of this package are.
type ErrorFS struct {
	fs    FS
	inj   Injector
	stats statCounters
}

// NewErrorFS returns fs wrapped so that inj may fail its operations. inj may
// be nil: nothing fails, and operations are only counted.
func NewErrorFS(fs FS, inj Injector) *ErrorFS {
	return &ErrorFS{fs: fs, inj: inj}
}

// Unwrap returns the wrapped FS.
func (e *ErrorFS) Unwrap() FS { return e.fs }

// Stats returns a snapshot of the operation counters.
func (e *ErrorFS) Stats() Stats {
	var s Stats
	for i := range numOps {
		for j := range numFileKinds {
			s.ops[i][j] = e.stats.ops[i][j].Load()
			s.injected[i][j] = e.stats.injected[i][j].Load()
		}
	}
	return s
}

// Op is a kind of filesystem operation. Each operation is exactly one Op; a
// filter (OnNth, Random, NewToggle) may combine several with |, and OpAll
// matches every one.
type Op uint32

const (
	OpRead     Op = 1 << iota // File.Read, File.ReadAt
	OpWrite                   // File.Write
	OpSync                    // File.Sync, of a file or of a directory (OpenDir, then Sync)
	OpCreate                  // FS.Create, FS.MkdirAll
	OpOpen                    // FS.Open, FS.OpenReadWrite, FS.OpenDir
	OpRename                  // FS.Rename
	OpRemove                  // FS.Remove
	OpTruncate                // File.Truncate
	OpList                    // FS.List
	OpStat                    // FS.Stat, File.Stat
	OpLock                    // FS.Lock, FS.LockShared
	OpLink                    // FS.Link

	numOps = iota

	// OpAll matches every operation.
	OpAll Op = 1<<numOps - 1
)

var opNames = [numOps]string{"read", "write", "sync", "create", "open", "rename", "remove", "truncate", "list", "stat", "lock", "link"}

func (o Op) String() string {
	if o == OpAll {
		return "any op"
	}
	return maskString(uint32(o), opNames[:])
}

// FileKind is the kind of file an operation touches, from its base name (see
// FileKindOf). Like Op, a filter may combine several with |, and FileAll
// matches every kind.
type FileKind uint32

const (
	FileLog      FileKind = 1 << iota // NNNNNN.log, a write-ahead log
	FileTable                         // NNNNNN.sst, a sorted table
	FileManifest                      // MANIFEST-NNNNNN
	FileCurrent                       // CURRENT
	FileTemp                          // NNNNNN.tmp, e.g. CURRENT's next contents
	FileDir                           // a directory
	FileLock                          // LOCK
	FileOther                         // anything else

	numFileKinds = iota

	// FileAll matches every kind of file.
	FileAll FileKind = 1<<numFileKinds - 1
)

var fileKindNames = [numFileKinds]string{"log", "table", "manifest", "current", "temp", "dir", "lock", "other"}

func (k FileKind) String() string {
	if k == FileAll {
		return "any file"
	}
	return maskString(uint32(k), fileKindNames[:])
}

func maskString(m uint32, names []string) string {
	if m == 0 {
		return "none"
	}
	var parts []string
	for i, name := range names {
		if m&(1<<i) != 0 {
			parts = append(parts, name)
			m &^= 1 << i
		}
	}
	if m != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(m), 16))
	}
	return strings.Join(parts, "|")
}

// FileKindOf classifies a base name as the engine names its files: exactly
// the names internal/base.MakeFilename makes are recognised, by the rules
// of internal/base.ParseFilename (which package vfs, in the same bottom
// layer, may not import; a test in the root package checks that the two
// agree). A name the engine does not own is FileOther. Directories
// cannot be told by name: ErrorFS asks the wrapped FS when a name is not
// the engine's.
func FileKindOf(name string) FileKind {
	switch name {
	case "LOCK":
		return FileLock
	case "CURRENT":
		return FileCurrent
	}
	var kind FileKind
	stem, ext, found := strings.Cut(name, ".")
	if rest, ok := strings.CutPrefix(name, "MANIFEST-"); ok {
		stem, ext, found, kind = rest, "", true, FileManifest
	}
	if !found {
		return FileOther
	}
	switch ext {
	case "":
		if kind != FileManifest {
			return FileOther // "000001." names nothing
		}
	case "log":
		kind = FileLog
	case "tmp":
		kind = FileTemp
	case "sst":
		kind = FileTable
	default:
		return FileOther
	}
	// Only the canonical spelling, at least six digits without extra
	// leading zeros, names a file.
	if len(stem) < 6 || strings.TrimLeft(stem, "0123456789") != "" {
		return FileOther
	}
	u, err := strconv.ParseUint(stem, 10, 64)
	if err != nil || canonicalNum(u) != stem {
		return FileOther
	}
	return kind
}

func canonicalNum(u uint64) string {
	s := strconv.FormatUint(u, 10)
	if len(s) < 6 {
		s = strings.Repeat("0", 6-len(s)) + s
	}
	return s
}

// Injector decides which operations fail. ErrorFS calls MaybeError before
// every operation it wraps, with the operation, the kind of file and the
// path (for Rename and Link, the new name: what the call makes); a non-nil
// result is the injected error, and the operation is not performed (see
// ErrorFS for a failed Write). MaybeError may be called from many
// goroutines at once.
type Injector interface {
	MaybeError(op Op, file FileKind, path string) error
}

// InjectorFunc adapts a function to an Injector.
type InjectorFunc func(op Op, file FileKind, path string) error

// MaybeError implements Injector.
func (f InjectorFunc) MaybeError(op Op, file FileKind, path string) error { return f(op, file, path) }

// ErrInjected matches (errors.Is) every InjectedError, so that a test can
// tell an injected failure from any other.
var ErrInjected = errors.New("vfs: injected fault")

// InjectedError is an error a test injects: it matches ErrInjected and its
// Errno, so errors.Is(err, syscall.ENOSPC) holds for an injected ENOSPC as
// for a real one.
type InjectedError struct {
	Errno syscall.Errno
}

func (e *InjectedError) Error() string { return "vfs: injected fault: " + e.Errno.Error() }

// Is reports whether target is ErrInjected.
func (e *InjectedError) Is(target error) bool { return target == ErrInjected }

// Unwrap returns the Errno.
func (e *InjectedError) Unwrap() error { return e.Errno }

var (
	// ErrInjectedEIO is an injected I/O error: it matches syscall.EIO and
	// ErrInjected.
	ErrInjectedEIO error = &InjectedError{Errno: syscall.EIO}
	// ErrInjectedENOSPC is an injected "no space left on device": it
	// matches syscall.ENOSPC and ErrInjected. A Write failing with it
	// writes half its buffer (see ErrorFS).
	ErrInjectedENOSPC error = &InjectedError{Errno: syscall.ENOSPC}
)

// Nth is an Injector that fails the n-th operation matching its filter (the
// first is n = 1), and only that one — or, once made Sticky, that one and
// every matching operation after it. Operations are counted in the order
// MaybeError is called.
type Nth struct {
	ops    Op
	files  FileKind
	n      int64
	err    error
	sticky bool

	matched  atomic.Int64
	injected atomic.Int64
}

// OnNth returns an Injector failing with err the n-th operation (n >= 1)
// whose Op is in ops and whose FileKind is in files.
func OnNth(ops Op, files FileKind, n int, err error) *Nth {
	if n < 1 {
		panic("vfs: OnNth needs n >= 1")
	}
	return &Nth{ops: ops, files: files, n: int64(n), err: err}
}

// Sticky makes every matching operation from the n-th on fail, as a disk
// that has died does, and returns i. Call it before i is in use.
func (i *Nth) Sticky() *Nth {
	i.sticky = true
	return i
}

// MaybeError implements Injector.
func (i *Nth) MaybeError(op Op, file FileKind, path string) error {
	if op&i.ops == 0 || file&i.files == 0 {
		return nil
	}
	c := i.matched.Add(1)
	if c == i.n || (i.sticky && c > i.n) {
		i.injected.Add(1)
		return i.err
	}
	return nil
}

// Matched returns how many matching operations were seen.
func (i *Nth) Matched() int64 { return i.matched.Load() }

// Injected returns how many errors i returned: 0 until the n-th matching
// operation, then 1 (or more, when sticky).
func (i *Nth) Injected() int64 { return i.injected.Load() }

// RandomInjector fails each matching operation with a fixed probability,
// reproducibly: whether the k-th operation of a kind on a path fails
// depends only on the seed, the Op, the path and k. So a run that performs
// the same operations on the same files sees the same faults, even when
// goroutines interleave them differently.
type RandomInjector struct {
	seed      uint64
	threshold uint64 // fail when the hash is below it
	err       error
	ops       Op
	files     FileKind

	mu       sync.Mutex
	counts   map[randomKey]uint64
	injected atomic.Int64
}

type randomKey struct {
	op   Op
	path string
}

// Random returns an Injector that fails each operation whose Op is in ops
// and whose FileKind is in files with probability prob (0 to 1), with err.
func Random(seed uint64, prob float64, err error, ops Op, files FileKind) *RandomInjector {
	var threshold uint64
	switch f := prob * 0x1p64; {
	case f >= 0x1p64:
		threshold = math.MaxUint64
	case f > 0:
		threshold = uint64(f)
	}
	return &RandomInjector{seed: seed, threshold: threshold, err: err, ops: ops, files: files,
		counts: map[randomKey]uint64{}}
}

// MaybeError implements Injector.
func (r *RandomInjector) MaybeError(op Op, file FileKind, path string) error {
	if op&r.ops == 0 || file&r.files == 0 || r.threshold == 0 {
		return nil
	}
	key := randomKey{op, path}
	r.mu.Lock()
	k := r.counts[key]
	r.counts[key] = k + 1
	r.mu.Unlock()
	h := mix64(r.seed ^ mix64(uint64(op)<<32^k) ^ hashString(path))
	if h < r.threshold || r.threshold == math.MaxUint64 {
		r.injected.Add(1)
		return r.err
	}
	return nil
}

// Injected returns how many errors r returned.
func (r *RandomInjector) Injected() int64 { return r.injected.Load() }

// mix64 is SplitMix64's finalizer: a bijection that spreads every input
// bit over the output.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// hashString is FNV-1a, mixed.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}

// Toggle is an Injector switched on and off by the test: while on, every
// operation matching its filter fails; while off, none does — the fault is
// gone. It starts off. On and Off may be called from any goroutine.
type Toggle struct {
	ops      Op
	files    FileKind
	err      error
	on       atomic.Bool
	injected atomic.Int64
}

// NewToggle returns a Toggle, off, that fails operations whose Op is in ops
// and whose FileKind is in files with err while it is on.
func NewToggle(err error, ops Op, files FileKind) *Toggle {
	return &Toggle{ops: ops, files: files, err: err}
}

// On makes matching operations fail from now on.
func (t *Toggle) On() { t.on.Store(true) }

// Off makes every operation succeed from now on.
func (t *Toggle) Off() { t.on.Store(false) }

// Enabled reports whether t is on.
func (t *Toggle) Enabled() bool { return t.on.Load() }

// Injected returns how many errors t returned.
func (t *Toggle) Injected() int64 { return t.injected.Load() }

// MaybeError implements Injector.
func (t *Toggle) MaybeError(op Op, file FileKind, path string) error {
	if !t.on.Load() || op&t.ops == 0 || file&t.files == 0 {
		return nil
	}
	t.injected.Add(1)
	return t.err
}

// Stats counts an ErrorFS's operations by Op and FileKind: all of them
// (Ops) and those that failed by injection (Injected).
type Stats struct {
	ops, injected [numOps][numFileKinds]int64
}

// Ops returns how many operations with an Op in ops on a FileKind in files
// were attempted, injected failures included.
func (s Stats) Ops(ops Op, files FileKind) int64 { return sumMask(&s.ops, ops, files) }

// Injected returns how many operations with an Op in ops on a FileKind in
// files failed by injection.
func (s Stats) Injected(ops Op, files FileKind) int64 { return sumMask(&s.injected, ops, files) }

// String lists the non-zero counters, "op/file=count(injected)".
func (s Stats) String() string {
	var b strings.Builder
	for i := range numOps {
		for j := range numFileKinds {
			if s.ops[i][j] == 0 {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(opNames[i] + "/" + fileKindNames[j] + "=" + strconv.FormatInt(s.ops[i][j], 10))
			if s.injected[i][j] > 0 {
				b.WriteString("(" + strconv.FormatInt(s.injected[i][j], 10) + " injected)")
			}
		}
	}
	return b.String()
}

func sumMask(a *[numOps][numFileKinds]int64, ops Op, files FileKind) int64 {
	var n int64
	for i := range numOps {
		if ops&(1<<i) == 0 {
			continue
		}
		for j := range numFileKinds {
			if files&(1<<j) != 0 {
				n += a[i][j]
			}
		}
	}
	return n
}

type statCounters struct {
	ops, injected [numOps][numFileKinds]atomic.Int64
}

// check counts the operation and asks the Injector about it.
func (e *ErrorFS) check(op Op, kind FileKind, path string) error {
	i, j := bits.TrailingZeros32(uint32(op)), bits.TrailingZeros32(uint32(kind))
	e.stats.ops[i][j].Add(1)
	if e.inj == nil {
		return nil
	}
	err := e.inj.MaybeError(op, kind, path)
	if err == nil {
		return nil
	}
	e.stats.injected[i][j].Add(1)
	return &fs.PathError{Op: op.String(), Path: path, Err: err}
}

// kindOf classifies name: by its base name, or, for a name the engine does
// not own, as FileDir when the wrapped FS holds a directory there.
func (e *ErrorFS) kindOf(name string) FileKind {
	k := FileKindOf(e.fs.PathBase(name))
	if k == FileOther {
		if info, err := e.fs.Stat(name); err == nil && info.IsDir() {
			return FileDir
		}
	}
	return k
}

func (e *ErrorFS) wrap(f File, err error, path string, kind FileKind) (File, error) {
	if err != nil {
		return nil, err
	}
	return &errorFile{f: f, fs: e, path: path, kind: kind}, nil
}

// Create implements FS.
func (e *ErrorFS) Create(name string) (File, error) {
	kind := e.kindOf(name)
	if err := e.check(OpCreate, kind, name); err != nil {
		return nil, err
	}
	f, err := e.fs.Create(name)
	return e.wrap(f, err, name, kind)
}

// Open implements FS.
func (e *ErrorFS) Open(name string) (File, error) {
	kind := e.kindOf(name)
	if err := e.check(OpOpen, kind, name); err != nil {
		return nil, err
	}
	f, err := e.fs.Open(name)
	return e.wrap(f, err, name, kind)
}

// OpenReadWrite implements FS.
func (e *ErrorFS) OpenReadWrite(name string) (File, error) {
	kind := e.kindOf(name)
	if err := e.check(OpOpen, kind, name); err != nil {
		return nil, err
	}
	f, err := e.fs.OpenReadWrite(name)
	return e.wrap(f, err, name, kind)
}

// OpenDir implements FS.
func (e *ErrorFS) OpenDir(name string) (File, error) {
	if err := e.check(OpOpen, FileDir, name); err != nil {
		return nil, err
	}
	f, err := e.fs.OpenDir(name)
	return e.wrap(f, err, name, FileDir)
}

// Remove implements FS.
func (e *ErrorFS) Remove(name string) error {
	if err := e.check(OpRemove, e.kindOf(name), name); err != nil {
		return err
	}
	return e.fs.Remove(name)
}

// Rename implements FS. It is classified by newname, what the rename makes
// (renaming a temporary file over CURRENT is a FileCurrent rename).
func (e *ErrorFS) Rename(oldname, newname string) error {
	kind := FileKindOf(e.fs.PathBase(newname))
	if kind == FileOther {
		kind = e.kindOf(oldname)
	}
	if err := e.check(OpRename, kind, newname); err != nil {
		return err
	}
	return e.fs.Rename(oldname, newname)
}

// MkdirAll implements FS.
func (e *ErrorFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := e.check(OpCreate, FileDir, dir); err != nil {
		return err
	}
	return e.fs.MkdirAll(dir, perm)
}

// List implements FS.
func (e *ErrorFS) List(dir string) ([]string, error) {
	if err := e.check(OpList, FileDir, dir); err != nil {
		return nil, err
	}
	return e.fs.List(dir)
}

// Stat implements FS.
func (e *ErrorFS) Stat(name string) (os.FileInfo, error) {
	if err := e.check(OpStat, e.kindOf(name), name); err != nil {
		return nil, err
	}
	return e.fs.Stat(name)
}

// Link implements FS. Like Rename, it is classified by newname.
func (e *ErrorFS) Link(oldname, newname string) error {
	kind := FileKindOf(e.fs.PathBase(newname))
	if kind == FileOther {
		kind = e.kindOf(oldname)
	}
	if err := e.check(OpLink, kind, newname); err != nil {
		return err
	}
	return e.fs.Link(oldname, newname)
}

// Lock implements FS. The returned lock's Close never fails by injection.
func (e *ErrorFS) Lock(name string) (io.Closer, error) {
	if err := e.check(OpLock, e.kindOf(name), name); err != nil {
		return nil, err
	}
	return e.fs.Lock(name)
}

// LockShared implements FS. The returned lock's Close never fails by
// injection.
func (e *ErrorFS) LockShared(name string) (io.Closer, error) {
	if err := e.check(OpLock, e.kindOf(name), name); err != nil {
		return nil, err
	}
	return e.fs.LockShared(name)
}

// PathJoin implements FS.
func (e *ErrorFS) PathJoin(elem ...string) string { return e.fs.PathJoin(elem...) }

// PathBase implements FS.
func (e *ErrorFS) PathBase(path string) string { return e.fs.PathBase(path) }

// PathDir implements FS.
func (e *ErrorFS) PathDir(path string) string { return e.fs.PathDir(path) }

// errorFile is a File opened through an ErrorFS.
type errorFile struct {
	f    File
	fs   *ErrorFS
	path string
	kind FileKind
}

func (f *errorFile) Read(p []byte) (int, error) {
	if err := f.fs.check(OpRead, f.kind, f.path); err != nil {
		return 0, err
	}
	return f.f.Read(p)
}

func (f *errorFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(OpRead, f.kind, f.path); err != nil {
		return 0, err
	}
	return f.f.ReadAt(p, off)
}

func (f *errorFile) Write(p []byte) (int, error) {
	err := f.fs.check(OpWrite, f.kind, f.path)
	if err == nil {
		return f.f.Write(p)
	}
	if !errors.Is(err, syscall.ENOSPC) || len(p) < 2 {
		return 0, err
	}
	// A full disk takes what fits: the first half.
	n, werr := f.f.Write(p[:len(p)/2])
	if werr != nil {
		return n, werr
	}
	return n, err
}

func (f *errorFile) Seek(offset int64, whence int) (int64, error) { return f.f.Seek(offset, whence) }

func (f *errorFile) Sync() error {
	if err := f.fs.check(OpSync, f.kind, f.path); err != nil {
		return err
	}
	return f.f.Sync()
}

func (f *errorFile) Stat() (os.FileInfo, error) {
	if err := f.fs.check(OpStat, f.kind, f.path); err != nil {
		return nil, err
	}
	return f.f.Stat()
}

func (f *errorFile) Truncate(size int64) error {
	if err := f.fs.check(OpTruncate, f.kind, f.path); err != nil {
		return err
	}
	return f.f.Truncate(size)
}

func (f *errorFile) Close() error { return f.f.Close() }
