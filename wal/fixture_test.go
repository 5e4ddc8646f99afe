package wal

import (
	"bytes"
	"encoding/hex"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/vfs"
)

// The two batches of the worked example in docs/format/wal.md.
var exampleRecords = [][]byte{
	mustHex("0100000000000000" + "01000000" + "01" + "08" + "6772656574696e67" + "05" + "68656c6c6f"),
	mustHex("0200000000000000" + "02000000" + "01" + "01" + "61" + "01" + "31" + "00" + "01" + "62"),
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// testdata/v1-example.log is the worked example of docs/format/wal.md, as
// version 1 wrote it. The reader must read it forever, and today's writer
// must still write exactly these bytes: a change to either is a format
// change (bump Version, keep this fixture, add one for the new version).
func TestFormatV1Fixture(t *testing.T) {
	const path = "testdata/v1-example.log"
	fs := vfs.NewMem()
	f, err := fs.Create("000001.log")
	require.NoError(t, err)
	d := newDurability()
	w, err := NewWriter(f, "000001.log", 1, WriterOptions{OnSync: d.onSync, Salt: 0x0123456789abcdef})
	require.NoError(t, err)
	for _, rec := range exampleRecords {
		end, err := w.Append(rec, true)
		require.NoError(t, err)
		require.NoError(t, d.wait(end))
	}
	require.NoError(t, w.Close())
	written := fileBytes(t, fs, "000001.log")
	if os.Getenv("DKV_WRITE_WAL_FIXTURE") != "" {
		require.NoError(t, os.WriteFile(path, written, 0o644))
	}

	fixture, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Len(t, fixture, 128, "the worked example is 128 bytes")
	require.True(t, bytes.Equal(fixture, written), "the writer no longer writes format version 1:\n%s", hex.Dump(written))
	got, tail, err := readLog(fixture, 1)
	require.NoError(t, err)
	require.False(t, tail.Torn)
	require.Equal(t, exampleRecords, got)
}
