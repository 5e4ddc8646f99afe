// Package leaktest finds goroutines a test left running: a TestMain calls
// Leaked after the tests, with the packages whose goroutines must all be
// gone, and fails the run when any remain.
package leaktest

import (
	"runtime"
	"strings"
	"time"
)

// Leaked waits up to grace for every goroutine whose stack mentions one of
// the substrings (package paths, say) to end, and returns the stacks of
// those that did not, or "".
func Leaked(grace time.Duration, substrings ...string) string {
	deadline := time.Now().Add(grace)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "leaktest.Leaked") {
				continue
			}
			for _, s := range substrings {
				if strings.Contains(g, s) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
