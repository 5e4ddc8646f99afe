package compaction

import (
	"fmt"
	"math"
	"slices"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/manifest"
)

// Options shape the tree. Zero fields are not defaulted here: the DB passes
// its resolved options.
type Options struct {
	// L0CompactionThreshold is the number of L0 tables that makes L0's
	// score 1.
	L0CompactionThreshold int
	// LBaseMaxBytes is L1's target size; each deeper level's target is
	// LevelMultiplier times the one above.
	LBaseMaxBytes   int64
	LevelMultiplier int
	// TargetFileSize is the size at which compaction output is cut into a
	// new table (at a user-key boundary).
	TargetFileSize int64
}

// MaxGrandparentOverlap is how many output bytes, in TargetFileSizes, an
// output table may overlap in the level below its own before it is cut, so
// that compacting it later stays small.
const MaxGrandparentOverlap = 10

// LevelTarget returns the target size of level (1 and below).
func (o Options) LevelTarget(level int) float64 {
	return float64(o.LBaseMaxBytes) * math.Pow(float64(o.LevelMultiplier), float64(level-1))
}

// Kind says why a compaction runs.
type Kind int

const (
	// KindL0 merges the L0 tables into L1: L0 holds too many tables.
	KindL0 Kind = iota
	// KindSize moves one table of an over-full level into the next.
	KindSize
	// KindManual runs for DB.Compact.
	KindManual
	// KindRead merges the L0 tables into L1 because reads keep paying for
	// an L0 table below the count threshold (PickRead).
	KindRead
)

func (k Kind) String() string {
	switch k {
	case KindL0:
		return "L0"
	case KindSize:
		return "size"
	case KindManual:
		return "manual"
	case KindRead:
		return "read"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Plan is a compaction to run: tables of StartLevel (Inputs[0]) and the
// tables of OutputLevel they overlap (Inputs[1]) merged into new tables of
// OutputLevel. A plan whose Move is set rewrites nothing: its start tables
// move to the output level by a version edit alone.
type Plan struct {
	Kind        Kind
	StartLevel  int
	OutputLevel int
	Inputs      [2][]*manifest.FileMetadata
	// Grandparents are the tables of the level below the output that the
	// plan's key range overlaps: outputs are cut to keep their overlap small.
	Grandparents []*manifest.FileMetadata
	Score        float64
	Move         bool
	Reason       string
}

// Files returns every input table.
func (p *Plan) Files() []*manifest.FileMetadata {
	return append(slices.Clone(p.Inputs[0]), p.Inputs[1]...)
}

// InputBytes returns the bytes of the input tables.
func (p *Plan) InputBytes() uint64 {
	var n uint64
	for _, f := range p.Files() {
		n += f.Size
	}
	return n
}

// String formats the plan on one line, for logs and golden tests.
func (p *Plan) String() string {
	names := func(fs []*manifest.FileMetadata) string {
		out := ""
		for i, f := range fs {
			if i > 0 {
				out += ","
			}
			out += f.FileNum.String()
		}
		return "[" + out + "]"
	}
	move := ""
	if p.Move {
		move = " move"
	}
	return fmt.Sprintf("%s L%d%s -> L%d%s score %.2f%s (%s)", p.Kind, p.StartLevel, names(p.Inputs[0]),
		p.OutputLevel, names(p.Inputs[1]), p.Score, move, p.Reason)
}

// Busy says what running compactions hold: their input tables (Files),
// the key ranges they are writing in each level (Outputs), and whether one
// of them reads L0 (only one at a time does). The picker leaves all of it
// alone: two compactions writing overlapping ranges of one level would
// produce overlapping tables there.
type Busy struct {
	Files   map[base.FileNum]bool
	Outputs [manifest.NumLevels][]KeyRange
	L0      bool
}

// KeyRange is an inclusive range of user keys.
type KeyRange struct {
	Lo, Hi []byte
}

// OutputRange returns the key range the plan writes in its output level:
// the span of all its inputs.
func (p *Plan) OutputRange(cmp base.Compare) KeyRange {
	lo, hi := keyRange(cmp, p.Files())
	return KeyRange{Lo: lo, Hi: hi}
}

// writing reports whether a running compaction writes a range of level that
// meets r.
func (b Busy) writing(cmp base.Compare, level int, r KeyRange) bool {
	for _, o := range b.Outputs[level] {
		if cmp(o.Lo, r.Hi) <= 0 && cmp(r.Lo, o.Hi) <= 0 {
			return true
		}
	}
	return false
}

func (b Busy) has(files []*manifest.FileMetadata) bool {
	for _, f := range files {
		if b.Files[f.FileNum] {
			return true
		}
	}
	return false
}

// Scores returns each level's compaction score: for L0 its table count over
// L0CompactionThreshold, for deeper levels their size over their target.
// The bottom level has no score (it has nowhere to go). Tables being
// compacted do not count.
func Scores(v *manifest.Version, o Options, busy Busy) [manifest.NumLevels]float64 {
	var s [manifest.NumLevels]float64
	n := 0
	for _, f := range v.Levels[0] {
		if !busy.Files[f.FileNum] {
			n++
		}
	}
	s[0] = float64(n) / float64(o.L0CompactionThreshold)
	for level := 1; level < manifest.NumLevels-1; level++ {
		var size uint64
		for _, f := range v.Levels[level] {
			if !busy.Files[f.FileNum] {
				size += f.Size
			}
		}
		s[level] = float64(size) / o.LevelTarget(level)
	}
	return s
}

// Pick returns the compaction the version needs most, or nil when every
// score is below 1 or every candidate is busy. It is a pure function of its
// arguments.
func Pick(cmp base.Compare, v *manifest.Version, o Options, busy Busy) *Plan {
	scores := Scores(v, o, busy)
	order := make([]int, 0, manifest.NumLevels)
	for level := range scores {
		if scores[level] >= 1 {
			order = append(order, level)
		}
	}
	// Highest score first; ties go to the upper level.
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case scores[a] > scores[b]:
			return -1
		case scores[a] < scores[b]:
			return 1
		}
		return 0
	})
	for _, level := range order {
		var p *Plan
		if level == 0 {
			p = pickL0(cmp, v, o, busy)
		} else {
			p = pickSize(cmp, v, o, busy, level)
		}
		if p != nil {
			p.Score = scores[level]
			return p
		}
	}
	return nil
}

// PickRead returns the compaction that merges the L0 tables, f among
// them, into L1, for a table that point reads kept searching in vain past
// its bloom filter (manifest.FileMetadata.ChargeWastedRead): below
// L0CompactionThreshold tables nothing else would move it, and every read
// of its key range — every iterator, every lookup its filter lets through —
// would go on paying for it. It returns nil when f has left L0 or L0 is busy. Deeper levels
// get no such compaction: a read searches one table per level there
// whatever their shape.
func PickRead(cmp base.Compare, v *manifest.Version, o Options, busy Busy, f *manifest.FileMetadata) *Plan {
	if !slices.Contains(v.Levels[0], f) {
		return nil
	}
	p := pickL0(cmp, v, o, busy)
	if p != nil {
		p.Kind = KindRead
		p.Reason = fmt.Sprintf("reads wasted on L0 table %s", f.FileNum)
	}
	return p
}

// pickL0 merges every L0 table into L1.
func pickL0(cmp base.Compare, v *manifest.Version, o Options, busy Busy) *Plan {
	if busy.L0 || len(v.Levels[0]) == 0 || busy.has(v.Levels[0]) {
		return nil
	}
	p := &Plan{Kind: KindL0, StartLevel: 0, OutputLevel: 1, Inputs: [2][]*manifest.FileMetadata{slices.Clone(v.Levels[0])}}
	p.Reason = fmt.Sprintf("%d L0 tables, threshold %d", len(v.Levels[0]), o.L0CompactionThreshold)
	if !p.fillOutputs(cmp, v, busy) {
		return nil
	}
	p.checkMove(cmp, o)
	return p
}

// pickSize moves one table of level into the next: the one that overlaps
// the fewest bytes below per byte of its own, to keep the compaction (and
// its write amplification) small.
func pickSize(cmp base.Compare, v *manifest.Version, o Options, busy Busy, level int) *Plan {
	var best *Plan
	bestRatio := math.Inf(1)
	for _, f := range v.Levels[level] {
		if busy.Files[f.FileNum] {
			continue
		}
		p := &Plan{Kind: KindSize, StartLevel: level, OutputLevel: level + 1, Inputs: [2][]*manifest.FileMetadata{{f}}}
		if !p.fillOutputs(cmp, v, busy) {
			continue
		}
		var overlap uint64
		for _, g := range p.Inputs[1] {
			overlap += g.Size
		}
		ratio := float64(overlap) / float64(max(f.Size, 1))
		if ratio < bestRatio {
			best, bestRatio = p, ratio
		}
	}
	if best != nil {
		best.Reason = fmt.Sprintf("L%d holds %d bytes, target %.0f; overlap ratio %.2f",
			level, v.LevelSize(level), o.LevelTarget(level), bestRatio)
		best.checkMove(cmp, o)
	}
	return best
}

// Manual returns a plan that moves every table of level overlapping the
// user-key range [start, end) (nil: unbounded) down: merged with the tables
// they overlap in the first deeper level that holds any of their keys, or in
// the bottom level if none does; a bottom-level plan rewrites the tables in
// place. It returns nil when level holds nothing in the range. For L0 the
// tables that overlap those, transitively, join too: a newer L0 table left
// behind would shadow what moves below. The output level is chosen by the
// inputs' whole key range, which may reach beyond [start, end): skipping a
// level that holds older versions of those keys would put newer data below
// older. ok is false when an input is busy (try again later).
func Manual(cmp base.Compare, v *manifest.Version, busy Busy, level int, start, end []byte) (p *Plan, ok bool) {
	inputs := OverlappingHalfOpen(cmp, v.Levels[level], start, end)
	if level == 0 {
		inputs = expandL0(cmp, v.Levels[0], inputs)
	}
	if len(inputs) == 0 {
		return nil, true
	}
	if (level == 0 && busy.L0) || busy.has(inputs) {
		return nil, false
	}
	bottom := manifest.NumLevels - 1
	output := min(level+1, bottom)
	lo, hi := keyRange(cmp, inputs)
	for output < bottom && len(Overlapping(cmp, v.Levels[output], lo, hi)) == 0 {
		output++
	}
	p = &Plan{Kind: KindManual, StartLevel: level, OutputLevel: output, Inputs: [2][]*manifest.FileMetadata{inputs}}
	p.Reason = fmt.Sprintf("Compact(%q, %q)", start, end)
	if output == level {
		if busy.writing(cmp, output, p.OutputRange(cmp)) {
			return nil, false
		}
		return p, true // the bottom level, in place
	}
	if !p.fillOutputs(cmp, v, busy) {
		return nil, false
	}
	return p, true
}

// expandL0 adds the L0 tables that overlap inputs, until none does.
func expandL0(cmp base.Compare, l0, inputs []*manifest.FileMetadata) []*manifest.FileMetadata {
	in := map[base.FileNum]bool{}
	for _, f := range inputs {
		in[f.FileNum] = true
	}
	for grew := true; grew && len(inputs) > 0; {
		grew = false
		lo, hi := keyRange(cmp, inputs)
		for _, f := range Overlapping(cmp, l0, lo, hi) {
			if !in[f.FileNum] {
				in[f.FileNum] = true
				inputs = append(inputs, f)
				grew = true
			}
		}
	}
	// Keep L0's order (newest first).
	out := make([]*manifest.FileMetadata, 0, len(inputs))
	for _, f := range l0 {
		if in[f.FileNum] {
			out = append(out, f)
		}
	}
	return out
}

// fillOutputs adds the output level's tables that overlap the inputs, and
// the grandparents. It reports false when one of them is busy.
func (p *Plan) fillOutputs(cmp base.Compare, v *manifest.Version, busy Busy) bool {
	lo, hi := keyRange(cmp, p.Inputs[0])
	p.Inputs[1] = Overlapping(cmp, v.Levels[p.OutputLevel], lo, hi)
	if busy.has(p.Inputs[1]) || busy.writing(cmp, p.OutputLevel, p.OutputRange(cmp)) {
		return false
	}
	if p.OutputLevel+1 < manifest.NumLevels {
		lo, hi = keyRange(cmp, p.Files())
		p.Grandparents = Overlapping(cmp, v.Levels[p.OutputLevel+1], lo, hi)
	}
	return true
}

// checkMove marks a plan that can move its tables instead of rewriting
// them: nothing in the output level to merge with, start tables that do not
// overlap one another, and little overlap with the grandparents.
func (p *Plan) checkMove(cmp base.Compare, o Options) {
	if len(p.Inputs[1]) > 0 {
		return
	}
	files := slices.Clone(p.Inputs[0])
	slices.SortFunc(files, func(a, b *manifest.FileMetadata) int { return cmp(a.Smallest.UserKey, b.Smallest.UserKey) })
	for i := 1; i < len(files); i++ {
		if cmp(files[i-1].Largest.UserKey, files[i].Smallest.UserKey) >= 0 {
			return
		}
	}
	var gp uint64
	for _, g := range p.Grandparents {
		gp += g.Size
	}
	if gp > uint64(MaxGrandparentOverlap*o.TargetFileSize) {
		return
	}
	p.Move = true
}

// Overlapping returns the tables of files whose user-key range meets
// [start, end] (nil: unbounded), in files' order.
func Overlapping(cmp base.Compare, files []*manifest.FileMetadata, start, end []byte) []*manifest.FileMetadata {
	var out []*manifest.FileMetadata
	for _, f := range files {
		if start != nil && cmp(f.Largest.UserKey, start) < 0 {
			continue
		}
		if end != nil && cmp(f.Smallest.UserKey, end) > 0 {
			continue
		}
		out = append(out, f)
	}
	return out
}

// OverlappingHalfOpen returns the tables of files whose user-key range
// meets [start, end) (nil: unbounded), in files' order.
func OverlappingHalfOpen(cmp base.Compare, files []*manifest.FileMetadata, start, end []byte) []*manifest.FileMetadata {
	out := Overlapping(cmp, files, start, end)
	if end == nil {
		return out
	}
	return slices.DeleteFunc(out, func(f *manifest.FileMetadata) bool { return cmp(f.Smallest.UserKey, end) >= 0 })
}

// keyRange returns the smallest and largest user keys of files.
func keyRange(cmp base.Compare, files []*manifest.FileMetadata) (lo, hi []byte) {
	for i, f := range files {
		if i == 0 || cmp(f.Smallest.UserKey, lo) < 0 {
			lo = f.Smallest.UserKey
		}
		if i == 0 || cmp(f.Largest.UserKey, hi) > 0 {
			hi = f.Largest.UserKey
		}
	}
	return lo, hi
}
