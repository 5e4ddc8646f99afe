//go:build invariants && unix

package killpoint

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Enabled reports whether this build can kill at kill points.
const Enabled = true

var armed struct {
	once   sync.Once
	on     bool
	target Point // "" with odds: any point
	n      int64
	odds   uint64

	mu   sync.Mutex
	hits map[Point]int64
	rng  *rand.Rand
}

// Hit marks that execution reached p, and kills the process if
// DKV_KILLPOINT says so.
func Hit(p Point) {
	armed.once.Do(arm)
	if !armed.on {
		return
	}
	armed.mu.Lock()
	armed.hits[p]++
	n := armed.hits[p]
	kill := false
	if armed.target == "" {
		kill = armed.rng.Uint64N(armed.odds) == 0
	} else {
		kill = p == armed.target && n == armed.n
	}
	if kill {
		// Written straight to the file descriptor: nothing buffered is
		// lost to the signal.
		fmt.Fprintf(os.Stderr, "dkv killpoint: %s hit %d\n", p, n)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way; let nothing else run here
	}
	armed.mu.Unlock()
}

// arm parses DKV_KILLPOINT. A malformed value is reported on standard
// error and arms nothing: a crash test then fails for want of a kill.
func arm() {
	spec := os.Getenv("DKV_KILLPOINT")
	if spec == "" {
		return
	}
	parts := strings.Split(spec, ":")
	armed.hits = map[Point]int64{}
	switch {
	case parts[0] == "*" && len(parts) == 3:
		odds, err1 := strconv.ParseUint(parts[1], 10, 64)
		seed, err2 := strconv.ParseUint(parts[2], 10, 64)
		if err1 != nil || err2 != nil || odds == 0 {
			break
		}
		armed.odds, armed.rng, armed.on = odds, rand.New(rand.NewPCG(seed, seed^0x5eed)), true
	case len(parts) <= 2 && known(Point(parts[0])):
		armed.target, armed.n = Point(parts[0]), 1
		if len(parts) == 2 {
			n, err := strconv.ParseInt(parts[1], 10, 64)
			if err != nil || n < 1 {
				break
			}
			armed.n = n
		}
		armed.on = true
	}
	if !armed.on {
		fmt.Fprintf(os.Stderr, "dkv killpoint: ignoring malformed DKV_KILLPOINT=%q (want name[:n] or *:odds:seed)\n", spec)
	}
}

func known(p Point) bool {
	for _, q := range All {
		if p == q {
			return true
		}
	}
	return false
}
