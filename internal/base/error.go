package base

import (
	"errors"
	"fmt"
)

// ErrCorruption is the class of every error that reports bytes on disk that
// fail a check. Callers test for it with errors.Is; the concrete error is a
// *CorruptionError naming the file and offset.
var ErrCorruption = errors.New("dkv: corruption")

// CorruptionError reports that the bytes of File at Offset failed a check.
// The engine never returns such bytes as data.
type CorruptionError struct {
	File   string // path of the file, as the engine opened it
	Offset int64  // byte offset of the bad record or block; -1 if unknown
	Reason string // what check failed, e.g. "checksum mismatch"
}

// Error formats the error as "dkv: corruption in FILE at offset N: REASON".
func (e *CorruptionError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("dkv: corruption in %s: %s", e.File, e.Reason)
	}
	return fmt.Sprintf("dkv: corruption in %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrCorruption) true for every CorruptionError.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorruption }

// CorruptionErrorf returns a *CorruptionError for file at offset with a
// formatted reason.
func CorruptionErrorf(file string, offset int64, format string, args ...any) error {
	return &CorruptionError{File: file, Offset: offset, Reason: fmt.Sprintf(format, args...)}
}
