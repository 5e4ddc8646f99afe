package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/rangedel"
	"github.com/distributedkv/dkv/manifest"
	"github.com/distributedkv/dkv/sstable"
	"github.com/distributedkv/dkv/vfs"
	"github.com/distributedkv/dkv/wal"
)

func newCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check DIR",
		Short: "Verify every file of the database in DIR",
		Long: `Verify the database in DIR without opening it: read CURRENT and replay the
MANIFEST it names, check the version's invariants (L0 newest first, levels
1 to 6 sorted and not overlapping), then read every file the database
needs from end to end:

  - each table the MANIFEST names must exist with the size it records and
    open as a table; every block's checksum is verified, every entry read:
    keys strictly increasing, the first and last the MANIFEST's smallest
    and largest, every sequence number within the table's recorded range;
  - each write-ahead log numbered from the MANIFEST's log number on (the
    first of them must be that number) is read to its end and every
    record decoded as a batch; the sequence numbers must continue the
    MANIFEST's last one, log after log, without a gap.

check prints a row per table and per log with what it read (blocks,
entries, records, operations), then one line per problem, naming the file
and the offset of the damage, then a summary. Warnings are not damage: the
torn tail of the newest log (an append a crash interrupted, which Open
truncates) and files the MANIFEST does not name
(orphans: tables, older logs and MANIFESTs, temporary files, which Open
deletes). Each file is checked up to its first problem. When the MANIFEST
does not replay, the tables and logs of the directory are checked on their
own, without what only the MANIFEST knows (levels, sizes, key and sequence
ranges).

check exits 0 when the database is sound, warnings or not, and 1 when it
found damage ("damage found: N problems") or could not read DIR. It only
reads: it changes no file and takes no lock. It is meant for a closed
database: on one in use, the files that change while check reads them (a
log being appended to, tables and logs that a flush or compaction
replaces) can show as problems. --dir is ignored.

With -o json, check prints {"dir", "manifest": [{"file", "result"}, …],
"manifest_replayed", "tables": [{"level", "file", "size", "blocks",
"entries", "smallest_seq", "largest_seq", "result"}, …], "logs":
[{"file", "size", "records", "operations", "first_seq", "last_seq",
"end", "result"}, …], "problems": […], "warnings": […], "summary":
{…}}, what was not read or is not known null.`,
		Args: exactArgs("DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return checkDB(cmd.OutOrStdout(), g, args[0])
		},
	}
}

// checker accumulates what check read and found in one database directory.
type checker struct {
	dir      string
	head     []headCheck // CURRENT and the MANIFEST
	tables   []tableCheck
	logs     []logCheck
	problems []error  // damage: each names a file and, when known, an offset
	warnings []string // what is not damage but worth knowing
}

// headCheck is what check read of CURRENT or of the MANIFEST.
type headCheck struct{ file, result string }

// tableCheck is what check read of one table. Counts are -1 when they
// were not reached.
type tableCheck struct {
	level           string // "L0".."L6"; "-" when the MANIFEST is unreadable
	num             base.FileNum
	size            int64
	blocks, entries int
	seqs            string
	meta            *manifest.FileMetadata // what the MANIFEST records; nil: unknown
	result          string
}

// logCheck is what check read of one write-ahead log.
type logCheck struct {
	num          base.FileNum
	size, end    int64
	records, ops int
	first, last  base.SeqNum // of the operations read; first 0: none
	result       string
}

// checkDB verifies the database in dir and prints the report on w. It
// returns an error when it found damage or could not read dir.
func checkDB(w io.Writer, g *globals, dir string) error {
	c := &checker{dir: dir}
	names, err := vfs.Default.List(dir)
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no database in %s: %w", dir, err)
	case !slices.Contains(names, "CURRENT"):
		return fmt.Errorf("no database in %s", dir)
	}
	st, manifestNum := c.checkManifest()
	if !g.json() {
		fmt.Fprintf(w, "database %s\n", dir)
		tw := newTable(w)
		for _, h := range c.head {
			fmt.Fprintf(tw, "  %s\t%s\n", h.file, h.result)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	if st != nil {
		c.checkVersion(st, manifestNum)
		c.checkLogs(st.LogNum, st.LastSeqNum, names)
		c.findOrphans(st, manifestNum, names)
	} else {
		if !g.json() {
			fmt.Fprintf(w, "  without a MANIFEST to go by, the tables and logs of the directory are checked on their own\n")
		}
		c.checkDirectory(names)
	}
	report := c.report
	if g.json() {
		report = func(w io.Writer) error { return g.writeJSON(w, c.json(st != nil)) }
	}
	if err := report(w); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if n := len(c.problems); n > 0 {
		return fmt.Errorf("damage found: %s", count(n, "problem", "problems"))
	}
	return nil
}

// checkManifest reads CURRENT and replays the MANIFEST it names, with a
// row for each in c.head. It returns nil when either is damaged (a
// problem).
func (c *checker) checkManifest() (*manifest.State, base.FileNum) {
	num, ok, err := manifest.ReadCurrent(vfs.Default, c.dir)
	if err == nil && !ok {
		err = base.CorruptionErrorf(c.path("CURRENT"), -1, "CURRENT vanished while it was read")
	}
	if err != nil {
		c.head = append(c.head, headCheck{"CURRENT", "damaged"})
		c.problem(err)
		return nil, 0
	}
	name := base.MakeFilename(base.FileTypeManifest, num)
	c.head = append(c.head, headCheck{"CURRENT", name})
	st, err := replayManifest(c.dir, num, nil)
	if err != nil {
		c.head = append(c.head, headCheck{name, "damaged"})
		c.problem(err)
		return nil, 0
	}
	c.head = append(c.head, headCheck{name, fmt.Sprintf("%s, %s; log number %s, next file %s, last seqnum %d",
		count(st.Edits, "edit", "edits"), count(st.Version.NumFiles(), "table", "tables"),
		st.LogNum, st.NextFileNum, st.LastSeqNum)})
	return st, num
}

// checkVersion checks the version's invariants and every table it names.
func (c *checker) checkVersion(st *manifest.State, manifestNum base.FileNum) {
	if err := st.Version.CheckOrdering(base.DefaultComparer.Compare); err != nil {
		c.problem(base.CorruptionErrorf(c.path(base.MakeFilename(base.FileTypeManifest, manifestNum)), -1,
			"the version breaks an invariant: %v", err))
	}
	for level, files := range st.Version.Levels {
		for _, f := range files {
			c.tables = append(c.tables, c.checkTable(fmt.Sprintf("L%d", level), f, true, st.LastSeqNum))
		}
	}
}

// checkTable reads the table f.FileNum from end to end. When known, f is
// what the MANIFEST records of it (level, size, keys, sequence numbers)
// and lastSeq the MANIFEST's last sequence number; otherwise (an
// unreadable MANIFEST) only the table's own consistency is checked.
func (c *checker) checkTable(level string, f *manifest.FileMetadata, known bool, lastSeq base.SeqNum) tableCheck {
	row := tableCheck{level: level, num: f.FileNum, size: -1, blocks: -1, entries: -1, seqs: "-", result: "damaged"}
	if known {
		row.seqs = fmt.Sprintf("%d-%d", f.SmallestSeq, f.LargestSeq)
		row.meta = f
	}
	path := c.path(base.MakeFilename(base.FileTypeTable, f.FileNum))
	file, size, err := openFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			row.result = "missing"
			c.problem(base.CorruptionErrorf(path, -1, "missing: the MANIFEST names it in %s", level))
		} else {
			c.problem(err)
		}
		return row
	}
	row.size = size
	if known && uint64(size) != f.Size {
		_ = file.Close()
		c.problem(base.CorruptionErrorf(path, -1, "the file is %d bytes, the MANIFEST says %d", size, f.Size))
		return row
	}
	if known && f.LargestSeq > lastSeq {
		_ = file.Close()
		c.problem(base.CorruptionErrorf(path, -1, "sequence numbers up to %d, above the MANIFEST's last sequence number %d",
			f.LargestSeq, lastSeq))
		return row
	}
	r, err := sstable.Open(file, path, size, sstable.ReaderOptions{})
	if err != nil {
		_ = file.Close()
		c.problem(err)
		return row
	}
	defer r.Close()
	layout, err := r.Layout() // reads and checks every block
	if err != nil {
		c.problem(err)
		return row
	}
	row.blocks = len(layout.Blocks)
	row.entries, err = checkEntries(r, layout, path, f, known)
	if err != nil {
		c.problem(err)
		return row
	}
	row.result = "ok"
	return row
}

// checkEntries iterates the table's entries and checks their order, kinds
// and sequence numbers, and (when the MANIFEST recorded them) the first
// and last keys and the sequence range. It returns the number of entries.
// A problem names the offset of the data block holding the entry.
func checkEntries(r *sstable.Reader, layout *sstable.Layout, path string, f *manifest.FileMetadata, known bool) (int, error) {
	cmp := base.DefaultComparer.Compare
	// blockAt returns the offset of the data block of entry n.
	blockAt := func(n int) int64 {
		for _, b := range layout.Blocks {
			if b.Kind != "data" {
				break
			}
			if n < b.Entries {
				return int64(b.Handle.Offset)
			}
			n -= b.Entries
		}
		return -1
	}
	spans := r.RangeDels().Spans() // checked by sstable.Open
	if known && len(spans) > 0 != f.HasRangeDels {
		return 0, base.CorruptionErrorf(path, -1, "the table has %d range tombstone spans, the MANIFEST says range tombstones %v", len(spans), f.HasRangeDels)
	}
	for _, s := range spans {
		if known && (s.Seqs[len(s.Seqs)-1] < f.SmallestSeq || s.Seqs[0] > f.LargestSeq) {
			return 0, base.CorruptionErrorf(path, -1, "range tombstone %s outside the sequence numbers %d-%d the MANIFEST records",
				s, f.SmallestSeq, f.LargestSeq)
		}
	}
	it := r.NewIter()
	defer it.Close()
	var first, prev base.InternalKey
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		switch {
		case !k.Kind().IsPoint():
			return n, base.CorruptionErrorf(path, blockAt(n), "entry %d: key %s of a kind a data block cannot hold", n, k)
		case n > 0 && base.InternalCompare(cmp, prev, k) >= 0:
			return n, base.CorruptionErrorf(path, blockAt(n), "entry %d: key %s after %s", n, k, prev)
		case known && (k.SeqNum() < f.SmallestSeq || k.SeqNum() > f.LargestSeq):
			return n, base.CorruptionErrorf(path, blockAt(n), "entry %d: key %s outside the sequence numbers %d-%d the MANIFEST records",
				n, k, f.SmallestSeq, f.LargestSeq)
		}
		if n == 0 {
			first = base.InternalKey{UserKey: append([]byte(nil), k.UserKey...), Trailer: k.Trailer}
		}
		prev = base.InternalKey{UserKey: append(prev.UserKey[:0], k.UserKey...), Trailer: k.Trailer}
		n++
	}
	if err := it.Error(); err != nil {
		return n, err
	}
	smallest, largest, ok := rangedel.TableBounds(cmp, first, prev, n > 0, spans)
	if !ok {
		return n, base.CorruptionErrorf(path, -1, "the table holds no entry and no range tombstone")
	}
	if known && base.InternalCompare(cmp, smallest, f.Smallest) != 0 {
		return n, base.CorruptionErrorf(path, blockAt(0), "the table starts at %s, the MANIFEST says %s", smallest, f.Smallest)
	}
	if known && base.InternalCompare(cmp, largest, f.Largest) != 0 {
		return n, base.CorruptionErrorf(path, blockAt(n-1), "the table ends at %s, the MANIFEST says %s", largest, f.Largest)
	}
	return n, nil
}

// checkLogs reads the logs numbered logNum and above, oldest first: their
// batches must continue lastSeq. Only the newest may end in a torn tail.
func (c *checker) checkLogs(logNum base.FileNum, lastSeq base.SeqNum, names []string) {
	var nums []base.FileNum
	for _, name := range names {
		if typ, num, ok := base.ParseFilename(name); ok && typ == base.FileTypeLog && num >= logNum {
			nums = append(nums, num)
		}
	}
	slices.Sort(nums)
	// The log the MANIFEST's log number names is created (and its
	// directory entry synced) before any MANIFEST edit names it, and is
	// removed only once an edit names a later one: without it, the writes
	// made since the last flush are gone, and no gap in the sequence
	// numbers shows it when it was the newest log.
	if logNum > 0 && (len(nums) == 0 || nums[0] != logNum) {
		c.problem(base.CorruptionErrorf(c.path(base.MakeFilename(base.FileTypeLog, logNum)), -1,
			"missing: the MANIFEST's log number names it, so it held any writes made since the last flush"))
	}
	seq, known := lastSeq, true
	for i, num := range nums {
		l := c.checkLog(num, i == len(nums)-1, &seq, &known)
		c.logs = append(c.logs, l)
	}
}

// checkLog reads log num to its end. *seq is the last sequence number
// before it, when *known; the log's batches must continue it. A problem
// ends the log's check and the continuity with the next log.
func (c *checker) checkLog(num base.FileNum, newest bool, seq *base.SeqNum, known *bool) logCheck {
	row := logCheck{num: num, size: -1, end: -1, result: "damaged"}
	path := c.path(base.MakeFilename(base.FileTypeLog, num))
	f, size, err := openFile(path)
	if err != nil {
		c.problem(err)
		*known = false
		return row
	}
	defer f.Close()
	row.size = size
	r := wal.NewReader(f, size, path, num)
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			err = c.checkBatch(path, r.Offset(), rec, &row, seq, known)
		}
		if err != nil {
			c.problem(err)
			*known = false
			return row
		}
	}
	t := r.Tail()
	row.end = t.End
	switch {
	case t.Torn && !newest:
		c.problem(base.CorruptionErrorf(path, t.End, "damaged tail in a log that is not the newest: %s", t.Reason))
		*known = false
		return row
	case t.Torn:
		c.warn("%s: torn tail at offset %d, %d bytes that Open truncates: %s", path, t.End, size-t.End, t.Reason)
		row.result = "ok, torn tail"
	default:
		row.result = "ok"
	}
	return row
}

// checkBatch decodes one record of a log and checks that its sequence
// numbers continue *seq (when *known), then advances *seq.
func (c *checker) checkBatch(path string, offset int64, rec []byte, row *logCheck, seq *base.SeqNum, known *bool) error {
	b, err := decodeBatch(rec)
	if err != nil {
		return base.CorruptionErrorf(path, offset, "record is not a batch: %v", err)
	}
	if *known && b.seq != *seq+1 {
		return base.CorruptionErrorf(path, offset, "batch starts at sequence number %d, expected %d (is a log missing?)",
			b.seq, *seq+1)
	}
	row.records++
	row.ops += len(b.ops)
	if row.first == 0 {
		row.first = b.seq
	}
	*seq = b.seq + base.SeqNum(b.count) - 1
	row.last, *known = *seq, true
	return nil
}

// findOrphans warns of the files of the directory the state does not
// need, which Open deletes. Files dkv does not own are left out.
func (c *checker) findOrphans(st *manifest.State, manifestNum base.FileNum, names []string) {
	live := map[base.FileNum]bool{}
	for _, f := range st.Version.Files() {
		live[f.FileNum] = true
	}
	for _, name := range names {
		typ, num, ok := base.ParseFilename(name)
		if !ok {
			continue
		}
		var why string
		switch {
		case typ == base.FileTypeTable && !live[num]:
			why = "a table the MANIFEST does not name"
		case typ == base.FileTypeLog && num < st.LogNum:
			why = fmt.Sprintf("a log below the MANIFEST's log number %s", st.LogNum)
		case typ == base.FileTypeManifest && num != manifestNum:
			why = "a MANIFEST that CURRENT does not name"
		case typ == base.FileTypeTemp:
			why = "a temporary file"
		default:
			continue
		}
		c.warn("%s: orphan: %s (Open deletes it)", c.path(name), why)
	}
}

// checkDirectory checks the tables and logs of the directory on their own,
// when the MANIFEST does not replay: each table's blocks and key order,
// each log's records and the continuity of sequence numbers within it.
func (c *checker) checkDirectory(names []string) {
	var logs []base.FileNum
	for _, name := range names {
		typ, num, ok := base.ParseFilename(name)
		switch {
		case ok && typ == base.FileTypeTable:
			c.tables = append(c.tables, c.checkTable("-", &manifest.FileMetadata{FileNum: num}, false, 0))
		case ok && typ == base.FileTypeLog:
			logs = append(logs, num)
		}
	}
	slices.Sort(logs)
	for i, num := range logs {
		var seq base.SeqNum
		known := false
		c.logs = append(c.logs, c.checkLog(num, i == len(logs)-1, &seq, &known))
	}
}

// report prints the tables and logs read, the problems and warnings, and
// a summary. As in lsm, a table or log is named by its file number and
// sizes are human (a log's end is an offset, in bytes, as wal prints it).
func (c *checker) report(w io.Writer) error {
	dash := func(n int64) string {
		if n < 0 {
			return "-"
		}
		return fmt.Sprint(n)
	}
	size := func(n int64) string {
		if n < 0 {
			return "-"
		}
		return humanSize(uint64(n))
	}
	tw := newTable(w)
	fmt.Fprintf(tw, "\ntables\n")
	if len(c.tables) == 0 {
		fmt.Fprintf(tw, "  none\n")
	} else {
		fmt.Fprintf(tw, "  level\tfile\tsize\tblocks\tentries\tseqs\tresult\n")
	}
	var blocks, entries int
	for _, t := range c.tables {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.level, t.num,
			size(t.size), dash(int64(t.blocks)), dash(int64(t.entries)), t.seqs, t.result)
		blocks += max(t.blocks, 0)
		entries += max(t.entries, 0)
	}
	fmt.Fprintf(tw, "\nlogs\n")
	if len(c.logs) == 0 {
		fmt.Fprintf(tw, "  none\n")
	} else {
		fmt.Fprintf(tw, "  file\tsize\trecords\toperations\tseqs\tend\tresult\n")
	}
	var records, ops int
	for _, l := range c.logs {
		seqs := "-"
		if l.first > 0 {
			seqs = fmt.Sprintf("%d-%d", l.first, l.last)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\t%s\t%s\n", l.num,
			size(l.size), l.records, l.ops, seqs, dash(l.end), l.result)
		records += l.records
		ops += l.ops
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range []struct {
		name  string
		lines []string
	}{{"problems", c.problemLines()}, {"warnings", c.warnings}} {
		if len(s.lines) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", s.name)
		for _, line := range s.lines {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	tw = newTable(w)
	fmt.Fprintf(tw, "\nsummary\n")
	fmt.Fprintf(tw, "  tables\t%d\n  blocks\t%d\n  entries\t%d\n", len(c.tables), blocks, entries)
	fmt.Fprintf(tw, "  logs\t%d\n  records\t%d\n  operations\t%d\n", len(c.logs), records, ops)
	fmt.Fprintf(tw, "  problems\t%d\n  warnings\t%d\n", len(c.problems), len(c.warnings))
	return tw.Flush()
}

// problemLines formats the problems one per line, without the "dkv: "
// prefix of errors.
func (c *checker) problemLines() []string {
	lines := make([]string, len(c.problems))
	for i, err := range c.problems {
		lines[i] = strings.TrimPrefix(err.Error(), "dkv: ")
	}
	return lines
}

func (c *checker) problem(err error) { c.problems = append(c.problems, err) }

func (c *checker) warn(format string, a ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, a...))
}

// path returns the path of the file name in the database directory.
func (c *checker) path(name string) string { return vfs.Default.PathJoin(c.dir, name) }

// checkDoc is check's JSON document.
type checkDoc struct {
	Dir              string          `json:"dir"`
	Manifest         []checkHeadDoc  `json:"manifest"`
	ManifestReplayed bool            `json:"manifest_replayed"`
	Tables           []checkTableDoc `json:"tables"`
	Logs             []checkLogDoc   `json:"logs"`
	Problems         []string        `json:"problems"`
	Warnings         []string        `json:"warnings"`
	Summary          checkSummaryDoc `json:"summary"`
}

type checkHeadDoc struct {
	File   string `json:"file"`
	Result string `json:"result"`
}

type checkTableDoc struct {
	Level       *int    `json:"level"` // null when the MANIFEST does not replay
	File        string  `json:"file"`
	Size        *int64  `json:"size"`
	Blocks      *int64  `json:"blocks"`
	Entries     *int64  `json:"entries"`
	SmallestSeq *uint64 `json:"smallest_seq"`
	LargestSeq  *uint64 `json:"largest_seq"`
	Result      string  `json:"result"`
}

type checkLogDoc struct {
	File       string  `json:"file"`
	Size       *int64  `json:"size"`
	Records    int     `json:"records"`
	Operations int     `json:"operations"`
	FirstSeq   *uint64 `json:"first_seq"`
	LastSeq    *uint64 `json:"last_seq"`
	End        *int64  `json:"end"`
	Result     string  `json:"result"`
}

type checkSummaryDoc struct {
	Tables     int `json:"tables"`
	Blocks     int `json:"blocks"`
	Entries    int `json:"entries"`
	Logs       int `json:"logs"`
	Records    int `json:"records"`
	Operations int `json:"operations"`
	Problems   int `json:"problems"`
	Warnings   int `json:"warnings"`
}

// json returns what check read and found as a JSON document; replayed
// says whether the MANIFEST replayed.
func (c *checker) json(replayed bool) *checkDoc {
	known := func(n int64) *int64 {
		if n < 0 {
			return nil
		}
		return &n
	}
	doc := &checkDoc{Dir: c.dir, Manifest: []checkHeadDoc{}, ManifestReplayed: replayed,
		Tables: []checkTableDoc{}, Logs: []checkLogDoc{}, Problems: c.problemLines(), Warnings: []string{}}
	doc.Warnings = append(doc.Warnings, c.warnings...)
	for _, h := range c.head {
		doc.Manifest = append(doc.Manifest, checkHeadDoc{File: h.file, Result: h.result})
	}
	s := &doc.Summary
	for _, t := range c.tables {
		row := checkTableDoc{File: base.MakeFilename(base.FileTypeTable, t.num), Size: known(t.size),
			Blocks: known(int64(t.blocks)), Entries: known(int64(t.entries)), Result: t.result}
		var level int
		if _, err := fmt.Sscanf(t.level, "L%d", &level); err == nil {
			row.Level = &level
		}
		if t.meta != nil {
			lo, hi := uint64(t.meta.SmallestSeq), uint64(t.meta.LargestSeq)
			row.SmallestSeq, row.LargestSeq = &lo, &hi
		}
		doc.Tables = append(doc.Tables, row)
		s.Blocks += max(t.blocks, 0)
		s.Entries += max(t.entries, 0)
	}
	for _, l := range c.logs {
		row := checkLogDoc{File: base.MakeFilename(base.FileTypeLog, l.num), Size: known(l.size),
			Records: l.records, Operations: l.ops, End: known(l.end), Result: l.result}
		if l.first > 0 {
			first, last := uint64(l.first), uint64(l.last)
			row.FirstSeq, row.LastSeq = &first, &last
		}
		doc.Logs = append(doc.Logs, row)
		s.Records += l.records
		s.Operations += l.ops
	}
	s.Tables, s.Logs, s.Problems, s.Warnings = len(c.tables), len(c.logs), len(c.problems), len(c.warnings)
	return doc
}
