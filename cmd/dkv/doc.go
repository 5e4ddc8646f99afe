// Command dkv reads and writes a dkv database from the shell, one key per
// run.
//
// # Usage
//
//	dkv [--dir DIR] put KEY VALUE   set KEY to VALUE
//	dkv [--dir DIR] get KEY         print the value of KEY and a newline
//	dkv [--dir DIR] del KEY         delete KEY (a missing key is fine)
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
// # Exit status
//
//	0  success (del of a missing key included)
//	1  error: I/O, corruption, locked database, ...
//	2  usage error: wrong number of arguments, unknown command or flag,
//	   or an argument the database refuses (an empty or oversized key)
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
package main
