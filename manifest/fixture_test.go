package manifest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/vfs"
	"github.com/distributedkv/dkv/wal"
)

// exampleSalt is the salt of the worked example's MANIFEST. A real
// MANIFEST has a random one (manifest.Create does not choose it), so only
// the checksums differ from what Create writes.
const exampleSalt = 0x0123456789abcdef

// exampleEdits are the records of the worked example in
// docs/format/manifest.md: a new database's snapshot, a flush, and a
// compaction that rewrites the flushed table into L1.
func exampleEdits() []*VersionEdit { return historyEdits()[:3] }

// records returns each record of the log in data and its offset.
func records(t testing.TB, data []byte, num base.FileNum) (recs [][]byte, offsets []int64) {
	t.Helper()
	r := wal.NewReader(bytes.NewReader(data), int64(len(data)), "example", num)
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			require.False(t, r.Tail().Torn)
			return recs, offsets
		}
		require.NoError(t, err)
		recs = append(recs, bytes.Clone(rec))
		offsets = append(offsets, r.Offset())
	}
}

// testdata/v1-example.MANIFEST is the worked example of
// docs/format/manifest.md, as format version 1 writes it (WAL framing
// version 1, edit tags 1 to 6). Replay must read it forever; the framing
// with its salt fixed must still write exactly these bytes; and Create,
// Append and Close must write the same records at the same offsets. A
// change to any of these is a format change: bump the version, keep this
// fixture, add one for the new version. DKV_WRITE_MANIFEST_FIXTURE=1
// rewrites it.
func TestFormatV1Fixture(t *testing.T) {
	const path = "testdata/v1-example.MANIFEST"
	edits := exampleEdits()

	fs := newFS(t)
	writeRawManifest(t, fs, 1, exampleSalt, encodeAll(edits...))
	written := readFile(t, fs, manifestPath(1))
	if os.Getenv("DKV_WRITE_MANIFEST_FIXTURE") != "" {
		require.NoError(t, os.WriteFile(path, written, 0o644))
	}
	fixture, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Len(t, fixture, 200, "the worked example is 200 bytes")
	require.True(t, bytes.Equal(fixture, written), "the MANIFEST format has changed:\n%s", hex.Dump(written))

	// Replay reads the fixture.
	rfs := newFS(t)
	writeFile(t, rfs, manifestPath(1), fixture)
	s, err := Replay(rfs, dir, 1, base.DefaultComparer, nil)
	require.NoError(t, err)
	requireStatesEqual(t, fold(t, edits), s)
	require.Equal(t, "L1:\n  000007.sst[\"a\"#2,SET-\"greeting\"#1,SET] 760 bytes, seqs 1-3\n", s.Version.String())

	// The Writer lays out the same records at the same offsets.
	wfs := vfs.NewMem()
	require.NoError(t, wfs.MkdirAll(dir, 0o755))
	writeManifest(t, wfs, 1, edits)
	byWriter := readFile(t, wfs, manifestPath(1))
	require.Len(t, byWriter, len(fixture))
	gotRecs, gotOffs := records(t, byWriter, 1)
	wantRecs, wantOffs := records(t, fixture, 1)
	require.Equal(t, wantRecs, gotRecs)
	require.Equal(t, wantOffs, gotOffs)
	require.Equal(t, []int64{35, 76, 131}, wantOffs)
}
