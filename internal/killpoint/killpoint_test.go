package killpoint

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestChild is the process the other tests start: it hits WALWrite ten
// times, then WALSync ten times, and exits 0 unless a kill point kills it.
func TestChild(t *testing.T) {
	if os.Getenv("DKV_KILLPOINT_TEST_CHILD") == "" {
		t.Skip("started by the tests below")
	}
	for range 10 {
		Hit(WALWrite)
	}
	for range 10 {
		Hit(WALSync)
	}
}

// runChild runs TestChild with DKV_KILLPOINT=spec and returns whether
// SIGKILL ended it, and what it printed.
func runChild(t *testing.T, spec string) (killed bool, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$")
	cmd.Env = append(os.Environ(), "DKV_KILLPOINT_TEST_CHILD=1", "DKV_KILLPOINT="+spec)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		ws, ok := exit.Sys().(syscall.WaitStatus)
		require.True(t, ok)
		return ws.Signaled() && ws.Signal() == syscall.SIGKILL, string(out)
	}
	require.NoError(t, err, "child: %s", out)
	return false, string(out)
}

func TestKillAtNthHit(t *testing.T) {
	if !Enabled {
		t.Skip("kill points are compiled in only with -tags invariants on Unix")
	}
	killed, out := runChild(t, "wal.sync:3")
	require.True(t, killed, "the child was not killed: %s", out)
	require.Contains(t, out, "dkv killpoint: wal.sync hit 3\n")

	killed, out = runChild(t, "wal.write:11") // there are only ten hits
	require.False(t, killed, "killed at a hit that never comes: %s", out)
}

func TestKillAtRandom(t *testing.T) {
	if !Enabled {
		t.Skip("kill points are compiled in only with -tags invariants on Unix")
	}
	// With odds 1 the first hit of any point kills.
	killed, out := runChild(t, "*:1:7")
	require.True(t, killed, out)
	require.Contains(t, out, "dkv killpoint: wal.write hit 1\n")
}

func TestMalformedSpecArmsNothing(t *testing.T) {
	if !Enabled {
		t.Skip("kill points are compiled in only with -tags invariants on Unix")
	}
	for _, spec := range []string{"no.such.point", "wal.sync:0", "wal.sync:x", "*:0:1", "*:5", "wal.sync:1:2"} {
		killed, out := runChild(t, spec)
		require.False(t, killed, spec)
		require.Contains(t, out, "ignoring malformed DKV_KILLPOINT", spec)
	}
}

// TestUnarmedHitIsFree: without DKV_KILLPOINT a hit does nothing, in every
// build.
func TestUnarmedHitIsFree(t *testing.T) {
	if os.Getenv("DKV_KILLPOINT") != "" {
		t.Skip("DKV_KILLPOINT is set")
	}
	for _, p := range All {
		Hit(p)
	}
}

func TestNamesAreUnique(t *testing.T) {
	seen := map[Point]bool{}
	for _, p := range All {
		require.False(t, seen[p], p)
		seen[p] = true
	}
}
