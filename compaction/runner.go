package compaction

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/killpoint"
	"github.com/distributedkv/dkv/internal/rangedel"
	"github.com/distributedkv/dkv/manifest"
	"github.com/distributedkv/dkv/sstable"
	"github.com/distributedkv/dkv/vfs"
)

// Env is what a compaction needs from the DB: where to write tables, how to
// read the inputs, and which snapshots are open.
type Env struct {
	FS  vfs.FS
	Dir string
	Cmp base.Compare
	// NewFileNum returns an unused file number for an output table.
	NewFileNum func() base.FileNum
	// WriterOptions returns the table options of a level.
	WriterOptions func(level int) sstable.WriterOptions
	// NewMergingIter returns one iterator over the input tables of the
	// plan, in internal-key order (the DB builds it from its table cache).
	NewMergingIter func(p *Plan) (base.InternalIterator, error)
	// InputRangeDels returns the range tombstones of the plan's input
	// tables (nil: there are none).
	InputRangeDels func(p *Plan) ([]rangedel.Tombstone, error)
	// Snapshots are the sequence numbers of the open snapshots, ascending.
	Snapshots []base.SeqNum
	// TargetFileSize cuts outputs.
	TargetFileSize int64
	// TableCreated, when set, is told of each output table once it is
	// durable.
	TableCreated func(num base.FileNum, path string, size uint64)
}

// Result is what a compaction did.
type Result struct {
	Edit         *manifest.VersionEdit
	Outputs      []*manifest.FileMetadata
	BytesRead    uint64 // bytes of the input tables
	BytesWritten uint64 // bytes of the output tables
	EntriesIn    int64
	EntriesOut   int64
	Dropped      int64 // versions no reader can see, and tombstones with nothing below
	Duration     time.Duration
}

// Run executes a plan against v, the version it was picked from: it merges
// the inputs through the compaction iterator into new tables of the output
// level, cut at TargetFileSize (at a user-key boundary) or where an output
// overlaps too much of the level below. It returns the edit that replaces
// the inputs with the outputs; applying and logging it is the caller's
// job. On error, or when ctx is done, the outputs written so far are
// removed and nothing else has changed.
func Run(ctx context.Context, v *manifest.Version, p *Plan, env Env) (*Result, error) {
	start := time.Now()
	res := &Result{Edit: &manifest.VersionEdit{}, BytesRead: p.InputBytes()}
	for i, files := range p.Inputs {
		level := p.StartLevel
		if i == 1 {
			level = p.OutputLevel
		}
		for _, f := range files {
			res.Edit.DeletedFiles = append(res.Edit.DeletedFiles, manifest.DeletedFile{Level: level, FileNum: f.FileNum})
		}
	}
	if p.Move {
		for _, f := range p.Inputs[0] {
			res.Edit.NewFiles = append(res.Edit.NewFiles, manifest.NewFile{Level: p.OutputLevel, Meta: f})
		}
		res.BytesRead = 0
		res.Duration = time.Since(start)
		return res, nil
	}

	c := &compactor{env: env, plan: p, version: v, res: res}
	if env.InputRangeDels != nil {
		ts, err := env.InputRangeDels(p)
		if err != nil {
			return nil, err
		}
		// Only what the snapshots (and readers above every input) can
		// tell apart: keptSpans would drop the rest anyway, and keeping
		// every sequence number until then costs their number squared
		// when tombstones nest.
		c.spans = rangedel.FragmentFor(env.Cmp, ts, env.Snapshots)
	}
	it, err := env.NewMergingIter(p)
	if err != nil {
		return nil, err
	}
	err = c.run(ctx, newIter(env.Cmp, it, env.Snapshots, c.elidable, c.spans))
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		c.abort()
		return nil, err
	}
	if len(res.Outputs) > 0 {
		if err := vfs.SyncDir(env.FS, env.Dir); err != nil {
			c.abort()
			return nil, fmt.Errorf("compaction: %w", err)
		}
	}
	for _, m := range res.Outputs {
		res.Edit.NewFiles = append(res.Edit.NewFiles, manifest.NewFile{Level: p.OutputLevel, Meta: m})
		res.BytesWritten += m.Size
	}
	res.Duration = time.Since(start)
	return res, nil
}

// compactor writes the outputs of one compaction.
type compactor struct {
	env     Env
	plan    *Plan
	version *manifest.Version
	res     *Result

	w        *sstable.Writer
	wNum     base.FileNum
	wPath    string
	gpIndex  int    // grandparents before this index end below the output's keys
	gpBytes  uint64 // grandparent bytes the current output overlaps
	lastUser []byte
	paths    []string // outputs created, for abort

	// spans are the inputs' range tombstones, fragmented for the
	// snapshots: the newest sequence number of each stripe. Each output
	// gets the part of them between its lower bound (the key it was cut
	// at; nil for the first) and the key the next output starts at (nil
	// for the last), so that the outputs partition the key space and
	// never overlap.
	spans []rangedel.Span
	lower []byte
}

var errCanceled = errors.New("compaction: canceled")

func (c *compactor) run(ctx context.Context, it *iter) error {
	n := 0
	for ok := it.first(); ok; ok = it.next() {
		if n++; n%1024 == 0 && ctx.Err() != nil {
			return fmt.Errorf("%w: %w", errCanceled, ctx.Err())
		}
		k := it.key()
		newUser := c.lastUser == nil || c.env.Cmp(k.UserKey, c.lastUser) != 0
		if newUser && c.w != nil && c.shouldCut(k.UserKey) {
			if err := c.finishOutput(k.UserKey); err != nil {
				return err
			}
			c.lower = append([]byte(nil), k.UserKey...)
		}
		if c.w == nil {
			if err := c.newOutput(); err != nil {
				return err
			}
		}
		if err := c.w.Add(k, it.value()); err != nil {
			return err
		}
		if newUser {
			c.lastUser = append(c.lastUser[:0], k.UserKey...)
		}
		c.res.EntriesOut++
	}
	c.res.EntriesIn, c.res.Dropped = it.seen, it.dropped
	if err := it.err(); err != nil {
		return err
	}
	if c.w == nil && len(c.keptSpans(c.lower, nil)) > 0 {
		// Only range tombstones survive: they still need a table.
		if err := c.newOutput(); err != nil {
			return err
		}
	}
	if c.w != nil {
		return c.finishOutput(nil)
	}
	return nil
}

// keptSpans returns the range tombstones an output covering [lower, upper)
// keeps: the spans, which already hold only the newest tombstone of each
// snapshot stripe (an older one in the same stripe deletes nothing the
// newer does not, for any reader; see Run), except one in the oldest
// stripe with nothing below the output level to delete — the versions it
// covered in this compaction are gone.
func (c *compactor) keptSpans(lower, upper []byte) []rangedel.Span {
	var out []rangedel.Span
	for _, s := range rangedel.Truncate(c.env.Cmp, c.spans, lower, upper) {
		// Newest first: only the last can be in the oldest stripe.
		if n := len(s.Seqs); stripeOf(c.env.Snapshots, s.Seqs[n-1]) == 0 && c.elidableRange(s.Start, s.End) {
			s.Seqs = s.Seqs[: n-1 : n-1]
		}
		if len(s.Seqs) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// stripeOf returns how many of the ascending snapshots are older than seq.
func stripeOf(snaps []base.SeqNum, seq base.SeqNum) int {
	return sort.Search(len(snaps), func(i int) bool { return snaps[i] >= seq })
}

// shouldCut reports whether the output should end before user key u: it is
// big enough, or it overlaps too much of the level below the output.
func (c *compactor) shouldCut(u []byte) bool {
	gps := c.plan.Grandparents
	for c.gpIndex < len(gps) && gps[c.gpIndex].EndsBefore(c.env.Cmp, u) {
		c.gpBytes += gps[c.gpIndex].Size
		c.gpIndex++
	}
	if c.gpBytes > uint64(MaxGrandparentOverlap*c.env.TargetFileSize) {
		return true
	}
	return int64(c.w.EstimatedSize()) >= c.env.TargetFileSize
}

func (c *compactor) newOutput() error {
	c.wNum = c.env.NewFileNum()
	c.wPath = c.env.FS.PathJoin(c.env.Dir, base.MakeFilename(base.FileTypeTable, c.wNum))
	f, err := c.env.FS.Create(c.wPath)
	if err != nil {
		return fmt.Errorf("compaction: create %s: %w", c.wPath, err)
	}
	c.paths = append(c.paths, c.wPath)
	c.w = sstable.NewWriter(f, c.env.WriterOptions(c.plan.OutputLevel))
	c.gpBytes = 0
	return nil
}

// finishOutput writes the range tombstones of the current output (up to
// upper, the key the next output starts at) and finishes it.
func (c *compactor) finishOutput(upper []byte) error {
	w := c.w
	c.w = nil
	for _, t := range rangedel.Tombstones(c.keptSpans(c.lower, upper)) {
		if err := w.AddRangeDel(t.Start, t.End, t.Seq); err != nil {
			w.Abort()
			return err
		}
	}
	props, err := w.Finish()
	if err != nil {
		return fmt.Errorf("compaction: write %s: %w", c.wPath, err)
	}
	killpoint.Hit(killpoint.CompactionOutputWritten)
	m := &manifest.FileMetadata{
		FileNum:      c.wNum,
		Size:         w.Size(),
		Smallest:     cloneKey(props.Smallest()),
		Largest:      cloneKey(props.Largest()),
		SmallestSeq:  base.SeqNum(props.SmallestSeq),
		LargestSeq:   base.SeqNum(props.LargestSeq),
		HasRangeDels: props.NumRangeDeletions > 0,
	}
	c.res.Outputs = append(c.res.Outputs, m)
	if c.env.TableCreated != nil {
		c.env.TableCreated(m.FileNum, c.wPath, m.Size)
	}
	return nil
}

// abort removes the outputs written so far.
func (c *compactor) abort() {
	if c.w != nil {
		c.w.Abort()
		c.w = nil
	}
	for _, p := range c.paths {
		_ = c.env.FS.Remove(p)
	}
	c.res.Outputs = nil
}

// elidable reports whether no level below the output level can hold a
// version of user key u: then a tombstone for u that every reader sees has
// nothing left to hide and can be dropped.
func (c *compactor) elidable(u []byte) bool {
	for level := c.plan.OutputLevel + 1; level < manifest.NumLevels; level++ {
		files := c.version.Levels[level]
		if i := manifest.FindFile(c.env.Cmp, files, u); i < len(files) && files[i].ContainsUserKey(c.env.Cmp, u) {
			return false
		}
	}
	return true
}

// elidableRange reports whether no level below the output level holds a
// table meeting [start, end): a range tombstone over it that every reader
// sees has nothing left to delete.
func (c *compactor) elidableRange(start, end []byte) bool {
	for level := c.plan.OutputLevel + 1; level < manifest.NumLevels; level++ {
		// The first table that does not end before start is the only
		// candidate to start below end.
		files := c.version.Levels[level]
		if i := manifest.FindFile(c.env.Cmp, files, start); i < len(files) && c.env.Cmp(files[i].Smallest.UserKey, end) < 0 {
			return false
		}
	}
	return true
}

func cloneKey(k base.InternalKey) base.InternalKey {
	return base.InternalKey{UserKey: append([]byte(nil), k.UserKey...), Trailer: k.Trailer}
}
