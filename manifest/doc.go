// Package manifest records which tables make up the database: the Version
// (tables per level), the VersionEdits that change it, and the MANIFEST
// file that logs those edits.
//
// The MANIFEST is a log of edits in the write-ahead log's record framing
// (package wal): its first record is a snapshot of the whole state, each
// later record one change (a flush adds an L0 table; a compaction replaces
// tables). CURRENT, a one-line file replaced atomically, names the live
// MANIFEST. Recovery replays the MANIFEST named by CURRENT to rebuild the
// Version and the counters the write-ahead logs continue from (State).
// docs/format/manifest.md specifies the bytes.
//
// Versions are immutable: Apply returns a new one, so readers can hold a
// Version while edits install the next. FileMetadata values are shared
// between versions and never modified.
//
// Writer.Append returns once the edit is durable; its errors are sticky, and
// a caller that sees one must stop writing (the DB's fail-stop rule), since
// what the MANIFEST holds on disk is then unknown.
package manifest
