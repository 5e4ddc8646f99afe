package manifest

import (
	"fmt"

	"github.com/distributedkv/dkv/internal/base"
)

// Builder folds many edits into one version cheaply: Apply costs the size
// of the edit, not of the version, and Version sorts and checks once. Replay
// uses it, so replaying a MANIFEST of many edits over many tables stays
// fast. An edit that does not apply is reported by the Apply that meets it.
type Builder struct {
	cmp   base.Compare
	level map[base.FileNum]int
	files map[base.FileNum]*FileMetadata
}

// NewBuilder returns a Builder starting from v (nil: an empty version).
func NewBuilder(cmp base.Compare, v *Version) *Builder {
	b := &Builder{cmp: cmp, level: map[base.FileNum]int{}, files: map[base.FileNum]*FileMetadata{}}
	if v != nil {
		for level, files := range v.Levels {
			for _, f := range files {
				b.level[f.FileNum], b.files[f.FileNum] = level, f
			}
		}
	}
	return b
}

// Apply adds edit's changes, checking what can be checked one edit at a
// time: deleted tables exist in the named level, new tables are new, have
// a valid level and a smallest key not above the largest.
func (b *Builder) Apply(edit *VersionEdit) error {
	for _, d := range edit.DeletedFiles {
		if l, ok := b.level[d.FileNum]; !ok || l != d.Level {
			return fmt.Errorf("manifest: edit deletes %s from L%d, which does not hold it", d.FileNum, d.Level)
		}
		delete(b.level, d.FileNum)
		delete(b.files, d.FileNum)
	}
	for _, nf := range edit.NewFiles {
		if nf.Level < 0 || nf.Level >= NumLevels {
			return fmt.Errorf("manifest: edit adds %s to level %d", nf.Meta.FileNum, nf.Level)
		}
		if _, ok := b.level[nf.Meta.FileNum]; ok {
			return fmt.Errorf("manifest: edit adds %s, which the version already holds", nf.Meta.FileNum)
		}
		if base.InternalCompare(b.cmp, nf.Meta.Smallest, nf.Meta.Largest) > 0 {
			return fmt.Errorf("manifest: edit adds %s, whose smallest key is above its largest", nf.Meta)
		}
		b.level[nf.Meta.FileNum], b.files[nf.Meta.FileNum] = nf.Level, nf.Meta
	}
	return nil
}

// Version returns the version built so far, sorted and checked like
// Version.Apply's result.
func (b *Builder) Version() (*Version, error) {
	edit := &VersionEdit{}
	for num, f := range b.files {
		edit.NewFiles = append(edit.NewFiles, NewFile{Level: b.level[num], Meta: f})
	}
	return (&Version{}).Apply(b.cmp, edit)
}
