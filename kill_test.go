package dkv_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
)

const killChildEnv = "DKV_KILL_CHILD_DIR"

// TestKillChildProcess checks the durability contract against a real crash
// of the process: a child process writes synced batches from several
// goroutines, printing "ack" for each acknowledged one, and is killed with
// SIGKILL at a random moment mid-writes. After each kill the database must
// reopen, hold every acknowledged batch, and hold every batch — acknowledged
// or in flight — either whole or not at all.
func TestKillChildProcess(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL is a Unix signal")
	}
	dir := t.TempDir()
	acked := map[string]bool{}
	rounds := 4
	if testing.Short() {
		rounds = 2
	}
	if s := os.Getenv("DKV_KILL_ROUNDS"); s != "" { // scripts/soak.sh raises it
		var err error
		rounds, err = strconv.Atoi(s)
		require.NoError(t, err, "DKV_KILL_ROUNDS")
	}
	for round := range rounds {
		ids := runAndKill(t, dir, round, 300+round%8*300)
		t.Logf("round %d: %d batches acknowledged before SIGKILL", round, len(ids))
		for _, id := range ids {
			acked[id] = true
		}
		db, err := dkv.Open(dir, nil)
		require.NoError(t, err, "round %d: reopen after SIGKILL", round)
		for id := range acked {
			for part := range 3 {
				v, err := db.Get([]byte(fmt.Sprintf("%s/%d", id, part)))
				require.NoError(t, err, "round %d: acknowledged batch %s lost", round, id)
				require.Equal(t, id, string(v))
			}
		}
		checkNoPartialBatches(t, db, round)
		require.NoError(t, db.Close())
	}
	dkv.SoakCount(t, "kills", int64(rounds))
}

// runAndKill starts a writer child on dir, kills it after it acknowledged
// about n batches, and returns the ids it acknowledged.
func runAndKill(t *testing.T, dir string, round, n int) []string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChildHelper$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir, "DKV_KILL_ROUND="+strconv.Itoa(round))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	var ids []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "ack "); ok {
			ids = append(ids, id)
			if len(ids) >= n {
				break
			}
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	// Acknowledgements printed before the kill landed count too.
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			ids = append(ids, id)
		}
	}
	_ = cmd.Wait()
	require.GreaterOrEqual(t, len(ids), n, "the child stopped early")
	return ids
}

// checkNoPartialBatches scans the ids the children could have written and
// fails if any batch is only partly present.
func checkNoPartialBatches(t *testing.T, db *dkv.DB, rounds int) {
	for round := 0; round <= rounds; round++ {
		for g := range killWriters {
			for i := 0; ; i++ {
				id := fmt.Sprintf("r%d-g%d-%d", round, g, i)
				present := 0
				for part := range 3 {
					if _, err := db.Get([]byte(fmt.Sprintf("%s/%d", id, part))); err == nil {
						present++
					}
				}
				require.Contains(t, []int{0, 3}, present, "batch %s is partly present", id)
				if present == 0 {
					break // writers number their batches without gaps
				}
			}
		}
	}
}

const killWriters = 4

// TestKillChildHelper is the child of TestKillChildProcess: it writes
// batches until it is killed.
func TestKillChildHelper(t *testing.T) {
	dir := os.Getenv(killChildEnv)
	if dir == "" {
		t.Skip("run by TestKillChildProcess")
	}
	db, err := dkv.Open(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(1)
	}
	round := os.Getenv("DKV_KILL_ROUND")
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range killWriters {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("r%s-g%d-%d", round, g, i)
				b := db.NewBatch()
				for part := range 3 {
					_ = b.Put([]byte(fmt.Sprintf("%s/%d", id, part)), []byte(id))
				}
				if err := db.Write(b, dkv.Sync); err != nil {
					fmt.Fprintln(os.Stderr, "child: write:", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %s\n", id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	time.Sleep(time.Hour) // never reached: the parent kills us
}
