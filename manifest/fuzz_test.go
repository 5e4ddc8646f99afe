package manifest

import (
	"errors"
	"strings"
	"testing"

	"github.com/distributedkv/dkv/internal/base"
)

// FuzzReplay frames three arbitrary records as a MANIFEST (valid chunks,
// so the bytes reach the edit decoder and the builder) and replays it.
// Replay must never panic; it fails with corruption naming the file, or
// with the comparer mismatch; what it accepts is an ordered version. When
// folding the edits one at a time with State.Apply succeeds, Replay must
// succeed too, with the same state.
func FuzzReplay(f *testing.F) {
	recs := encodeAll(historyEdits()...)
	f.Add(recs[0], recs[1], recs[2])
	f.Add(recs[0], recs[1], recs[3])
	f.Add(recs[0], recs[2], recs[1]) // deletes a table that is not there
	f.Add(recs[0], []byte{}, recs[1])
	f.Add(recs[1], recs[2], recs[3]) // names no comparer
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		fs := newFS(t)
		writeRawManifest(t, fs, 1, 0, [][]byte{a, b, c})
		got, err := Replay(fs, dir, 1, base.DefaultComparer, nil)

		// The slow reference: decode and apply each edit in turn.
		want := &State{Version: &Version{}}
		var werr error
		for _, rec := range [][]byte{a, b, c} {
			var e VersionEdit
			if werr = e.Decode(rec); werr != nil {
				break
			}
			if e.ComparerName != "" && e.ComparerName != base.DefaultComparer.Name {
				werr = errors.New("comparer")
				break
			}
			if werr = want.Apply(cmp, &e); werr != nil {
				break
			}
			want.Edits++
		}
		if werr == nil && want.ComparerName != "" && checkCounters(want) {
			if err != nil {
				t.Fatalf("the edits apply one by one, but Replay fails: %v", err)
			}
			requireStatesEqual(t, want, got)
		}
		if err != nil {
			var ce *base.CorruptionError
			if errors.As(err, &ce) {
				if ce.File != manifestPath(1) {
					t.Fatalf("corruption names %q", ce.File)
				}
			} else if !strings.Contains(err.Error(), "written with comparer") {
				t.Fatalf("neither corruption nor a comparer mismatch: %v", err)
			}
			return
		}
		if err := got.Version.CheckOrdering(cmp); err != nil {
			t.Fatalf("Replay accepted a disordered version: %v", err)
		}
	})
}

// checkCounters reports whether s passes Replay's whole-file checks on file
// numbers.
func checkCounters(s *State) bool {
	for _, f := range s.Version.Files() {
		if f.FileNum >= s.NextFileNum {
			return false
		}
	}
	return s.LogNum == 0 || s.LogNum < s.NextFileNum
}
