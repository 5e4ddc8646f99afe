package dkv_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/internal/killpoint"
)

// The kill-point crash test: RocksDB's db_crashtest in miniature. A child
// process (this test binary) writes to a database on the real filesystem
// from several goroutines — synced and unsynced puts, deletes and batches,
// with memtables, levels and MANIFEST limits small enough that flushes,
// compactions and MANIFEST rotations happen all the time — and kills itself
// with SIGKILL at a named kill point (see internal/killpoint). The parent
// then reopens the database and checks it against a model of each writer's
// operations:
//
//   - every synced write the child acknowledged is present;
//   - each writer's keys hold exactly the state after some prefix of its
//     operations — so batches are whole, deleted keys stay deleted, and no
//     value comes back from the dead or from nowhere;
//   - no key exists that no writer wrote;
//   - the LSM invariants hold (checked at Close in invariants builds).
//
// Rounds run one after another on the same directory, so each recovery
// starts from the one before; some kills land inside Open itself.

const (
	kpWriters   = 3
	kpKeys      = 8    // keys per writer
	kpMaxOps    = 2500 // per writer per round
	kpDirEnv    = "DKV_KP_DIR"
	kpRoundEnv  = "DKV_KP_ROUND"
	kpExitEnded = 3 // the child finished its workload without being killed
)

// kpOptions are the child's options, and the parent's when it checks.
func kpOptions() *dkv.Options {
	return &dkv.Options{
		MemTableSize:          24 << 10,
		L0CompactionThreshold: 2,
		LBaseMaxBytes:         48 << 10,
		TargetFileSize:        12 << 10,
		MaxManifestFileSize:   4 << 10,
		Logger:                slog.New(slog.DiscardHandler),
	}
}

// kpOp is one write of a writer: keys with values (nil: delete), synced or
// not.
type kpOp struct {
	keys   []string
	values [][]byte
	sync   bool
}

// kpOps returns writer g's operations in round round. Parent and child
// derive the same ones.
func kpOps(round, g int) []kpOp {
	rng := rand.New(rand.NewPCG(uint64(round), uint64(g)))
	ops := make([]kpOp, kpMaxOps)
	for i := range ops {
		op := kpOp{sync: rng.IntN(3) == 0}
		n := 1
		if rng.IntN(4) == 0 {
			n = 2 + rng.IntN(6)
		}
		for range n {
			op.keys = append(op.keys, fmt.Sprintf("w%d/k%d", g, rng.IntN(kpKeys)))
			var v []byte
			if rng.IntN(5) != 0 {
				v = fmt.Appendf(nil, "r%d-w%d-op%d-%s", round, g, i, strings.Repeat("v", rng.IntN(300)))
			}
			op.values = append(op.values, v)
		}
		ops[i] = op
	}
	return ops
}

// TestKillPoints kills a writing child process at every kill point in
// turn, then at random ones, checking the database after each kill.
// DKV_KILL_PASSES sets how many passes over the kill points run (make soak
// raises it).
func TestKillPoints(t *testing.T) {
	if !killpoint.Enabled {
		t.Skip("kill points are compiled in only with -tags invariants on Unix (the README's test command)")
	}
	passes := 1
	if s := os.Getenv("DKV_KILL_PASSES"); s != "" {
		passes, _ = strconv.Atoi(s)
	}
	points := append([]killpoint.Point(nil), killpoint.All...)
	if testing.Short() {
		points = points[:6]
	}
	dir := t.TempDir()
	state := make([]map[string]string, kpWriters) // each writer's keys
	for g := range state {
		state[g] = map[string]string{}
	}
	// Rounds are numbered from the soak's seed base: a round's number seeds
	// its writers' operations.
	rng := rand.New(rand.NewPCG(1+dkv.SoakSeedBase(), 2))
	round, kills := int(dkv.SoakSeedBase()), 0
	first := round
	run := func(spec string, mustKill bool) {
		t.Helper()
		killed := runKillRound(t, dir, round, spec, state)
		if mustKill {
			require.True(t, killed, "round %d: the child never reached kill point %s", round, spec)
		}
		if killed {
			kills++
		}
		round++
	}
	for range passes {
		for _, p := range points {
			run(fmt.Sprintf("%s:%d", p, 1+rng.IntN(kpHitRange(p))), true)
		}
		// Random points: every hit of any point kills with probability
		// 1/odds.
		for range 4 {
			run(fmt.Sprintf("*:%d:%d", 200+rng.IntN(4000), rng.Uint64()), false)
		}
	}
	t.Logf("%d rounds, %d kills, every one recovered and checked", round-first, kills)
	dkv.SoakCount(t, "kill-points", int64(kills))
}

// kpHitRange is how far into the run a point is armed: frequent points may
// kill late, rare ones (a few hits per run) early enough to be reached.
func kpHitRange(p killpoint.Point) int {
	switch p {
	case killpoint.WALWrite, killpoint.WALSync, killpoint.WALSynced, killpoint.CommitLogged:
		return 1500
	case killpoint.FlushTableWritten, killpoint.FlushInstalled, killpoint.FlushLogRemoved,
		killpoint.RotateLogSealed, killpoint.RotateLogCreated, killpoint.ManifestEditDurable:
		return 8
	case killpoint.OpenRecovered:
		return 1 // once per Open
	default:
		return 2
	}
}

// runKillRound runs one child with DKV_KILLPOINT=spec, checks the database
// it leaves against state and moves state to what was recovered. It
// reports whether the kill point killed the child.
func runKillRound(t *testing.T, dir string, round int, spec string, state []map[string]string) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillPointsChild$")
	cmd.Env = append(os.Environ(), kpDirEnv+"="+dir, kpRoundEnv+"="+strconv.Itoa(round), "DKV_KILLPOINT="+spec)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	acked := make([]int, kpWriters) // ops acknowledged, per writer
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var g, i int
		if _, err := fmt.Sscanf(sc.Text(), "ack %d %d", &g, &i); err == nil {
			require.Equal(t, acked[g], i, "writer %d acknowledged out of order", g)
			acked[g]++
		}
	}
	err = cmd.Wait()
	killed := false
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		ws, _ := exit.Sys().(syscall.WaitStatus)
		killed = ws.Signaled() && ws.Signal() == syscall.SIGKILL
		require.True(t, killed || ws.ExitStatus() == kpExitEnded,
			"round %d (%s): the child failed: %v\n%s", round, spec, err, stderr.String())
	default:
		require.Fail(t, "the child passed without running its workload", "round %d: %s", round, stderr.String())
	}
	if killed {
		require.Contains(t, stderr.String(), "dkv killpoint: ", "round %d: SIGKILL came from elsewhere", round)
	}

	db, err := dkv.Open(dir, kpOptions())
	require.NoError(t, err, "round %d: reopen after kill at %s (%s)", round, spec, strings.TrimSpace(stderr.String()))
	defer func() { require.NoError(t, db.Close(), "round %d", round) }()
	for g := range kpWriters {
		state[g] = matchPrefix(t, db, round, g, state[g], acked[g], spec)
	}
	// No key outside the writers' key sets.
	it, err := db.NewIter(nil)
	require.NoError(t, err)
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		var g, k int
		_, err := fmt.Sscanf(string(it.Key()), "w%d/k%d", &g, &k)
		require.NoError(t, err, "round %d: unexpected key %q", round, it.Key())
		require.Equal(t, state[g][string(it.Key())], string(it.Value()), "round %d: key %q", round, it.Key())
		n++
	}
	require.NoError(t, it.Close())
	total := 0
	for _, s := range state {
		total += len(s)
	}
	require.Equal(t, total, n, "round %d: keys in the database", round)
	return killed
}

// matchPrefix finds the prefix of writer g's round-round operations, applied
// to start, whose result db holds. The prefix must cover every synced
// operation among the acked ones, and can be at most one longer than acked
// (the write in flight when the child died). It returns that state.
func matchPrefix(t *testing.T, db *dkv.DB, round, g int, start map[string]string, acked int, spec string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for k := range kpKeys {
		key := fmt.Sprintf("w%d/k%d", g, k)
		v, err := db.Get([]byte(key))
		if errors.Is(err, dkv.ErrNotFound) {
			continue
		}
		require.NoError(t, err, "round %d: get %s", round, key)
		got[key] = string(v)
	}
	ops := kpOps(round, g)
	mustInclude := 0
	for i := range acked {
		if ops[i].sync {
			mustInclude = i + 1
		}
	}
	cur := make(map[string]string, len(start))
	for k, v := range start {
		cur[k] = v
	}
	for p := 0; p <= min(acked+1, len(ops)); p++ {
		if p > 0 {
			for j, k := range ops[p-1].keys {
				if ops[p-1].values[j] == nil {
					delete(cur, k)
				} else {
					cur[k] = string(ops[p-1].values[j])
				}
			}
		}
		if p >= mustInclude && equalState(cur, got) {
			return cur
		}
	}
	require.Failf(t, "state matches no prefix", "round %d, kill %s: writer %d's keys match no prefix of its %d acknowledged writes (+1 in flight) that includes the %d up to its last synced one:\n%v",
		round, spec, g, acked, mustInclude, got)
	return nil
}

func equalState(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestKillPointsChild is the child of TestKillPoints: it opens the
// database, runs the round's writes from kpWriters goroutines printing
// "ack <writer> <op>" for each, then flushes, compacts everything and
// closes, and exits with kpExitEnded — unless a kill point kills it first.
func TestKillPointsChild(t *testing.T) {
	dir := os.Getenv(kpDirEnv)
	if dir == "" {
		t.Skip("run by TestKillPoints")
	}
	round, _ := strconv.Atoi(os.Getenv(kpRoundEnv))
	fail := func(what string, err error) {
		fmt.Fprintf(os.Stderr, "child: %s: %v\n", what, err)
		os.Exit(1)
	}
	db, err := dkv.Open(dir, kpOptions())
	if err != nil {
		fail("open", err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range kpWriters {
		ops := kpOps(round, g)
		wg.Go(func() {
			for i, op := range ops {
				b := db.NewBatch()
				for j, k := range op.keys {
					if op.values[j] == nil {
						_ = b.Delete([]byte(k))
					} else {
						_ = b.Put([]byte(k), op.values[j])
					}
				}
				if err := db.Write(b, &dkv.WriteOptions{Sync: op.sync}); err != nil {
					fail("write", err)
				}
				mu.Lock()
				fmt.Printf("ack %d %d\n", g, i)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := db.Flush(); err != nil {
		fail("flush", err)
	}
	if err := db.Compact(context.Background(), nil, nil); err != nil {
		fail("compact", err)
	}
	if err := db.Close(); err != nil {
		fail("close", err)
	}
	os.Exit(kpExitEnded)
}
