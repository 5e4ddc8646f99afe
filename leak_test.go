package dkv

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain runs the package's tests, then checks that none left a
// goroutine of the engine running: every DB a test opened was closed (or
// its process "killed"), and Close must stop every goroutine the engine
// started — log writers, flush and compaction loops, deletions. A leak
// fails the run with the leaked goroutines' stacks.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := engineGoroutines(10 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "FAIL: goroutines of the engine still run after every test ended:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// engineGoroutines waits up to grace for every goroutine running engine
// code to end, and returns the stacks of those that did not.
func engineGoroutines(grace time.Duration) string {
	deadline := time.Now().Add(grace)
	for {
		leaked := engineStacks()
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// engineStacks returns the stacks of the goroutines, other than the
// caller's, with a frame in one of the engine's packages.
func engineStacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range bytes.Split(buf, []byte("\n\n")) {
		if i == 0 {
			continue // the caller
		}
		for _, line := range strings.Split(string(g), "\n") {
			if strings.HasPrefix(line, "github.com/distributedkv/dkv.") || strings.HasPrefix(line, "github.com/distributedkv/dkv/") {
				out = append(out, string(g))
				break
			}
		}
	}
	return strings.Join(out, "\n\n")
}
