package dkv_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// Regression test for issue 13, bug 1: an Ingest racing a compaction
// stopped all writes. Ingest chose its tables' levels from the current
// version, then released the DB mutex while its MANIFEST edit was written
// and synced; a compaction planned in that window, from the version
// without the ingested table, wrote an output over the gap the table went
// into, and the MANIFEST refused the overlap ("bad version edit (a bug)"),
// after which every write returned ErrStopped.
//
// L6 holds [a] and [c], L5 the newer [a'] and [c']. Compact(nil, nil)
// first moves an L0 table [x] down; as that step ends, Ingest([b]) places
// b into L6's gap and is held in its MANIFEST sync; Compact then plans
// L5 -> L6 over [a, c]. It must wait for the ingest (or see b): both calls
// succeed, and writes go on.
func TestRegressionIngestRacingCompactionStopsWrites(t *testing.T) {
	var holdSync, armed atomic.Bool
	syncHeld := make(chan struct{})
	releaseSync := make(chan struct{})
	fs := vfs.NewErrorFS(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op, kind vfs.FileKind, _ string) error {
		if op == vfs.OpSync && kind == vfs.FileManifest && holdSync.CompareAndSwap(true, false) {
			close(syncHeld)
			<-releaseSync
		}
		return nil
	}))
	var db *dkv.DB
	ingested := make(chan error, 1)
	compactionBegan := make(chan dkv.CompactionInfo, 4)
	events := &dkv.EventListener{
		CompactionBegin: func(ci dkv.CompactionInfo) {
			if ci.StartLevel == 5 {
				compactionBegan <- ci
			}
		},
		CompactionEnd: func(ci dkv.CompactionInfo) {
			if ci.StartLevel == 0 && armed.CompareAndSwap(true, false) {
				holdSync.Store(true)
				go func() { ingested <- db.Ingest([]string{"/ext/b.sst"}) }()
				<-syncHeld // b's level is chosen (L6), its edit not yet installed
			}
		},
	}
	db, err := dkv.Open("/db", &dkv.Options{FS: fs, Logger: slog.New(slog.DiscardHandler), EventListener: events})
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()

	// L6: [a] [c]; L5: [a'] [c'] (ingested above the keys they overlap).
	require.NoError(t, db.Put([]byte("a"), []byte("a")))
	require.NoError(t, db.Compact(ctx, nil, nil))
	require.NoError(t, db.Put([]byte("c"), []byte("c")))
	require.NoError(t, db.Compact(ctx, []byte("c"), []byte("d")))
	writeExternal(t, fs, "/ext/a2.sst", extOp{key: "a", value: "a'"})
	writeExternal(t, fs, "/ext/c2.sst", extOp{key: "c", value: "c'"})
	require.NoError(t, db.Ingest([]string{"/ext/a2.sst"}))
	require.NoError(t, db.Ingest([]string{"/ext/c2.sst"}))
	require.Equal(t, []int{5, 5, 6, 6}, levelOf(t, db), "the setup")
	writeExternal(t, fs, "/ext/b.sst", extOp{key: "b", value: "b"})
	require.NoError(t, db.Put([]byte("x"), []byte("x")))

	armed.Store(true)
	compacted := make(chan error, 1)
	go func() { compacted <- db.Compact(ctx, nil, nil) }()
	<-syncHeld
	select {
	case <-compactionBegan: // planned from the version without b: what the bug did
	case <-time.After(200 * time.Millisecond): // waiting for the ingest, as it must
	}
	close(releaseSync)
	ierr, cerr := <-ingested, <-compacted
	perr := db.Put([]byte("z"), []byte("z"))
	if ierr != nil || cerr != nil || perr != nil {
		t.Fatalf("Ingest = %v, Compact = %v, Put afterwards = %v (ErrStopped: %v)",
			ierr, cerr, perr, errors.Is(perr, dkv.ErrStopped))
	}
	require.Equal(t, map[string]string{"a": "a'", "b": "b", "c": "c'", "x": "x", "z": "z"}, dkv.DBContents(t, db))
}

// Regression test for a review finding on issue 13: Ingest installed the
// version holding its tables before it published their sequence number
// S. A compaction started in between listed the open snapshots without
// one taken meanwhile at S-1, merged the ingested k@S with the older k
// below it and dropped that one, which the snapshot had read. The window
// is widest when the edit rotates the MANIFEST (held open here), while a
// flushed L0 table is compacted beside it.
func TestRegressionIngestInstallBeforePublish(t *testing.T) {
	var holdRotate, watchTables atomic.Bool
	var tablesCreated atomic.Int32
	rotating, release := make(chan struct{}), make(chan struct{})
	compactionWriting := make(chan struct{}, 1)
	mem := vfs.NewMem()
	fs := vfs.NewErrorFS(mem, vfs.InjectorFunc(func(op vfs.Op, kind vfs.FileKind, _ string) error {
		if op == vfs.OpCreate && kind == vfs.FileManifest && holdRotate.CompareAndSwap(true, false) {
			close(rotating)
			<-release
		}
		// The first table the Ingest creates is its own rewrite; the
		// second is the compaction's output, which it writes after it
		// listed the snapshots to keep versions for.
		if op == vfs.OpCreate && kind == vfs.FileTable && watchTables.Load() && tablesCreated.Add(1) == 2 {
			compactionWriting <- struct{}{}
		}
		return nil
	}))
	compacted := make(chan struct{}, 4)
	db, err := dkv.Open("/db", &dkv.Options{FS: fs, NoSync: true, Logger: slog.New(slog.DiscardHandler),
		MaxManifestFileSize: 1 << 10, L0CompactionThreshold: 2,
		EventListener: &dkv.EventListener{CompactionEnd: func(dkv.CompactionInfo) { compacted <- struct{}{} }}})
	require.NoError(t, err)
	defer db.Close()
	k := "k" + strings.Repeat("x", 700) // large bounds: every MANIFEST edit rotates it
	require.NoError(t, db.Put([]byte(k), []byte("old")))
	require.NoError(t, db.Flush())
	writeExternal(t, mem, "/ext/k.sst", extOp{key: k, value: "ingested"})

	holdRotate.Store(true)
	watchTables.Store(true)
	ingested := make(chan error, 1)
	go func() { ingested <- db.Ingest([]string{"/ext/k.sst"}) }()
	<-rotating          // the edit is durable and installed; the rotation is held
	<-compactionWriting // L0 (the flushed table and the ingested one) is compacting
	snap := db.NewSnapshot()
	defer snap.Close()
	v, err := snap.Get([]byte(k))
	require.NoError(t, err)
	before := string(v)
	close(release)
	require.NoError(t, <-ingested)
	<-compacted
	v, err = snap.Get([]byte(k))
	require.NoError(t, err, "the snapshot lost the version it read before the compaction")
	require.Equal(t, before, string(v), "a snapshot reads the same value twice")
}
