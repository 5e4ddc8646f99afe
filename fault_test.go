package dkv_test

// Fault injection: the engine on a filesystem that fails (vfs.ErrorFS over a
// MemFS). The contract under test (doc.go, "Durability contract"; the
// README's "Fail-stop"):
//
//   - A failed write or fsync of the log or of the MANIFEST — or of what
//     switching MANIFESTs writes: the new MANIFEST, CURRENT's temporary
//     file, the rename over CURRENT — and a log that cannot be created stop
//     writes: every later write fails with an error matching ErrStopped
//     that wraps the failure, the failed file is never fsynced again,
//     reads keep working and Close returns ErrStopped.
//   - While L0 is full and compaction fails, a write is refused with
//     ErrCompactionFailing (not sticky, nothing applied) instead of
//     waiting for ever.
//   - A failed flush or compaction (a table that cannot be created,
//     written, synced or read) is reported — returned by the call that
//     needed it, or to EventListener.BackgroundError and counted in
//     Metrics — and retried, and loses nothing. A failed read is returned
//     to the reader, never turned into a wrong value or "not found".
//   - A failed Open says why; once the fault is gone, Open recovers.
//   - Whatever failed, reopening the filesystem as the failure left it,
//     and as a power loss right then would leave it, recovers the state
//     after a prefix of the acknowledged writes that holds every synced
//     one (every one, after a Close that returned nil), and the database
//     takes writes again.
//
// TestFaultMatrix injects EIO, and ENOSPC where a real disk returns it, at
// each (operation, kind of file) pair the engine performs — found by
// running the workload once without faults — at the first occurrence while
// opening, while running and while closing, and at a later one while
// running. TestFaultRandomSweep fails random operations of random seeds;
// DKV_FAULT_SEED=n runs seed n alone. The workload, the recorder of
// injected faults and the checks are in fault_harness_test.go.

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
)

// TestFaultMatrix checks the contract (see the top of this file) for a
// fault at every (operation, kind of file) pair the engine performs: EIO,
// and ENOSPC where a disk returns it, at the first such operation while
// opening, while running and while closing, and at a later one while
// running. The pairs and counts come from a run without faults.
func TestFaultMatrix(t *testing.T) {
	const workload = 1
	cal := runFaultScenario(t, faultScenario{armAt: faultPhaseOpen, workload: workload,
		replay: "go test -race -tags invariants -run 'TestFaultMatrix$' ."})
	var scenarios, faults, missed atomic.Int64
	t.Cleanup(func() {
		logFaultSuite(t, scenarios.Load(), faults.Load())
		if n := missed.Load(); n > 0 {
			t.Logf("%d scenarios did not reach their fault", n)
		}
	})
	var pairs []string
	for _, op := range faultAllOps {
		for _, kind := range faultAllKinds {
			type arm struct {
				phase faultPhase
				n     int
				name  string
			}
			var arms []arm
			if c := cal.phaseOps(faultPhaseOpen, op, kind); c > 0 {
				arms = append(arms, arm{faultPhaseOpen, 1, "open/first"})
			}
			if c := cal.phaseOps(faultPhaseRun, op, kind); c > 0 {
				arms = append(arms, arm{faultPhaseRun, 1, "run/first"})
				if c >= 4 {
					arms = append(arms, arm{faultPhaseRun, int(c / 2), fmt.Sprintf("run/%d", c/2)})
				}
			}
			// Close's own work: sealing the log and the MANIFEST, and (with
			// the invariants tag) checking every table. Other operations
			// seen while closing belong to background work that happened
			// to be finishing, or depend on what the caches hold.
			closes := kind&(vfs.FileLog|vfs.FileManifest) != 0 && op&(vfs.OpWrite|vfs.OpSync) != 0 ||
				kind == vfs.FileTable && op == vfs.OpStat
			if c := cal.phaseOps(faultPhaseClose, op, kind); c > 0 && closes {
				arms = append(arms, arm{faultPhaseClose, 1, "close/first"})
			}
			if len(arms) == 0 {
				continue
			}
			pairs = append(pairs, fmt.Sprintf("%s/%s", op, kind))
			errs := []error{vfs.ErrInjectedEIO}
			if faultENOSPC(op) {
				errs = append(errs, vfs.ErrInjectedENOSPC)
			}
			for _, a := range arms {
				for _, injErr := range errs {
					name := fmt.Sprintf("%s/%s/%s/%s", op, kind, a.name, errnoName(injErr.(*vfs.InjectedError).Errno))
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						inj := vfs.OnNth(op, kind, a.n, injErr)
						res := runFaultScenario(t, faultScenario{inj: inj, want: injErr, armAt: a.phase, workload: workload,
							replay: fmt.Sprintf("go test -race -tags invariants -run 'TestFaultMatrix/%s$' .", name)})
						scenarios.Add(1)
						faults.Add(int64(len(res.faults)))
						if inj.Injected() == 0 {
							missed.Add(1)
							t.Errorf("the fault was not reached: the scenario tested nothing")
						}
					})
				}
			}
		}
	}
	t.Logf("the engine performs %d (operation, file) pairs: %s", len(pairs), strings.Join(pairs, " "))
}

// faultNewFile fails op on the n-th file of a kind created after arming,
// the first time op runs on it: the header of a new log or MANIFEST, the
// first block of a table, CURRENT's next contents.
type faultNewFile struct {
	op   vfs.Op
	kind vfs.FileKind
	n    int
	err  error

	mu      sync.Mutex
	created int
	target  string
	done    bool
}

// reached reports whether the fault was injected.
func (f *faultNewFile) reached() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done
}

func (f *faultNewFile) MaybeError(op vfs.Op, kind vfs.FileKind, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case kind != f.kind || f.done:
	case op == vfs.OpCreate:
		if f.created++; f.created == f.n {
			f.target = path
		}
	case op == f.op && path == f.target:
		f.done = true
		return f.err
	}
	return nil
}

// TestFaultNewFiles checks the contract for a fault at the first write or
// fsync of a new file — a log's or a MANIFEST's header (torn, with ENOSPC),
// a table's first block, CURRENT's next contents — of the first, second
// and third such file made while running, and the first made by Open.
func TestFaultNewFiles(t *testing.T) {
	var scenarios, faults atomic.Int64
	t.Cleanup(func() { logFaultSuite(t, scenarios.Load(), faults.Load()) })
	for _, op := range []vfs.Op{vfs.OpWrite, vfs.OpSync} {
		for _, kind := range []vfs.FileKind{vfs.FileLog, vfs.FileManifest, vfs.FileTable, vfs.FileTemp} {
			for _, injErr := range []error{vfs.ErrInjectedEIO, vfs.ErrInjectedENOSPC} {
				for _, arm := range []struct {
					phase faultPhase
					n     int
				}{{faultPhaseOpen, 1}, {faultPhaseRun, 1}, {faultPhaseRun, 2}, {faultPhaseRun, 3}} {
					name := fmt.Sprintf("%s/%s/%s/%d/%s", op, kind, arm.phase, arm.n, errnoName(injErr.(*vfs.InjectedError).Errno))
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						inj := &faultNewFile{op: op, kind: kind, n: arm.n, err: injErr}
						res := runFaultScenario(t, faultScenario{inj: inj, want: injErr, armAt: arm.phase, workload: 1,
							replay:  fmt.Sprintf("go test -race -tags invariants -run 'TestFaultNewFiles/%s$' .", name),
							reached: inj.reached})
						require.True(t, inj.done, "the fault was reached")
						scenarios.Add(1)
						faults.Add(int64(len(res.faults)))
					})
				}
			}
		}
	}
}

// TestFaultOpenFlushesRecovered fails Open while it flushes the memtables
// of the logs a previous DB left (their tables could not be written):
// Open fails with the fault, changes nothing a later Open needs, and once
// the fault is gone Open recovers every write.
func TestFaultOpenFlushesRecovered(t *testing.T) {
	afterTable := func(op vfs.Op, kind vfs.FileKind) func() vfs.Injector {
		return func() vfs.Injector {
			var tables atomic.Bool
			var done atomic.Bool
			return vfs.InjectorFunc(func(o vfs.Op, k vfs.FileKind, path string) error {
				if o == vfs.OpCreate && k == vfs.FileTable {
					tables.Store(true)
				}
				if o == op && k == kind && tables.Load() && done.CompareAndSwap(false, true) {
					return vfs.ErrInjectedEIO
				}
				return nil
			})
		}
	}
	for name, newInj := range map[string]func() vfs.Injector{
		"create-table":   func() vfs.Injector { return vfs.OnNth(vfs.OpCreate, vfs.FileTable, 1, vfs.ErrInjectedEIO).Sticky() },
		"write-table":    func() vfs.Injector { return vfs.OnNth(vfs.OpWrite, vfs.FileTable, 1, vfs.ErrInjectedENOSPC).Sticky() },
		"write-manifest": afterTable(vfs.OpWrite, vfs.FileManifest),
		"sync-manifest":  afterTable(vfs.OpSync, vfs.FileManifest),
		"sync-dir":       afterTable(vfs.OpSync, vfs.FileDir),
		"remove-log":     afterTable(vfs.OpRemove, vfs.FileLog),
	} {
		t.Run(name, func(t *testing.T) {
			mem, base := faultBaseFS(t)
			// Tables cannot be created while the previous DB runs, so its
			// memtables stay in their logs.
			noTables := vfs.NewToggle(vfs.ErrInjectedEIO, vfs.OpCreate, vfs.FileTable)
			rec := newFaultRecorder(noTables)
			rec.armed.Store(true)
			efs := vfs.NewErrorFS(mem, rec)
			opts := faultOptions(efs, rec.listener())
			opts.MemTableStopWritesThreshold = 8
			db, err := dkv.Open(faultDir, opts)
			require.NoError(t, err)
			w := &faultWorkload{t: t, db: db, efs: efs, rec: rec, rng: rand.New(rand.NewPCG(5, 5)), acked: maps.Clone(base)}
			noTables.On()
			for range 120 {
				w.write([]faultKV{w.randomKV()}, w.rng.IntN(2) == 0)
			}
			require.Nil(t, w.stopped)
			require.GreaterOrEqual(t, db.Metrics().MemTable.Immutable, 2, "memtables wait in their logs")
			require.NoError(t, db.Close())

			var injected atomic.Int64
			fault := newInj()
			inj := vfs.InjectorFunc(func(op vfs.Op, kind vfs.FileKind, path string) error {
				if fault == nil {
					return nil
				}
				err := fault.MaybeError(op, kind, path)
				if err != nil {
					injected.Add(1)
				}
				return err
			})
			failed := 0
			for {
				db, err = dkv.Open(faultDir, faultOptions(vfs.NewErrorFS(mem, inj), nil))
				if err == nil {
					break
				}
				require.ErrorIs(t, err, vfs.ErrInjected)
				require.NotErrorIs(t, err, dkv.ErrCorruption)
				if failed++; failed == 3 {
					fault = nil // the fault is gone
				}
			}
			require.Positive(t, injected.Load(), "the fault was reached")
			checkFaultPrefix(t, "after the failed Opens", db, base, w.hist, len(w.hist))
			require.Zero(t, db.Metrics().MemTable.Immutable, "Open flushed the recovered memtables")
			require.NoError(t, db.Put([]byte("after"), []byte("v")))
			require.NoError(t, db.Close())
			faultSuite.scenarios.Add(1)
			faultSuite.faults.Add(noTables.Injected() + injected.Load())
			t.Logf("%d failed opens, %d faults injected while reopening", failed, injected.Load())
		})
	}
}

// TestFaultDiskFull fills the disk: every write, create and fsync fails
// with ENOSPC. The DB stops accepting writes with an error that says so
// (errors.Is(err, syscall.ENOSPC)), loses no acknowledged write, keeps
// serving reads, stays stopped once space is freed (it does not retry what
// may not be on disk), and works again after a reopen.
func TestFaultDiskFull(t *testing.T) {
	mem, base := faultBaseFS(t)
	full := vfs.NewToggle(vfs.ErrInjectedENOSPC, vfs.OpWrite|vfs.OpCreate|vfs.OpSync, vfs.FileAll)
	rec := newFaultRecorder(full)
	rec.armed.Store(true)
	efs := vfs.NewErrorFS(mem, rec)
	db, err := dkv.Open(faultDir, faultOptions(efs, rec.listener()))
	require.NoError(t, err)
	w := &faultWorkload{t: t, db: db, efs: efs, rec: rec, want: vfs.ErrInjectedENOSPC,
		rng: rand.New(rand.NewPCG(2, 2)), acked: maps.Clone(base)}
	w.run(100)
	require.Nil(t, w.stopped)

	full.On()
	err = db.Put([]byte("full"), []byte("v"))
	require.ErrorIs(t, err, syscall.ENOSPC, "the error says the disk is full")
	require.ErrorIs(t, err, dkv.ErrStopped)
	require.Contains(t, err.Error(), "no space left on device")
	w.stop(err)
	w.hist = append(w.hist, faultWrite{ops: []faultKV{{key: "full", value: "v"}}, synced: true})
	w.failed = &w.hist[len(w.hist)-1]
	w.checkStopped()

	full.Off() // space is freed: writes stay stopped until a reopen
	w.write([]faultKV{w.randomKV()}, true)
	for k := range faultKeys {
		w.get(faultKey(k))
	}
	err = db.Close()
	require.ErrorIs(t, err, dkv.ErrStopped)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.Empty(t, rec.resynced, "a file whose write or fsync failed is never fsynced again")
	if w.stoppedByLog(rec.snapshot()) {
		require.Equal(t, w.logSyncsAtStop, efs.Stats().Ops(vfs.OpSync, vfs.FileLog), "no log is fsynced after the failure")
	}
	faultSuite.scenarios.Add(1)
	faultSuite.faults.Add(full.Injected())
	checkFaultRecovery(t, mem, base, w, faultResult{closeErr: err})
	logFaultSuite(t, 1, full.Injected())
}

// TestFaultTablesRetried makes tables impossible to write (ENOSPC) for a
// while: flushes fail, are reported (Flush's error, Metrics, the
// BackgroundError event) and retried; writes and reads go on; once space
// is back the flush completes without a reopen, and nothing is lost.
func TestFaultTablesRetried(t *testing.T) {
	mem, base := faultBaseFS(t)
	full := vfs.NewToggle(vfs.ErrInjectedENOSPC, vfs.OpWrite|vfs.OpCreate|vfs.OpSync, vfs.FileTable)
	rec := newFaultRecorder(full)
	rec.armed.Store(true)
	efs := vfs.NewErrorFS(mem, rec)
	db, err := dkv.Open(faultDir, faultOptions(efs, rec.listener()))
	require.NoError(t, err)
	w := &faultWorkload{t: t, db: db, efs: efs, rec: rec,
		rng: rand.New(rand.NewPCG(3, 3)), acked: maps.Clone(base)}
	w.run(40)

	full.On()
	w.write([]faultKV{w.randomKV()}, false)
	err = db.Flush()
	require.ErrorIs(t, err, syscall.ENOSPC, "Flush says why it failed")
	require.NotErrorIs(t, err, dkv.ErrStopped, "a failed table write does not stop writes")
	m := db.Metrics()
	require.Positive(t, m.Flush.Errors)
	require.Positive(t, func() int { rec.mu.Lock(); defer rec.mu.Unlock(); return rec.background }())
	for range 5 {
		w.write([]faultKV{w.randomKV()}, true)
	}
	require.Nil(t, w.stopped, "writes go on")
	for k := range faultKeys {
		w.get(faultKey(k))
	}
	require.Empty(t, rec.resynced, "a table whose write failed is never fsynced again")

	full.Off()
	// A flush attempt already under way when space came back may still
	// report its failure; the next one completes.
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := db.Flush()
		if err == nil {
			break
		}
		require.ErrorIs(t, err, syscall.ENOSPC)
		require.True(t, time.Now().Before(deadline), "the retried flush completes once space is back")
	}
	require.Zero(t, db.Metrics().MemTable.Immutable)
	w.run(40)
	w.scan()
	require.NoError(t, db.Close())
	faultSuite.scenarios.Add(1)
	faultSuite.faults.Add(full.Injected())
	checkFaultRecovery(t, mem, base, w, faultResult{})
	logFaultSuite(t, 1, full.Injected())
}

// TestFaultRandomSweep runs the workload on a disk that fails random
// operations, with a seed per scenario, and checks the same contract.
// Seeds take turns: EIO on any operation; ENOSPC on those that allocate;
// and EIO on table operations only, more often, so that flushes and
// compactions fail and are retried many times in one run. A failure names
// its seed: DKV_FAULT_SEED=n runs seed n alone, DKV_FAULT_SEEDS=n runs
// seeds 1 to n.
func TestFaultRandomSweep(t *testing.T) {
	seeds := []uint64{}
	n := 24
	if testing.Short() {
		n = 6
	}
	if s := os.Getenv("DKV_FAULT_SEEDS"); s != "" {
		var err error
		n, err = strconv.Atoi(s)
		require.NoError(t, err, "DKV_FAULT_SEEDS")
	}
	for s := range n {
		seeds = append(seeds, uint64(s+1)+dkv.SoakSeedBase())
	}
	if s := os.Getenv("DKV_FAULT_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "DKV_FAULT_SEED")
		seeds = []uint64{seed}
	}
	var faults, scenarios atomic.Int64
	t.Cleanup(func() { logFaultSuite(t, scenarios.Load(), faults.Load()) })
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			injErr, ops, files := vfs.ErrInjectedEIO, vfs.OpAll, vfs.FileAll
			prob := []float64{0.002, 0.005, 0.01}[seed/3%3]
			switch seed % 3 {
			case 1:
				injErr, ops = vfs.ErrInjectedENOSPC, vfs.OpWrite|vfs.OpSync|vfs.OpCreate|vfs.OpRename|vfs.OpTruncate
			case 2:
				files, prob = vfs.FileTable, 0.02
			}
			inj := vfs.Random(seed, prob, injErr, ops, files)
			res := runFaultScenario(t, faultScenario{inj: inj, want: nil, armAt: faultPhaseOpen, workload: seed,
				replay: fmt.Sprintf("DKV_FAULT_SEED=%d go test -race -tags invariants -run 'TestFaultRandomSweep' .", seed)})
			scenarios.Add(1)
			faults.Add(int64(len(res.faults)))
			t.Logf("seed %d: %s on %s of %s at p=%v: %d faults, %d failed opens, stopped=%v",
				seed, errnoName(injErr.(*vfs.InjectedError).Errno), ops, files, prob, len(res.faults), res.openFailures, res.stopped)
		})
	}
}

// TestFaultFileKindMatchesParseFilename checks that vfs.FileKindOf, which
// cannot import internal/base (both sit in the bottom layer), classifies
// names exactly as base.ParseFilename does: the names MakeFilename makes,
// and nothing else ("000001.", once taken for a log, is not a name).
func TestFaultFileKindMatchesParseFilename(t *testing.T) {
	kinds := map[base.FileType]vfs.FileKind{
		base.FileTypeLog: vfs.FileLog, base.FileTypeLock: vfs.FileLock, base.FileTypeTemp: vfs.FileTemp,
		base.FileTypeTable: vfs.FileTable, base.FileTypeManifest: vfs.FileManifest, base.FileTypeCurrent: vfs.FileCurrent,
	}
	check := func(name string) {
		want := vfs.FileOther
		if typ, num, ok := base.ParseFilename(name); ok {
			require.Equal(t, name, base.MakeFilename(typ, num), "ParseFilename accepts only what MakeFilename makes")
			want = kinds[typ]
		}
		require.Equal(t, want, vfs.FileKindOf(name), "%q", name)
	}
	for typ := range kinds {
		for _, num := range []base.FileNum{0, 1, 999999, 1000000, 1 << 40} {
			check(base.MakeFilename(typ, num))
		}
	}
	rng := rand.New(rand.NewPCG(4, 4))
	check("000001.")
	pieces := []string{"0", "1", "9", "000001", "00000", ".", "log", "sst", "tmp", "MANIFEST-", "CURRENT", "LOCK", "x", "-", "+", " "}
	for range 20000 {
		var b strings.Builder
		for range 1 + rng.IntN(5) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		check(b.String())
	}
}
