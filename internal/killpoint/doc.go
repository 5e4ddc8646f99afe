// Package killpoint marks the places in the engine where a crash is most
// interesting — between a write and its fsync, between a table and the
// MANIFEST edit that names it, between the temporary file and the rename
// that makes it CURRENT — so that a crash test can kill the process exactly
// there, as RocksDB's db_crashtest does with its TEST_KILL_RANDOM points.
//
// In a normal build Hit does nothing and costs nothing. In a build with the
// "invariants" tag on a Unix system (go test -tags invariants, which CI
// uses), Hit reads two environment variables once:
//
//	DKV_KILLPOINT=name:n        SIGKILL the process at the n-th hit of the
//	                            named point (n defaults to 1)
//	DKV_KILLPOINT=*:odds:seed   SIGKILL at each hit of any point with
//	                            probability 1/odds, from a seeded generator
//
// and, when armed, writes "dkv killpoint: <name> hit <n>" to standard
// error just before the signal, so that the test that started the process
// knows where it died. Without DKV_KILLPOINT nothing happens even in such a
// build. Only test processes set it: the library never ends the process on
// its own.
package killpoint

// Point names a kill point. The names are stable: crash tests and soak
// scripts refer to them.
type Point string

// The kill points, in the order a write meets them.
const (
	// WALWrite: a log (or MANIFEST) writer is about to hand buffered
	// records to the OS.
	WALWrite Point = "wal.write"
	// WALSync: the records reached the OS, the fsync has not begun.
	WALSync Point = "wal.sync"
	// WALSynced: the fsync returned; the writers waiting for it are not
	// yet acknowledged.
	WALSynced Point = "wal.synced"
	// CommitLogged: a batch is appended to the log, not yet applied to the
	// memtable.
	CommitLogged Point = "commit.logged"
	// RotateLogSealed: a full memtable's log is sealed and closed; the new
	// log does not exist yet.
	RotateLogSealed Point = "rotate.log-sealed"
	// RotateLogCreated: the new log exists; the full memtable is not yet
	// queued for flushing.
	RotateLogCreated Point = "rotate.log-created"
	// FlushTableWritten: a flushed table is durable; the MANIFEST does not
	// name it yet.
	FlushTableWritten Point = "flush.table-written"
	// FlushInstalled: the MANIFEST names the flushed table; the logs it
	// covers still exist.
	FlushInstalled Point = "flush.installed"
	// FlushLogRemoved: one obsolete log was removed, maybe not the last.
	FlushLogRemoved Point = "flush.log-removed"
	// CompactionOutputWritten: one compaction output table is written and
	// fsynced; its directory entry is synced once all outputs are.
	CompactionOutputWritten Point = "compaction.output-written"
	// CompactionInstalling: every output is durable; the MANIFEST edit
	// that swaps inputs for outputs is not written.
	CompactionInstalling Point = "compaction.installing"
	// CompactionInstalled: the MANIFEST edit is durable; the inputs still
	// exist.
	CompactionInstalled Point = "compaction.installed"
	// TableRemoved: one obsolete table was removed, maybe not the last.
	TableRemoved Point = "obsolete.table-removed"
	// ManifestEditDurable: a version edit is durable in the MANIFEST; the
	// version it makes is not installed.
	ManifestEditDurable Point = "manifest.edit-durable"
	// ManifestCreated: a new MANIFEST with a snapshot of the state is
	// durable; CURRENT still names the old one.
	ManifestCreated Point = "manifest.created"
	// CurrentTempSynced: the temporary file holding CURRENT's new contents
	// is durable; the rename has not happened.
	CurrentTempSynced Point = "current.temp-synced"
	// CurrentRenamed: CURRENT was replaced; the directory is not yet
	// fsynced.
	CurrentRenamed Point = "current.renamed"
	// ManifestRotated: CURRENT names the new MANIFEST; the old one is
	// removed.
	ManifestRotated Point = "manifest.rotated"
	// OpenRecovered: Open replayed the logs, wrote a new MANIFEST and
	// removed obsolete files; the database is not yet serving.
	OpenRecovered Point = "open.recovered"
)

// All lists every kill point.
var All = []Point{
	WALWrite, WALSync, WALSynced, CommitLogged, RotateLogSealed, RotateLogCreated,
	FlushTableWritten, FlushInstalled, FlushLogRemoved,
	CompactionOutputWritten, CompactionInstalling, CompactionInstalled, TableRemoved,
	ManifestEditDurable, ManifestCreated, CurrentTempSynced, CurrentRenamed, ManifestRotated,
	OpenRecovered,
}
