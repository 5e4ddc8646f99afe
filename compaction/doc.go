// Package compaction decides which tables to merge and merges them.
//
// The LSM is leveled: L0 holds tables flushed from memtables (they may
// overlap one another); L1 to L6 each hold one sorted run of tables that do
// not overlap, each level about LevelMultiplier (10) times the size of the
// one above, from LBaseMaxBytes for L1. Compaction keeps that shape:
//
//   - When L0 holds L0CompactionThreshold tables, they are merged with the
//     L1 tables they overlap into new L1 tables: reads consult every L0
//     table, so their number bounds read amplification.
//   - When a level outgrows its target, one of its tables is merged with
//     the tables it overlaps in the next level — the one that overlaps the
//     fewest bytes there per byte of its own, so each compaction stays small.
//   - A table with nothing to merge with moves down by a version edit alone.
//
// The picker (Pick, Manual, Scores) is a pure function of a version, the
// options and the tables already being compacted; it returns a Plan. The
// runner (Run) executes a plan: it merges the inputs in key order, keeps only
// the versions an open snapshot or a current reader can see, drops
// tombstones with nothing left below them, cuts the output into tables of
// TargetFileSize at user-key boundaries, and returns the version edit. The
// caller logs the edit to the MANIFEST, installs the new version and deletes
// the inputs once no reader uses them.
package compaction
