// Command dkv reads and writes a dkv database from the shell, one operation
// per run, and inspects the files of a database. Its data commands (get,
// put, del, cas, scan) also work on a cluster (see "Cluster").
//
// # Usage
//
//	dkv [FLAGS] put [--explain] KEY VALUE
//	                                set KEY to VALUE
//	dkv [FLAGS] get [--explain] KEY print the value of KEY and a newline
//	dkv [FLAGS] del [--explain] KEY delete KEY (a missing key is fine)
//	dkv [FLAGS] cas [--absent] [--delete] KEY [OLD] [NEW]
//	                                set KEY to NEW (--delete: delete it) if its
//	                                value is OLD (--absent: it has none)
//	dkv [FLAGS] delete-range START END
//	                                delete the keys in [START, END)
//	dkv [FLAGS] scan [--prefix P | --start S --end E] [--limit N] [--keys-only]
//	                                print the keys of a range and their values
//	dkv [FLAGS] space [--start S] [--end E]
//	                                estimate the size of [S, E) and a split key
//	dkv [FLAGS] flush               write the memtables to an L0 table
//	dkv [FLAGS] compact [--explain] [--start S] [--end E]
//	                                compact a range of keys to the bottom level
//	dkv [FLAGS] checkpoint DEST     write a copy of the database to DEST
//	dkv [FLAGS] sstable [--entries=false] [--limit N] FILE
//	                                print a table's properties, blocks, entries
//	dkv [FLAGS] wal [--lognum N] FILE
//	                                print a write-ahead log's batches and end
//	dkv [FLAGS] manifest DIR        print the MANIFEST's edits and state
//	dkv [FLAGS] lsm [--svg FILE] DIR
//	                                print (and draw) the LSM tree's levels and tables
//	dkv [FLAGS] check DIR           verify every table and log of a database
//	dkv [FLAGS] start [--id N] [--addr H:P] [--http H:P] [--cluster ID=H:P,... | --join H:P]
//	                                run one node of a cluster on --dir
//	dkv [FLAGS] demo [--duration D] [--quiet]
//	                                run a three-node cluster on this machine
//	dkv [FLAGS] range list|show ID|split ID [--key K] --endpoints H:P,...
//	                                list, show and split a cluster's ranges
//	dkv help [COMMAND]              print help, as does --help (dkv alone
//	                                prints the usage on stderr, exit 2)
//
// FLAGS, which go before or after the command, are:
//
//   - --dir DIR: the database directory, ./data by default.
//   - -o, --output text|json: aligned tables (the default) or one JSON
//     object (see "Output").
//   - --hex: keys and values are given, and printed, in hex (see "Hex").
//
// The data commands get, put, del, cas and scan also take the flags of
// "Cluster": --endpoints, --timeout, --certs-dir and --user.
//
// # Opening the database
//
// put, del, delete-range, flush, compact and checkpoint open the database in
// --dir to write, creating it if it does not exist, with the default
// options, so their writes return only once they are synced to disk.
// get, scan and space only read: they open it with Options.ReadOnly,
// which writes nothing to the directory (not even the truncation of a
// torn log tail) and creates nothing, so the directory must hold a
// database: "no database in DIR" (exit 1) otherwise; they see the writes
// not yet flushed from the logs, as a writer would. Each run closes the
// database before exiting. While another process (a running dkv that
// writes, or a program using the library) holds the database open, every
// one of them fails with a "locked" error: a read-only open shares the
// directory with other read-only opens, never with a writer.
//
// put, del and delete-range print nothing on success; get prints the value
// as it is stored, byte for byte, then a newline. Errors and usage hints
// go to standard error, each error on a line starting "dkv: "; so do logs
// and progress (compact's and checkpoint's flushes and compactions).
//
// # Writing, scanning and estimating
//
//   - cas KEY OLD NEW compares and swaps: if the value of KEY is OLD, it
//     sets it to NEW, atomically; otherwise it changes nothing. --absent
//     takes the place of OLD and means "KEY has no value"; --delete takes
//     the place of NEW and deletes KEY; each removes its argument (cas
//     --absent KEY NEW, cas --delete KEY OLD). An empty argument ("") is
//     the empty value, not "no value". cas prints "swapped" and exits 0,
//     or prints "not swapped" and exits 4, so that a script can test it
//     (dkv cas --absent lock me && ...). With -o json it prints {"key",
//     "old", "new", "swapped"}, "old" or "new" null for no value. On --dir
//     it holds the database open from the read to the synced write.
//   - delete-range START END deletes the keys in [START, END) with one
//     range tombstone, whatever their number; an empty START or END ("")
//     is no bound. START equal to END deletes nothing; START above END is
//     a usage error (exit 2).
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
//   - space estimates the disk space the keys in [--start, --end) take in
//     the tables (DB.EstimateDiskUsage: every version and tombstone,
//     not the writes still in the logs), and a key that splits it in about
//     half (DB.EstimateSplitKey), or "none" when the range holds too little
//     to split.
//   - compact flushes the memtables to L0, then compacts the tables that
//     hold keys in [--start, --end) (the start included, the end not;
//     every key by default) down to the bottom level, dropping overwritten values and deleted
//     keys. It prints the levels table of lsm (files, size, target, score)
//     before and after, then the tables' total size before and after; each
//     flush and compaction is reported on standard error as it ends. An
//     interrupt (Ctrl-C) stops it: compactions that finished are kept, the
//     one under way leaves nothing behind, and compact exits 1.
//   - checkpoint DEST writes a copy of the database as of one moment to
//     DEST, which must not exist (exit 2 if it does) in a directory that
//     does (DB.Checkpoint): it flushes the memtables, hard-links the tables
//     (copying those it cannot link) and writes a MANIFEST. It prints DEST,
//     the number of tables, how many are links to the database's files and
//     how many copies, and the size of DEST's files. DEST opens as a
//     database of its own. An interrupt stops it, leaving no DEST, exit 1.
//
// # Cluster
//
// With --endpoints H:P[,H:P...], or without that flag the environment
// variable DKV_ENDPOINTS, get, put, del, cas and scan talk to a cluster
// (nodes started with dkv start) through the Go client package
// (github.com/distributedkv/dkv/client) instead of opening --dir; --dir
// with either is a usage error (exit 2). Any one node that answers is
// enough: the client follows the nodes to each key's leader. Their
// output, -o json and --hex are as on --dir, and so are the exit codes
// (get of a missing key exits 3, cas that did not swap 4); --explain
// does not go with --endpoints.
//
//   - --timeout D bounds the whole command (10s by default); a node that
//     is down or not the leader is skipped, and when no node answers in
//     time the command exits 1.
//   - --certs-dir DIR connects with TLS as --user USER (root by default):
//     it presents DIR/client.USER.crt and DIR/client.USER.key and checks
//     the nodes against DIR/ca.crt.
//   - get reads from the leader of the key's range, after every write
//     acknowledged before it started; scan reads range after range, each
//     key once and in order.
//   - put, del and cas return once a quorum of the key's replicas hold
//     the write durably. A write whose answer is lost (a deadline, a node
//     that failed with the write in flight) exits 1 with a message saying
//     it may or may not have been applied; it is never retried blindly.
//   - A cluster takes keys of at most 4 KiB and values of at most 1 MiB;
//     a longer one is a usage error (exit 2), refused before it is sent.
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
//     and the operations (SET key=value, DEL key, RANGEDEL [start, end));
//     then how the log ends (the offset past the last whole record, and
//     whether the bytes after it are a torn tail, and why). The log number,
//     which the file's header must match, comes from the name NNNNNN.log
//     or from --lognum.
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
// # Seeing inside
//
// docs/tour.md follows one key through the engine with these; its outputs
// are checked by a test, so they are what the commands print.
//
//   - get --explain prints each step of the read path as it happened: each
//     memtable (what its key filter said, what it held), each L0 table
//     newest first and each level (the table its key range chose, what the
//     bloom filter said, the index entry and data block read and whether
//     the block came from the block cache or the disk), and what decided
//     the answer: a version, a tombstone, a range tombstone, or nothing.
//     A missing key is an answer too: its steps go to standard output like
//     a found key's, and get still exits 3.
//   - put --explain and del --explain print the sequence number the write
//     got, its record's place and size in the write-ahead log, how many
//     records shared its write and its fsync (group commit), and the
//     memtable's size afterwards.
//   - compact --explain prints each level's compaction score and what the
//     background picker would run next, then each compaction compact ran
//     and why (with -o json, as the members "picker" and "compactions").
//   - flush writes the memtables to an L0 table, so that a table can be
//     seen before compaction moves it.
//   - lsm --svg FILE draws the tree: a row per level, each table a box
//     placed by its key range and sized by its bytes, on a key axis where
//     a range is as wide as the bytes the tables hold in it.
//
// # Output
//
// By default, what people read goes to standard output as aligned tables.
// In them (lsm, check, compact's lists), a table or log is named by its
// file number, 000089, the column or section saying which, and sizes are
// human (1.3 KiB) while offsets stay in bytes; errors and problems give a
// file's path.
//
// With -o json, every command writes instead one JSON object, indented,
// then a newline; a stream (scan's keys, a table's entries, a log's
// records) is an array in that object, never JSON lines. put, del and
// delete-range, silent in text, print what they wrote. Sizes are numbers
// of bytes; a "file", or a list of tables, holds file names (000089.sst,
// 000006.log) that join with the directory; values are never cut; and
// what does not apply (a "-" in text) is null. A command that fails
// before it has anything to report writes nothing on standard output (get
// of a missing key without --explain, a locked database); one that stops
// at an error after reading something (scan, sstable, wal and manifest at
// damage, an interrupted compact) writes what it read, with an "error"
// member holding the message that standard error shows too. check's
// problems are its report: an array, not an "error". Each command's help
// lists the members of its object.
//
// A key or value in JSON is always a string, whole, in every command's
// document: under --hex, its bytes in lowercase hex; otherwise its bytes
// as text, which is exact when they are UTF-8 (JSON escapes control
// characters). Bytes that are not UTF-8 a JSON string cannot hold, so
// rather than print them changed, or as another type, the command writes
// no document and exits 2, saying to pass --hex; a key or value given on
// the command line that is not UTF-8 is refused the same way before
// anything is done. A program that may meet binary keys passes --hex and
// decodes every key from hex. Internal keys (in sstable, manifest) are
// objects {"key", "seq", "kind"} whose "key" follows the same rule.
//
// # Hex
//
// --hex makes the keys and values given on the command line hex: put's
// KEY and VALUE, get's, del's and delete-range's keys, and the key flags
// --prefix, --start and --end of scan, space and compact. Hex digits may
// be either case and come in pairs; anything else is a usage error (exit
// 2). Under --hex, keys and values are printed in lowercase hex too: get's
// value, scan's and space's keys, and the keys (and values) that sstable,
// wal, manifest and lsm show; an empty one shows as "". Cut values show
// their first 40 bytes in hex, then "…".
//
// # Exit status
//
//	0  success (del of a missing key included; cas that swapped)
//	1  error: I/O, corruption, locked database, no database in --dir
//	   (get, scan, space), interrupted compact or checkpoint, no node
//	   of --endpoints answering before --timeout, a write to a cluster
//	   that may or may not have been applied, ...
//	2  usage error: no command, wrong number of arguments, unknown
//	   command or flag, a bad flag value or combination (scan --prefix
//	   with --start, -o yaml, -o json without --hex on keys or values
//	   that are not UTF-8 text, --dir with --endpoints or DKV_ENDPOINTS),
//	   or an argument the command refuses (an empty or oversized key, a
//	   start above the end, bad hex under --hex, a checkpoint DEST that
//	   exists, a wal FILE not named NNNNNN.log without --lognum)
//	3  key not found (get only)
//	4  not swapped: the value was not OLD, nothing changed (cas only)
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
//	  93      2    1      DEL greeting
//	  2 records, 2 operations
//
//	tail
//	  end     145
//	  torn    false
//	  reason  -
//	$ dkv --dir /tmp/demo put user1 alice
//	$ dkv --dir /tmp/demo put user2 bob
//	$ dkv --dir /tmp/demo scan --prefix user
//	key    value
//	user1  alice
//	user2  bob
//	2 keys
//	$ dkv --dir /tmp/demo -o json get user1
//	{
//	  "key": "user1",
//	  "value": "alice"
//	}
//	$ dkv --dir /tmp/demo --hex get 7573657231
//	616c696365
//	$ dkv --dir /tmp/demo delete-range user1 user2
//	$ dkv --dir /tmp/demo --hex scan
//	key         value
//	7573657232  626f62
//	1 key
//	$ dkv --dir /tmp/demo cas user2 bob robert
//	swapped
//	$ dkv --dir /tmp/demo cas --absent user2 carol
//	not swapped
//	dkv: key "user2" has a value
//	$ echo $?
//	4
//	$ export DKV_ENDPOINTS=127.0.0.1:7001,127.0.0.1:7002
//	$ dkv put greeting hello
//	$ dkv get greeting
//	hello
package main
