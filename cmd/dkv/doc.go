// Command dkv reads and writes a dkv database from the shell, one operation
// per run, and inspects the files of a database.
//
// # Usage
//
//	dkv [--dir DIR] put KEY VALUE   set KEY to VALUE
//	dkv [--dir DIR] get KEY         print the value of KEY and a newline
//	dkv [--dir DIR] del KEY         delete KEY (a missing key is fine)
//	dkv [--dir DIR] scan [--prefix P | --start S --end E] [--limit N] [--keys-only]
//	                                print the keys of a range and their values
//	dkv [--dir DIR] compact [--start S] [--end E]
//	                                compact a range of keys to the bottom level
//	dkv sstable [--entries=false] [--limit N] FILE
//	                                print a table's properties, blocks, entries
//	dkv wal [--lognum N] FILE       print a write-ahead log's batches and end
//	dkv manifest DIR                print the MANIFEST's edits and state
//	dkv lsm DIR                     print the LSM tree's levels and tables
//	dkv check DIR                   verify every table and log of a database
//	dkv help [COMMAND]              print help, as do --help and dkv alone
//
// --dir names the database directory, ./data by default; it is created if
// it does not exist. Each run opens the database with the default options,
// so put and del return only once their write is synced to disk, and closes
// it before exiting. A database is open in one process at a time: while
// another process (a running dkv, or a program using the library) holds it,
// dkv fails with a "locked" error.
//
// put and del print nothing on success; get prints the value as it is
// stored, byte for byte, then a newline. Errors and usage hints go to
// standard error, each error on a line starting "dkv: ".
//
// # Scanning and compacting
//
// scan and compact open the database in --dir, as put, get and del do.
//
//   - scan prints the keys of a range in key order with their values (or,
//     with --keys-only, without), as an aligned table, then how many it
//     printed: "3 keys". The range is every key, the keys starting with
//     --prefix, or those in [--start, --end): the start included, the end
//     not, either one optional; --prefix does not go with --start or --end
//     (exit 2). At most --limit keys are printed, 1000 by default, 0 for
//     all; the count then ends "(limit reached)" when the range holds more.
//     It reads the database as of when it starts; deleted keys do not
//     appear. A damaged table makes it print the keys read before the
//     damage, then exit 1.
//   - compact flushes the memtables to L0, then compacts the tables that
//     hold keys in [--start, --end] (both included; every key by default)
//     down to the bottom level, dropping overwritten values and deleted
//     keys. It prints the levels table of lsm (files, size, target, score)
//     before and after, then the tables' total size before and after; each
//     flush and compaction is reported on standard error as it ends. An
//     interrupt (Ctrl-C) stops it: compactions that finished are kept, the
//     one under way leaves nothing behind, and compact exits 1.
//
// # Inspecting a database
//
// sstable, wal, manifest, lsm and check read the files of a database directly,
// through the packages that own each format, and print what they hold as
// aligned tables on standard output. They take the file or directory as
// their argument (--dir is ignored), never write, and take no lock, so they
// work while another process holds the database open (what they read of a
// log or MANIFEST being appended to then ends at the last whole record).
//
//   - sstable FILE prints a table's properties, its blocks in file order
//     (offset, length, kind, compression, sizes, entries) and its entries in
//     key order (key, sequence number, kind, value), at most --limit of
//     them (1000 by default; 0 for all; --entries=false for none). Every
//     block's checksum is checked.
//   - wal FILE prints each record of a write-ahead log decoded as a batch:
//     its offset, the sequence number of each operation, the batch's count,
//     and the operations (SET key=value, DEL key); then how the log ends
//     (the offset past the last whole record, and whether the bytes after it
//     are a torn tail, and why). The log number, which the file's header
//     must match, comes from the name NNNNNN.log or from --lognum.
//   - manifest DIR prints each version edit of the MANIFEST that CURRENT
//     names, with its offset, then the state they add up to: comparer, log
//     number, next file number, last sequence number, and the tables of
//     each level.
//   - lsm DIR prints the shape of the tree from the MANIFEST: a row per
//     level (files, total size, target size, compaction score, key range),
//     then a row per table (level, file number, size, smallest and largest
//     user key, sequence numbers). The target and score are those
//     DB.Metrics reports for a database opened with the default options;
//     a score of 1 or more means the level is due for compaction.
//   - check DIR verifies a database: it replays the MANIFEST and checks
//     the version's invariants, reads every table the MANIFEST names
//     (present, of the recorded size, every block's checksum, keys strictly
//     increasing, first and last keys and sequence numbers as recorded) and
//     every log from the MANIFEST's log number on (every record a batch,
//     sequence numbers continuing the MANIFEST's last one without a gap).
//     It prints a row per table and log, one line per problem with its file
//     and offset, warnings (the newest log's torn tail, which Open
//     truncates; orphan files, which Open deletes) and a summary, and exits
//     1 ("damage found: N problems") when it finds damage, 0 otherwise.
//     It is meant for a closed database: on one in use, files that a
//     flush, a compaction or an append changes while check reads them can
//     show as problems.
//
// In every table dkv prints (the inspection commands', and scan's), values
// longer than 40 bytes (and, in lsm, keys) are cut with "…"; keys and
// values that are not plain text are shown Go-quoted ("bin\x00\xff").
// A file that fails a check makes the command print what it read before the
// damage, then exit 1 with a corruption error naming the file and offset.
//
// # Exit status
//
//	0  success (del of a missing key included)
//	1  error: I/O, corruption, locked database, interrupted compact, ...
//	2  usage error: wrong number of arguments, unknown command or flag,
//	   a bad flag value or combination (scan --prefix with --start), or
//	   an argument the command refuses (an empty or oversized key; a wal
//	   FILE not named NNNNNN.log, without --lognum)
//	3  key not found (get only)
//
// # Example
//
//	$ dkv --dir /tmp/demo put greeting hello
//	$ dkv --dir /tmp/demo get greeting
//	hello
//	$ dkv --dir /tmp/demo del greeting
//	$ dkv --dir /tmp/demo get greeting
//	dkv: key "greeting" not found
//	$ echo $?
//	3
//	$ dkv wal /tmp/demo/000001.log
//	log 000001
//	  offset  seq  count  op
//	  35      1    1      SET greeting=hello
//	  108     2    1      DEL greeting
//	  2 records, 2 operations
//
//	tail
//	  end     160
//	  torn    false
//	  reason  -
//	$ dkv --dir /tmp/demo put user1 alice
//	$ dkv --dir /tmp/demo put user2 bob
//	$ dkv --dir /tmp/demo scan --prefix user
//	key    value
//	user1  alice
//	user2  bob
//	2 keys
package main
