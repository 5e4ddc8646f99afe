package dkv_test

// The harness of the fault-injection tests (fault_test.go): a workload
// that checks every result against a model of acknowledged writes, a
// recorder of the faults injected and of how each surfaced, and the
// recovery checks run after each scenario.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

const (
	faultDir  = "/db"
	faultKeys = 120 // distinct keys of the workloads
	faultOps  = 220 // operations of a workload
)

// faultSuite counts, across the tests of this file, the scenarios run and
// the faults injected into a DB.
var faultSuite struct {
	scenarios, faults atomic.Int64
}

func logFaultSuite(t *testing.T, scenarios, faults int64) {
	dkv.SoakCount(t, "fault-scenarios", scenarios)
	dkv.SoakCount(t, "faults-injected", faults)
	t.Logf("%d scenarios, %d faults injected (suite so far: %d scenarios, %d faults)",
		scenarios, faults, faultSuite.scenarios.Load(), faultSuite.faults.Load())
}

// faultOptions are small enough that a few hundred writes flush a dozen
// memtables, compact through several levels and switch MANIFESTs.
func faultOptions(fsys vfs.FS, l *dkv.EventListener) *dkv.Options {
	return &dkv.Options{
		FS:                    fsys,
		MemTableSize:          4 << 10,
		L0CompactionThreshold: 2,
		LBaseMaxBytes:         8 << 10,
		TargetFileSize:        2 << 10,
		MaxManifestFileSize:   1 << 10,
		Logger:                slog.New(slog.DiscardHandler),
		EventListener:         l,
	}
}

func faultKey(i int) string { return fmt.Sprintf("key%03d", i) }

func faultValue(rng *rand.Rand, key string, i int) string {
	return fmt.Sprintf("%s=%d.", key, i) + strings.Repeat(string(rune('a'+rng.IntN(26))), 20+rng.IntN(100))
}

// faultTemplate is a database every scenario starts from: tables and a log
// to replay, closed cleanly.
var faultTemplate struct {
	once sync.Once
	mem  *vfs.MemFS
	base map[string]string
	err  error
}

// faultBaseFS returns a copy of the template database and its contents.
func faultBaseFS(t *testing.T) (*vfs.MemFS, map[string]string) {
	faultTemplate.once.Do(func() {
		mem := vfs.NewMem()
		db, err := dkv.Open(faultDir, faultOptions(mem, nil))
		if err != nil {
			faultTemplate.err = err
			return
		}
		rng := rand.New(rand.NewPCG(1, 1))
		state := map[string]string{}
		for i := range 150 {
			k := faultKey(rng.IntN(faultKeys))
			if rng.IntN(8) == 0 {
				err = db.Delete([]byte(k))
				delete(state, k)
			} else {
				v := faultValue(rng, k, i)
				err = db.Put([]byte(k), []byte(v))
				state[k] = v
			}
			if err == nil && i == 110 {
				err = db.Flush()
			}
			if err != nil {
				break
			}
		}
		faultTemplate.err = errors.Join(err, db.Close())
		faultTemplate.mem, faultTemplate.base = mem, state
	})
	require.NoError(t, faultTemplate.err)
	return faultTemplate.mem.CrashClone(vfs.CrashOptions{}), maps.Clone(faultTemplate.base)
}

// faultPhase is the part of a scenario an operation ran in.
type faultPhase int32

const (
	faultPhaseOpen faultPhase = iota
	faultPhaseRun
	faultPhaseClose
	faultPhaseVerify
)

func (p faultPhase) String() string { return [...]string{"open", "run", "close", "verify"}[p] }

// faultEvent is one injected fault.
type faultEvent struct {
	op    vfs.Op
	kind  vfs.FileKind
	path  string
	err   error
	phase faultPhase
}

func (e faultEvent) String() string {
	return fmt.Sprintf("%s %s %s (%s, %v)", e.op, e.kind, e.path, e.phase, e.err)
}

// faultEffect is what the contract says a fault must lead to.
type faultEffect int

const (
	// effectSurface: the error is returned to the caller that needed the
	// operation, or reported to BackgroundError (and retried).
	effectSurface faultEffect = iota
	// effectStop: writes stop (fail-stop).
	effectStop
	// effectSilent: the engine may only log it — removing an obsolete
	// file, or listing the directory to find them.
	effectSilent
)

func faultEffectOf(op vfs.Op, kind vfs.FileKind) faultEffect {
	switch {
	case op == vfs.OpRemove || op == vfs.OpList:
		return effectSilent
	case kind&(vfs.FileLog|vfs.FileManifest|vfs.FileTemp|vfs.FileCurrent) != 0 &&
		op&(vfs.OpWrite|vfs.OpSync|vfs.OpCreate|vfs.OpRename) != 0:
		return effectStop
	}
	return effectSurface
}

// faultRecorder is the Injector of every scenario. While armed it asks the
// scenario's injector, and records the faults it injects; always, it
// records the fsyncs of files whose write or fsync failed (never allowed
// while the DB that saw the failure is open), and it collects every error
// the DB reported, so that each fault can be traced to a report.
type faultRecorder struct {
	inner vfs.Injector
	armed atomic.Bool
	phase atomic.Int32

	mu       sync.Mutex
	faults   []faultEvent
	broken   map[string]bool // log, MANIFEST, temp and table files whose write or fsync failed
	resynced []string        // fsyncs of broken files
	surfaced []error         // errors returned by the DB or reported to its listener
	// exempt is the number of faults accounted by a failed Open.
	exempt int
	// stoppedAt is the number of faults injected when WritesStopped
	// fired, or -1.
	stoppedAt  int
	background int // BackgroundError calls
}

func newFaultRecorder(inner vfs.Injector) *faultRecorder {
	return &faultRecorder{inner: inner, broken: map[string]bool{}, stoppedAt: -1}
}

func (r *faultRecorder) MaybeError(op vfs.Op, kind vfs.FileKind, path string) error {
	if op == vfs.OpSync {
		r.mu.Lock()
		if r.broken[path] {
			r.resynced = append(r.resynced, path)
		}
		r.mu.Unlock()
	}
	if !r.armed.Load() || r.inner == nil {
		return nil
	}
	err := r.inner.MaybeError(op, kind, path)
	if err == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, faultEvent{op: op, kind: kind, path: path, err: err, phase: faultPhase(r.phase.Load())})
	if op&(vfs.OpWrite|vfs.OpSync) != 0 && kind&(vfs.FileLog|vfs.FileManifest|vfs.FileTemp|vfs.FileTable) != 0 {
		r.broken[path] = true
	}
	return err
}

func (r *faultRecorder) listener() *dkv.EventListener {
	return &dkv.EventListener{
		BackgroundError: func(err error) {
			r.mu.Lock()
			r.surfaced = append(r.surfaced, err)
			r.background++
			r.mu.Unlock()
		},
		WritesStopped: func(err error) {
			r.mu.Lock()
			r.surfaced = append(r.surfaced, err)
			if r.stoppedAt < 0 {
				r.stoppedAt = len(r.faults)
			}
			r.mu.Unlock()
		},
	}
}

// newInstance starts the record of a new DB (an Open attempt): fsyncs of
// files an earlier DB failed on are a new DB's business.
func (r *faultRecorder) newInstance() {
	r.mu.Lock()
	clear(r.broken)
	r.stoppedAt = -1
	r.mu.Unlock()
}

// openFailed marks the faults so far as accounted by a failed Open.
func (r *faultRecorder) openFailed(err error) {
	r.mu.Lock()
	r.surfaced = append(r.surfaced, err)
	r.exempt = len(r.faults)
	r.mu.Unlock()
}

func (r *faultRecorder) surface(err error) {
	if err == nil {
		return
	}
	r.mu.Lock()
	r.surfaced = append(r.surfaced, err)
	r.mu.Unlock()
}

func (r *faultRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.faults)
}

func (r *faultRecorder) snapshot() []faultEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.faults)
}

// accounted reports whether some error the DB reported carries f: an
// *fs.PathError for f's path wrapping f's error.
func (r *faultRecorder) accounted(f faultEvent) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.surfaced {
		if faultCarries(e, f) {
			return true
		}
	}
	return false
}

func faultCarries(err error, f faultEvent) bool {
	found := false
	var walk func(error)
	walk = func(err error) {
		if found || err == nil {
			return
		}
		if pe, ok := err.(*fs.PathError); ok && pe.Path == f.path && errors.Is(pe.Err, f.err) {
			found = true
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return found
}

// faultKV is one operation of a write: a set, or a delete.
type faultKV struct {
	key, value string
	del        bool
}

// faultWrite is one write the workload issued: acknowledged, or the write
// that failed (which may or may not be recovered).
type faultWrite struct {
	ops    []faultKV
	synced bool
	acked  bool
}

func (w faultWrite) apply(state map[string]string) {
	for _, op := range w.ops {
		if op.del {
			delete(state, op.key)
		} else {
			state[op.key] = op.value
		}
	}
}

// faultWorkload runs puts, deletes and batches, synced or not, flushes, a
// compaction and reads on a DB whose filesystem fails, checking every
// result against the writes acknowledged so far.
type faultWorkload struct {
	t    *testing.T
	db   *dkv.DB
	efs  *vfs.ErrorFS
	rec  *faultRecorder
	rng  *rand.Rand
	want error // the injected error, when the scenario injects one kind

	acked   map[string]string // state after every acknowledged write
	hist    []faultWrite      // acknowledged writes, then the first failed one
	failed  *faultWrite       // the first write that failed
	stopped error             // the ErrStopped error the DB returned first
	i       int               // writes issued, for unique values

	logSyncsAtStop int64 // fsyncs of logs when the stop was seen
}

// write issues a write and records its outcome.
func (w *faultWorkload) write(ops []faultKV, sync bool) {
	t := w.t
	t.Helper()
	var err error
	if len(ops) == 1 && sync && w.rng.IntN(2) == 0 {
		if ops[0].del {
			err = w.db.Delete([]byte(ops[0].key))
		} else {
			err = w.db.Put([]byte(ops[0].key), []byte(ops[0].value))
		}
	} else {
		b := w.db.NewBatch()
		for _, op := range ops {
			if op.del {
				require.NoError(t, b.Delete([]byte(op.key)))
			} else {
				require.NoError(t, b.Put([]byte(op.key), []byte(op.value)))
			}
		}
		err = w.db.Write(b, &dkv.WriteOptions{Sync: sync})
	}
	w.rec.surface(err)
	wr := faultWrite{ops: ops, synced: sync}
	if err == nil {
		require.Nil(t, w.stopped, "a write succeeded after writes stopped (%v)", w.stopped)
		wr.acked = true
		w.hist = append(w.hist, wr)
		wr.apply(w.acked)
		return
	}
	if errors.Is(err, dkv.ErrCompactionFailing) {
		// Refused before it was logged while L0 is full and compaction
		// fails: not applied, and later writes may succeed.
		require.Nil(t, w.stopped, "writes stopped with %v, then failed with %v", w.stopped, err)
		w.checkInjected(err)
		return
	}
	require.ErrorIs(t, err, dkv.ErrStopped, "a write fails only when writes stop, or when L0 is full and compaction fails")
	w.checkInjected(err)
	if w.stopped == nil {
		w.failed = &wr
		w.hist = append(w.hist, wr)
	}
	w.stop(err)
}

// checkInjected fails unless err carries an injected fault (the
// scenario's own, when it has one), and is not reported as corruption.
func (w *faultWorkload) checkInjected(err error) {
	w.t.Helper()
	require.ErrorIs(w.t, err, vfs.ErrInjected, "the error says which fault caused it")
	require.NotErrorIs(w.t, err, dkv.ErrCorruption, "an I/O error is not corruption")
	if w.want != nil {
		require.ErrorIs(w.t, err, w.want)
		errno := w.want.(*vfs.InjectedError).Errno
		require.ErrorIs(w.t, err, errno, "errors.Is(err, syscall.%s)", errnoName(errno))
	}
}

func errnoName(e syscall.Errno) string {
	if e == syscall.ENOSPC {
		return "ENOSPC"
	}
	return "EIO"
}

// stop records that the DB said writes stopped.
func (w *faultWorkload) stop(err error) {
	if w.stopped != nil {
		return
	}
	w.stopped = err
	w.logSyncsAtStop = w.efs.Stats().Ops(vfs.OpSync, vfs.FileLog)
}

func (w *faultWorkload) randomKV() faultKV {
	k := faultKey(w.rng.IntN(faultKeys))
	w.i++
	if w.rng.IntN(5) == 0 {
		return faultKV{key: k, del: true}
	}
	return faultKV{key: k, value: faultValue(w.rng, k, w.i)}
}

// readErr checks a read's error: nil, or an injected fault.
func (w *faultWorkload) readErr(err error) bool {
	if err == nil {
		return false
	}
	w.rec.surface(err)
	w.checkInjectedAny(err)
	return true
}

// checkInjectedAny is checkInjected for reads and background work, which
// may meet a fault other than the one that stopped writes.
func (w *faultWorkload) checkInjectedAny(err error) {
	w.t.Helper()
	require.ErrorIs(w.t, err, vfs.ErrInjected, "an operation fails only because of an injected fault")
	require.NotErrorIs(w.t, err, dkv.ErrCorruption, "an I/O error is not corruption")
}

// get checks one key against the acknowledged writes (and the failed
// write, which a read may or may not see).
func (w *faultWorkload) get(k string) {
	t := w.t
	t.Helper()
	v, err := w.db.Get([]byte(k))
	if err != nil && !errors.Is(err, dkv.ErrNotFound) {
		w.readErr(err)
		return
	}
	wants := []map[string]string{w.acked}
	if w.failed != nil {
		alt := maps.Clone(w.acked)
		w.failed.apply(alt)
		wants = append(wants, alt)
	}
	for _, want := range wants {
		if wv, ok := want[k]; (err == nil && ok && wv == string(v)) || (err != nil && !ok) {
			return
		}
	}
	if err != nil {
		t.Fatalf("Get(%s): %v, but %q was acknowledged", k, err, w.acked[k])
	}
	t.Fatalf("Get(%s) = %q, acknowledged %q", k, v, w.acked[k])
}

// scan checks a full iteration against the acknowledged writes.
func (w *faultWorkload) scan() {
	t := w.t
	t.Helper()
	it, err := w.db.NewIter(nil)
	if w.readErr(err) {
		return
	}
	got := map[string]string{}
	for ok := it.First(); ok; ok = it.Next() {
		got[string(it.Key())] = string(it.Value())
	}
	if w.readErr(errors.Join(it.Error(), it.Close())) {
		return
	}
	if w.failed != nil {
		alt := maps.Clone(w.acked)
		w.failed.apply(alt)
		if maps.Equal(got, alt) {
			return
		}
	}
	require.Equal(t, w.acked, got, "an iterator sees exactly the acknowledged writes")
}

// background checks the result of Flush or Compact: nil, writes stopped,
// or the injected failure of the flush or compaction (which is retried).
func (w *faultWorkload) background(err error) {
	w.t.Helper()
	w.rec.surface(err)
	if err == nil {
		return
	}
	if errors.Is(err, dkv.ErrStopped) {
		w.checkInjected(err)
		w.stop(err)
		return
	}
	require.Nil(w.t, w.stopped, "after writes stopped, Flush and Compact say so: %v", err)
	w.checkInjectedAny(err)
}

// run issues n random operations, or fewer if writes stop.
func (w *faultWorkload) run(n int) {
	for i := 0; i < n && w.stopped == nil; i++ {
		switch r := w.rng.IntN(100); {
		case r < 45:
			w.write([]faultKV{w.randomKV()}, w.rng.IntN(3) != 0)
		case r < 60:
			ops := make([]faultKV, 2+w.rng.IntN(4))
			for j := range ops {
				ops[j] = w.randomKV()
			}
			w.write(ops, w.rng.IntN(2) == 0)
		case r < 85:
			w.get(faultKey(w.rng.IntN(faultKeys + 10)))
		case r < 95:
			w.background(w.db.Flush())
		default:
			w.scan()
		}
		if i == n/2 {
			w.background(w.db.Compact(context.Background(), nil, nil))
		}
	}
}

// settle makes sure that every fault injected so far that must stop
// writes has: it writes (synced) until one fails with ErrStopped, for at
// most a few seconds. It returns the number of faults it covered.
func (w *faultWorkload) settle() int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := w.rec.count()
		needStop := false
		for i, f := range w.rec.snapshot()[:n] {
			if i >= w.rec.exempt && w.effect(f) == effectStop {
				needStop = true
			}
		}
		if w.stopped == nil && needStop {
			if time.Now().After(deadline) {
				w.t.Fatalf("writes did not stop after a failed log or MANIFEST operation: %v", w.rec.snapshot())
			}
			w.write([]faultKV{w.randomKV()}, true)
			time.Sleep(time.Millisecond)
			continue
		}
		if w.rec.count() == n {
			return n
		}
	}
}

// effect is faultEffectOf, except that the old MANIFEST, closed and
// removed after the switch to a new one, may fail silently: nothing
// depends on it any more.
func (w *faultWorkload) effect(f faultEvent) faultEffect {
	if f.kind == vfs.FileManifest && f.op&(vfs.OpWrite|vfs.OpSync) != 0 {
		if _, err := w.efs.Unwrap().Stat(f.path); errors.Is(err, fs.ErrNotExist) {
			return effectSilent
		}
	}
	return faultEffectOf(f.op, f.kind)
}

// stoppedByLog reports whether the stop error carries a fault of a log:
// then no log may be fsynced any more (after a MANIFEST failure, Close
// still seals the healthy log).
func (w *faultWorkload) stoppedByLog(faults []faultEvent) bool {
	for _, f := range faults {
		if f.kind == vfs.FileLog && faultCarries(w.stopped, f) {
			return true
		}
	}
	return false
}

// checkStopped checks a stopped DB: more writes fail with the same error,
// Flush and Compact say writes stopped, and reads still work.
func (w *faultWorkload) checkStopped() {
	t := w.t
	for _, sync := range []bool{true, false} {
		w.write([]faultKV{w.randomKV()}, sync)
		w.write([]faultKV{w.randomKV(), w.randomKV()}, sync)
	}
	err := w.db.Flush()
	require.ErrorIs(t, err, dkv.ErrStopped)
	w.checkInjected(err)
	err = w.db.Compact(context.Background(), nil, nil)
	require.ErrorIs(t, err, dkv.ErrStopped)
	for k := range faultKeys {
		w.get(faultKey(k))
	}
	w.scan()
}

// faultScenario is one run: open the template database with inj armed from
// phase armAt on, run the workload, close, and check recovery.
type faultScenario struct {
	inj      vfs.Injector // nil: nothing fails
	want     error        // the error inj injects, if only one kind
	armAt    faultPhase
	workload uint64 // seed of the workload
	replay   string // how to run this scenario alone
	// reached, if set, says whether the fault the scenario aims at has
	// happened: the workload goes on (up to four times its length) until
	// it has. How many files of a kind a run creates depends on how the
	// background compactions fall, which a loaded machine slows.
	reached func() bool
}

// faultResult is what a scenario saw.
type faultResult struct {
	faults []faultEvent
	// stats are the ErrorFS counters before Open, after Open, before Close
	// and after Close.
	stats        [4]vfs.Stats
	openFailures int
	stopped      bool
	closeErr     error
}

// phaseOps returns how many operations of op on kind ran in phase p
// (open, run or close).
func (r faultResult) phaseOps(p faultPhase, op vfs.Op, kind vfs.FileKind) int64 {
	return r.stats[p+1].Ops(op, kind) - r.stats[p].Ops(op, kind)
}

func runFaultScenario(t *testing.T, sc faultScenario) faultResult {
	mem, base := faultBaseFS(t)
	rec := newFaultRecorder(sc.inj)
	efs := vfs.NewErrorFS(mem, rec)
	opts := faultOptions(efs, rec.listener())
	var res faultResult
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay: %s\nfaults injected: %v\nfilesystem: %s", sc.replay, rec.snapshot(), efs.Stats())
		}
	})

	// Open, again while injected faults make it fail.
	res.stats[0] = efs.Stats()
	rec.phase.Store(int32(faultPhaseOpen))
	rec.armed.Store(sc.armAt == faultPhaseOpen)
	var db *dkv.DB
	for attempt := 1; ; attempt++ {
		rec.newInstance()
		var err error
		if db, err = dkv.Open(faultDir, opts); err == nil {
			break
		}
		require.ErrorIs(t, err, vfs.ErrInjected, "Open fails only because of an injected fault")
		require.NotErrorIs(t, err, dkv.ErrCorruption, "an I/O error is not corruption")
		rec.openFailed(err)
		res.openFailures++
		if attempt == 20 {
			rec.armed.Store(false) // the disk is too sick for the workload
		}
	}
	res.stats[1] = efs.Stats()

	rec.phase.Store(int32(faultPhaseRun))
	if sc.armAt == faultPhaseRun {
		rec.armed.Store(true)
	}
	w := &faultWorkload{t: t, db: db, efs: efs, rec: rec, want: sc.want,
		rng: rand.New(rand.NewPCG(sc.workload, 0xfa17)), acked: maps.Clone(base)}
	w.run(faultOps)
	for extra := 0; sc.reached != nil && !sc.reached() && w.stopped == nil && extra < 3*faultOps; extra += 20 {
		w.run(20)
	}
	covered := w.settle()
	if w.stopped != nil {
		w.checkStopped()
		covered = w.settle()
	} else {
		w.scan()
	}
	// Let background work finish, so that what runs while closing is
	// Close's own work.
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if m := db.Metrics(); m.Compaction.Running == 0 && m.MemTable.Immutable == 0 {
			break
		}
	}
	bg := func() int { rec.mu.Lock(); defer rec.mu.Unlock(); return rec.background }()
	m := db.Metrics()
	require.GreaterOrEqual(t, m.Flush.Errors+m.Compaction.Errors, int64(bg),
		"every background error reported is counted in Metrics")
	res.stats[2] = efs.Stats()

	rec.phase.Store(int32(faultPhaseClose))
	if sc.armAt == faultPhaseClose {
		rec.armed.Store(true)
	}
	res.closeErr = db.Close()
	res.stats[3] = efs.Stats()
	rec.armed.Store(false)
	rec.phase.Store(int32(faultPhaseVerify))
	rec.surface(res.closeErr)
	res.faults = rec.snapshot()
	res.stopped = w.stopped != nil

	checkFaultContract(t, w, rec, res, covered)
	recovered := checkFaultRecovery(t, mem, base, w, res)
	t.Logf("faults %v; failed opens %d; stopped %v; close %v; flush errors %d, compaction errors %d, background errors %d; %d writes acknowledged, %d recovered after a power loss, %d after reopening",
		res.faults, res.openFailures, w.stopped, res.closeErr, m.Flush.Errors, m.Compaction.Errors, bg,
		len(w.hist)-btoi(w.failed != nil), recovered[0], recovered[1])
	faultSuite.scenarios.Add(1)
	faultSuite.faults.Add(int64(len(res.faults)))
	return res
}

// checkFaultContract checks what the DB did about each fault.
func checkFaultContract(t *testing.T, w *faultWorkload, rec *faultRecorder, res faultResult, covered int) {
	if res.closeErr != nil {
		require.ErrorIs(t, res.closeErr, vfs.ErrInjected, "Close fails only because of an injected fault")
		require.NotErrorIs(t, res.closeErr, dkv.ErrCorruption)
	}
	if w.stopped != nil {
		require.ErrorIs(t, res.closeErr, dkv.ErrStopped, "Close of a stopped DB says so")
		if w.stoppedByLog(res.faults) {
			require.Equal(t, w.logSyncsAtStop, res.stats[3].Ops(vfs.OpSync, vfs.FileLog),
				"no log is fsynced after a log failure stopped writes")
		}
		// The stop names a fault that was injected.
		found := false
		for _, f := range res.faults {
			found = found || faultCarries(w.stopped, f)
		}
		require.True(t, found, "the stop error %v carries an injected fault", w.stopped)
	}
	require.Empty(t, rec.resynced, "a file whose write or fsync failed is never fsynced again")

	stoppedAt := rec.stoppedAt
	for i, f := range res.faults {
		if i < rec.exempt {
			continue // a failed Open reported it
		}
		effect := w.effect(f)
		if i >= covered {
			// Injected while closing: a failed log or MANIFEST operation
			// fails Close, unless writes had stopped already.
			if effect == effectStop && (stoppedAt < 0 || i < stoppedAt) {
				require.Error(t, res.closeErr, "Close reports %v", f)
			}
			continue
		}
		switch effect {
		case effectStop:
			require.NotNil(t, w.stopped, "writes stop after %v", f)
		case effectSurface:
			// Once writes stop, background work is abandoned and its
			// errors may go unreported.
			if stoppedAt < 0 && !rec.accounted(f) {
				t.Fatalf("%v was not reported to any caller or to BackgroundError", f)
			}
		}
		if w.want != nil && effect != effectSilent && (stoppedAt < 0 || i < stoppedAt) {
			require.True(t, rec.accounted(f), "%v is reported", f)
		}
	}
}

// checkFaultRecovery reopens what the failure left, and what a power loss
// right after it would leave, and checks the recovered state against the
// acknowledged writes; then the database must take writes again.
// It returns the number of writes recovered in each case.
func checkFaultRecovery(t *testing.T, mem *vfs.MemFS, base map[string]string, w *faultWorkload, res faultResult) (recovered [2]int) {
	minWrites := 0
	for i, wr := range w.hist {
		if wr.acked && (wr.synced || res.closeErr == nil) {
			minWrites = i + 1
		}
	}
	crashed := mem.CrashClone(vfs.CrashOptions{})
	db, err := dkv.Open(faultDir, faultOptions(crashed, nil))
	require.NoError(t, err, "Open after a power loss")
	recovered[0] = checkFaultPrefix(t, "after a power loss", db, base, w.hist, minWrites)
	require.NoError(t, db.Close())

	db, err = dkv.Open(faultDir, faultOptions(mem, nil))
	require.NoError(t, err, "Open once the fault is gone")
	recovered[1] = checkFaultPrefix(t, "after reopening", db, base, w.hist, minWrites)
	for i := range 10 {
		k := fmt.Sprintf("after%02d", i)
		require.NoError(t, db.Put([]byte(k), []byte(k)), "the reopened DB takes writes")
	}
	require.NoError(t, db.Close())
	db, err = dkv.Open(faultDir, faultOptions(mem, nil))
	require.NoError(t, err)
	for i := range 10 {
		k := fmt.Sprintf("after%02d", i)
		v, err := db.Get([]byte(k))
		require.NoError(t, err)
		require.Equal(t, k, string(v))
	}
	require.NoError(t, db.Close())
	return recovered
}

func faultUnion(a, b map[string]string) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkFaultPrefix fails unless db holds the state after some prefix of
// hist, applied to base, of at least minWrites writes; it returns the
// longest such prefix.
func checkFaultPrefix(t *testing.T, what string, db *dkv.DB, base map[string]string, hist []faultWrite, minWrites int) int {
	t.Helper()
	it, err := db.NewIter(nil)
	require.NoError(t, err)
	got := map[string]string{}
	for ok := it.First(); ok; ok = it.Next() {
		got[string(it.Key())] = string(it.Value())
	}
	require.NoError(t, it.Error())
	require.NoError(t, it.Close())
	state := maps.Clone(base)
	match := -1
	for i := 0; ; i++ {
		if i >= minWrites && maps.Equal(state, got) {
			match = i
		}
		if i == len(hist) {
			break
		}
		hist[i].apply(state)
	}
	if match >= 0 {
		return match
	}
	// Say how far the recovered state is from the nearest candidates.
	want := maps.Clone(base)
	for _, wr := range hist[:minWrites] {
		wr.apply(want)
	}
	var diff []string
	for _, key := range slices.Sorted(maps.Keys(faultUnion(got, want))) {
		if g, ok := got[key]; !ok || g != want[key] {
			diff = append(diff, fmt.Sprintf("%s: got %.20q want %.20q", key, g, want[key]))
		}
	}
	t.Fatalf("%s: the recovered state is not a prefix of the %d acknowledged writes that holds the first %d: %d keys differ from the latter, e.g. %v",
		what, len(hist), minWrites, len(diff), diff[:min(len(diff), 5)])
	return -1
}

var (
	faultAllOps   = []vfs.Op{vfs.OpRead, vfs.OpWrite, vfs.OpSync, vfs.OpCreate, vfs.OpOpen, vfs.OpRename, vfs.OpRemove, vfs.OpTruncate, vfs.OpList, vfs.OpStat, vfs.OpLock}
	faultAllKinds = []vfs.FileKind{vfs.FileLog, vfs.FileTable, vfs.FileManifest, vfs.FileCurrent, vfs.FileTemp, vfs.FileDir, vfs.FileLock, vfs.FileOther}
)

// faultENOSPC says whether a real disk returns ENOSPC from op: from what
// may allocate space.
func faultENOSPC(op vfs.Op) bool {
	return op&(vfs.OpWrite|vfs.OpSync|vfs.OpCreate|vfs.OpRename|vfs.OpTruncate) != 0
}
