package manifest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/distributedkv/dkv/internal/base"
)

// DeletedFile names a table an edit removes.
type DeletedFile struct {
	Level   int
	FileNum base.FileNum
}

// NewFile is a table an edit adds.
type NewFile struct {
	Level int
	Meta  *FileMetadata
}

// VersionEdit is one change to the database's state: tables added and
// removed, and the counters recovery needs. It is one record of the
// MANIFEST; docs/format/manifest.md specifies its encoding.
type VersionEdit struct {
	// ComparerName, when set, names the key order of the database.
	ComparerName string
	// LogNum, when non-zero, is the oldest write-ahead log still needed:
	// logs numbered below it are covered by tables.
	LogNum base.FileNum
	// NextFileNum, when non-zero, is above every file number in use.
	NextFileNum base.FileNum
	// LastSeqNum, when non-zero, is the largest sequence number held by
	// the tables; the logs from LogNum continue from it.
	LastSeqNum   base.SeqNum
	DeletedFiles []DeletedFile
	NewFiles     []NewFile
}

// Field tags. They are stored: never renumber them.
const (
	tagComparer    = 1
	tagLogNum      = 2
	tagNextFileNum = 3
	tagLastSeqNum  = 4
	tagDeletedFile = 5
	tagNewFile     = 6
	// tagNewFileFlags is tagNewFile followed by a uvarint of flags
	// (newFileRangeDels). It is written only for a table with a flag set,
	// so that a reader that predates it refuses the edit instead of
	// losing the flag.
	tagNewFileFlags = 7

	// Tags from tagFirstSkippable on are followed by a uvarint length and
	// that many bytes. A reader that does not know such a tag skips it: a
	// later version can add optional fields without locking out older ones.
	// Tags below it that a reader does not know make the edit unreadable.
	tagFirstSkippable = 64
)

// Flags of tagNewFileFlags.
const (
	newFileRangeDels  = 1 << 0 // FileMetadata.HasRangeDels
	newFileKnownFlags = newFileRangeDels
)

// maxUserKeyInEdit bounds a key in an edit (MaxKeySize of the DB plus slack).
const maxUserKeyInEdit = 1 << 20

// Encode returns the edit's encoding: a sequence of (tag, fields) with
// uvarint tags and numbers and length-prefixed byte strings.
func (e *VersionEdit) Encode() []byte {
	var b []byte
	if e.ComparerName != "" {
		b = binary.AppendUvarint(b, tagComparer)
		b = appendBytes(b, []byte(e.ComparerName))
	}
	if e.LogNum != 0 {
		b = binary.AppendUvarint(b, tagLogNum)
		b = binary.AppendUvarint(b, uint64(e.LogNum))
	}
	if e.NextFileNum != 0 {
		b = binary.AppendUvarint(b, tagNextFileNum)
		b = binary.AppendUvarint(b, uint64(e.NextFileNum))
	}
	if e.LastSeqNum != 0 {
		b = binary.AppendUvarint(b, tagLastSeqNum)
		b = binary.AppendUvarint(b, uint64(e.LastSeqNum))
	}
	for _, d := range e.DeletedFiles {
		b = binary.AppendUvarint(b, tagDeletedFile)
		b = binary.AppendUvarint(b, uint64(d.Level))
		b = binary.AppendUvarint(b, uint64(d.FileNum))
	}
	for _, nf := range e.NewFiles {
		m := nf.Meta
		var flags uint64
		if m.HasRangeDels {
			flags |= newFileRangeDels
		}
		if flags == 0 {
			b = binary.AppendUvarint(b, tagNewFile)
		} else {
			b = binary.AppendUvarint(b, tagNewFileFlags)
		}
		b = binary.AppendUvarint(b, uint64(nf.Level))
		b = binary.AppendUvarint(b, uint64(m.FileNum))
		b = binary.AppendUvarint(b, m.Size)
		b = appendInternalKey(b, m.Smallest)
		b = appendInternalKey(b, m.Largest)
		b = binary.AppendUvarint(b, uint64(m.SmallestSeq))
		b = binary.AppendUvarint(b, uint64(m.LargestSeq))
		if flags != 0 {
			b = binary.AppendUvarint(b, flags)
		}
	}
	return b
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendInternalKey(b []byte, k base.InternalKey) []byte {
	enc := make([]byte, k.Size())
	k.Encode(enc)
	return appendBytes(b, enc)
}

// editDecoder reads the fields of an encoded edit, remembering the first
// error.
type editDecoder struct {
	b   []byte
	err error
}

func (d *editDecoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("bad %s", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *editDecoder) bytes(what string, limit int) []byte {
	n := d.uvarint(what + " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) || n > uint64(limit) {
		d.err = fmt.Errorf("%s of %d bytes runs past the edit or its limit", what, n)
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

// nonZero refuses a field that is present but zero: Encode writes only
// fields that are set, so such bytes were never written by dkv.
func (d *editDecoder) nonZero(ok bool, what string) {
	if d.err == nil && !ok {
		d.err = fmt.Errorf("%s field is present but zero", what)
	}
}

func (d *editDecoder) level() int {
	l := d.uvarint("level")
	if d.err == nil && l >= NumLevels {
		d.err = fmt.Errorf("level %d out of range", l)
	}
	return int(l)
}

func (d *editDecoder) internalKey(what string) base.InternalKey {
	enc := d.bytes(what, maxUserKeyInEdit+8)
	if d.err != nil {
		return base.InternalKey{}
	}
	k, ok := base.DecodeInternalKey(enc)
	if !ok {
		d.err = fmt.Errorf("%s of %d bytes is too short", what, len(enc))
	}
	return cloneKey(k)
}

// Decode parses an encoded edit into e (which should be zero). The error
// is a reason for a corruption error; the caller names the file and offset.
func (e *VersionEdit) Decode(b []byte) error {
	d := &editDecoder{b: b}
	for len(d.b) > 0 && d.err == nil {
		switch tag := d.uvarint("tag"); tag {
		case tagComparer:
			e.ComparerName = string(d.bytes("comparer name", 1024))
			d.nonZero(len(e.ComparerName) > 0, "comparer name")
		case tagLogNum:
			e.LogNum = base.FileNum(d.uvarint("log number"))
			d.nonZero(e.LogNum != 0, "log number")
		case tagNextFileNum:
			e.NextFileNum = base.FileNum(d.uvarint("next file number"))
			d.nonZero(e.NextFileNum != 0, "next file number")
		case tagLastSeqNum:
			e.LastSeqNum = base.SeqNum(d.uvarint("last sequence number"))
			d.nonZero(e.LastSeqNum != 0, "last sequence number")
		case tagDeletedFile:
			level := d.level()
			num := base.FileNum(d.uvarint("file number"))
			e.DeletedFiles = append(e.DeletedFiles, DeletedFile{Level: level, FileNum: num})
		case tagNewFile, tagNewFileFlags:
			level := d.level()
			m := &FileMetadata{FileNum: base.FileNum(d.uvarint("file number")), Size: d.uvarint("file size")}
			m.Smallest = d.internalKey("smallest key")
			m.Largest = d.internalKey("largest key")
			m.SmallestSeq = base.SeqNum(d.uvarint("smallest sequence number"))
			m.LargestSeq = base.SeqNum(d.uvarint("largest sequence number"))
			if d.err == nil && m.SmallestSeq > m.LargestSeq {
				d.err = fmt.Errorf("%s: smallest sequence number above largest", m.FileNum)
			}
			if tag == tagNewFileFlags {
				flags := d.uvarint("file flags")
				switch {
				case d.err != nil:
				case flags == 0:
					d.err = fmt.Errorf("%s: flags field is present but zero", m.FileNum)
				case flags&^newFileKnownFlags != 0:
					d.err = fmt.Errorf("%s: unknown file flags %#x", m.FileNum, flags)
				}
				m.HasRangeDels = flags&newFileRangeDels != 0
			}
			e.NewFiles = append(e.NewFiles, NewFile{Level: level, Meta: m})
		default:
			if d.err == nil && tag >= tagFirstSkippable {
				d.bytes(fmt.Sprintf("field %d", tag), len(d.b)) // a newer, optional field
			} else if d.err == nil {
				d.err = fmt.Errorf("unknown field tag %d", tag)
			}
		}
	}
	if d.err != nil {
		return fmt.Errorf("version edit: %w", d.err)
	}
	if len(b) == 0 {
		return errors.New("version edit: empty")
	}
	return nil
}

// String formats the edit one field per line, for tools.
func (e *VersionEdit) String() string {
	var b strings.Builder
	if e.ComparerName != "" {
		fmt.Fprintf(&b, "  comparer      %s\n", e.ComparerName)
	}
	if e.LogNum != 0 {
		fmt.Fprintf(&b, "  log number    %s\n", e.LogNum)
	}
	if e.NextFileNum != 0 {
		fmt.Fprintf(&b, "  next file     %s\n", e.NextFileNum)
	}
	if e.LastSeqNum != 0 {
		fmt.Fprintf(&b, "  last seqnum   %d\n", e.LastSeqNum)
	}
	for _, d := range e.DeletedFiles {
		fmt.Fprintf(&b, "  delete        L%d %s.sst\n", d.Level, d.FileNum)
	}
	for _, nf := range e.NewFiles {
		rd := ""
		if nf.Meta.HasRangeDels {
			rd = ", range deletions"
		}
		fmt.Fprintf(&b, "  add           L%d %s %d bytes, seqs %d-%d%s\n", nf.Level, nf.Meta, nf.Meta.Size, nf.Meta.SmallestSeq, nf.Meta.LargestSeq, rd)
	}
	return b.String()
}
