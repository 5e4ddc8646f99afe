package base

import (
	"fmt"
	"strconv"
	"strings"
)

// FileNum numbers the files of a database. Numbers are never reused within
// one database.
type FileNum uint64

func (n FileNum) String() string { return fmt.Sprintf("%06d", uint64(n)) }

// FileType is the kind of a file in the database directory.
type FileType int

const (
	FileTypeLog      FileType = iota // write-ahead log: NNNNNN.log
	FileTypeLock                     // LOCK, held with flock while the DB is open
	FileTypeTemp                     // NNNNNN.tmp, a file being built
	FileTypeTable                    // sorted table: NNNNNN.sst
	FileTypeManifest                 // MANIFEST-NNNNNN, the log of version edits
	FileTypeCurrent                  // CURRENT, naming the live MANIFEST
)

// MakeFilename returns the base name of a file of type typ and number num.
func MakeFilename(typ FileType, num FileNum) string {
	switch typ {
	case FileTypeLog:
		return num.String() + ".log"
	case FileTypeLock:
		return "LOCK"
	case FileTypeTemp:
		return num.String() + ".tmp"
	case FileTypeTable:
		return num.String() + ".sst"
	case FileTypeManifest:
		return "MANIFEST-" + num.String()
	case FileTypeCurrent:
		return "CURRENT"
	}
	panic(fmt.Sprintf("base: unknown file type %d", typ))
}

// ParseFilename reports the type and number of a base name made by
// MakeFilename. ok is false for names the engine does not own; such files are
// left alone.
func ParseFilename(name string) (typ FileType, num FileNum, ok bool) {
	switch name {
	case "LOCK":
		return FileTypeLock, 0, true
	case "CURRENT":
		return FileTypeCurrent, 0, true
	}
	stem, ext, found := strings.Cut(name, ".")
	manifest := false
	if rest, ok := strings.CutPrefix(name, "MANIFEST-"); ok {
		stem, ext, found, manifest, typ = rest, "", true, true, FileTypeManifest
	}
	if !found {
		return 0, 0, false
	}
	switch ext {
	case "":
		if !manifest {
			return 0, 0, false // "000001." names nothing
		}
	case "log":
		typ = FileTypeLog
	case "tmp":
		typ = FileTypeTemp
	case "sst":
		typ = FileTypeTable
	default:
		return 0, 0, false
	}
	if len(stem) < 6 || strings.TrimLeft(stem, "0123456789") != "" {
		return 0, 0, false
	}
	u, err := strconv.ParseUint(stem, 10, 64)
	if err != nil || FileNum(u).String() != stem {
		return 0, 0, false // only the canonical spelling names a file
	}
	return typ, FileNum(u), true
}
