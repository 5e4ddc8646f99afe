package memtable

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
	"github.com/distributedkv/dkv/internal/manual"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata")

// TestGetGolden runs testdata/get: Get returns the newest version visible at
// a sequence number, tombstones included.
func TestGetGolden(t *testing.T) {
	runGolden(t, "testdata/get", func(m *MemTable, cmd string, args []string, input []string) string {
		switch cmd {
		case "add":
			for _, line := range input {
				key, seq, kind, value := parseVersion(t, line)
				m.Add(seq, kind, key, value)
			}
			return "ok"
		case "get":
			key, seq, _, _ := parseVersion(t, args[0]+",SET")
			v, tr, ok := m.Get(key, seq)
			if !ok {
				return "not found"
			}
			found := tr.SeqNum()
			if tr.Kind() == base.KindDelete {
				return fmt.Sprintf("%s#%d,DEL", key, found)
			}
			return fmt.Sprintf("%s#%d,SET=%s", key, found, v)
		}
		t.Fatalf("unknown command %q", cmd)
		return ""
	})
}

// parseVersion parses key#seq,KIND[=value].
func parseVersion(t *testing.T, s string) (key []byte, seq base.SeqNum, kind base.Kind, value []byte) {
	k, rest, ok := strings.Cut(s, "#")
	require.True(t, ok, "bad version %q", s)
	seqStr, kindStr, ok := strings.Cut(rest, ",")
	require.True(t, ok, "bad version %q", s)
	n, err := strconv.ParseUint(seqStr, 10, 64)
	require.NoError(t, err)
	kindStr, val, hasVal := strings.Cut(kindStr, "=")
	switch kindStr {
	case "SET":
		kind = base.KindSet
		if hasVal {
			value = []byte(val)
		}
	case "DEL":
		kind = base.KindDelete
	default:
		t.Fatalf("bad kind in %q", s)
	}
	return []byte(k), base.SeqNum(n), kind, value
}

// runGolden executes a data-driven file: blocks of "command args", input
// lines, "----", expected output, separated by blank lines; # starts a
// comment. With -update it rewrites the expected output.
func runGolden(t *testing.T, path string, run func(m *MemTable, cmd string, args []string, input []string) string) {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	m := New(base.DefaultComparer, 1<<20)
	var out strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			continue
		}
		fields := strings.Fields(line)
		out.WriteString(line + "\n")
		var input []string
		for sc.Scan() && sc.Text() != "----" {
			input = append(input, sc.Text())
			out.WriteString(sc.Text() + "\n")
		}
		var want []string
		for sc.Scan() && sc.Text() != "" {
			want = append(want, sc.Text())
		}
		got := run(m, fields[0], fields[1:], input)
		out.WriteString("----\n" + got + "\n")
		if !*update && got != strings.Join(want, "\n") {
			t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", path, line, got, strings.Join(want, "\n"))
		}
		if sc.Err() == nil {
			out.WriteString("\n")
		}
	}
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644))
	}
}

// Random versions checked against a model: for every key and sequence
// number, Get returns the newest version at or below it.
func TestGetMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	m := New(base.DefaultComparer, 1<<20)
	type version struct {
		seq   base.SeqNum
		kind  base.Kind
		value string
	}
	model := map[string][]version{}
	for seq := base.SeqNum(1); seq <= 3000; seq++ {
		k := fmt.Sprintf("k%d", rng.IntN(100))
		v := version{seq: seq, kind: base.KindSet, value: fmt.Sprint(rng.Uint32())}
		if rng.IntN(4) == 0 {
			v = version{seq: seq, kind: base.KindDelete}
		}
		m.Add(v.seq, v.kind, []byte(k), []byte(v.value))
		model[k] = append(model[k], v)
	}
	for range 5000 {
		k := fmt.Sprintf("k%d", rng.IntN(110))
		seq := base.SeqNum(rng.IntN(3100))
		var want *version
		for i := range model[k] {
			if model[k][i].seq <= seq {
				want = &model[k][i]
			}
		}
		v, tr, ok := m.Get([]byte(k), seq)
		if want == nil {
			require.False(t, ok, "%s@%d", k, seq)
			continue
		}
		require.True(t, ok, "%s@%d", k, seq)
		require.Equal(t, want.seq, tr.SeqNum(), "%s@%d", k, seq)
		require.Equal(t, want.kind, tr.Kind(), "%s@%d", k, seq)
		if tr.Kind() == base.KindSet {
			require.Equal(t, want.value, string(v), "%s@%d", k, seq)
		}
	}
	require.Equal(t, 3000, m.Len())
}

// The memtable copies what it is given, and accounts for keys, values and a
// per-entry overhead, whatever their size (large values bypass the arena).
func TestCopiesAndAccounting(t *testing.T) {
	m := New(base.DefaultComparer, 1<<20)
	require.True(t, m.Empty())
	key, val := []byte("key"), []byte("value")
	m.Add(1, base.KindSet, key, val)
	key[0], val[0] = 'X', 'X'
	v, _, ok := m.Get([]byte("key"), 1)
	require.True(t, ok)
	require.Equal(t, "value", string(v))
	big := bytes.Repeat([]byte("b"), arenaChunk)
	m.Add(2, base.KindSet, []byte("big"), big)
	v, _, _ = m.Get([]byte("big"), 2)
	require.Equal(t, big, v)
	require.Equal(t, int64(3+5+EntryOverhead+3+arenaChunk+EntryOverhead), m.ApproximateSize())
	require.Equal(t, 2, m.Len())
	require.False(t, m.Empty())
}

// One writer and many readers may run at once (run with -race). Readers
// at a fixed sequence number always get the same answer while the writer
// adds newer versions.
func TestOneWriterManyReaders(t *testing.T) {
	m := New(base.DefaultComparer, 1<<20)
	for i := range 100 {
		m.Add(base.SeqNum(i+1), base.KindSet, []byte(fmt.Sprint("k", i)), []byte("old"))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := range 100 {
					v, _, ok := m.Get([]byte(fmt.Sprint("k", i)), 100)
					if !ok || string(v) != "old" {
						t.Errorf("k%d at seq 100: %q %v", i, v, ok)
						return
					}
				}
			}
		})
	}
	for i := range 5000 {
		m.Add(base.SeqNum(101+i), base.KindSet, []byte(fmt.Sprint("k", i%100)), []byte("new"))
	}
	close(stop)
	wg.Wait()
}

// FuzzKeyPrefix: when two keys' prefixes differ they order the keys as
// bytes.Compare does; when they are equal, the keys share their first 8
// bytes (up to zero padding), so the full comparison must decide.
func FuzzKeyPrefix(f *testing.F) {
	f.Add([]byte("a"), []byte("a\x00"))
	f.Add([]byte("key:0001"), []byte("key:0002extra"))
	f.Add([]byte{}, []byte{0})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		pa, pb := keyPrefix(a), keyPrefix(b)
		c := bytes.Compare(a, b)
		switch {
		case pa < pb && c >= 0, pa > pb && c <= 0:
			t.Fatalf("prefixes %x, %x order %q, %q against bytes.Compare (%d)", pa, pb, a, b, c)
		}
	})
}

// An Inserter's entries are all there after Finish, accounted for once, and
// readers may search the tree while it holds the lock for a group (run with
// -race).
func TestInserter(t *testing.T) {
	m := New(base.DefaultComparer, 1<<20)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			m.Get([]byte("k0050"), base.SeqNumMax)
		}
	})
	in := m.Inserter()
	for i := range 100 {
		in.Add(base.SeqNum(i+1), base.KindSet, fmt.Appendf(nil, "k%04d", i), []byte("v"))
	}
	require.Equal(t, 0, m.Len(), "accounted before Finish")
	in.Finish()
	in.Finish() // a second Finish is harmless
	close(stop)
	wg.Wait()
	require.Equal(t, 100, m.Len())
	require.Equal(t, int64(100*(5+1+EntryOverhead)), m.ApproximateSize())
	for i := range 100 {
		v, tr, ok := m.Get(fmt.Appendf(nil, "k%04d", i), base.SeqNumMax)
		require.True(t, ok, "k%04d", i)
		require.Equal(t, "v", string(v))
		require.Equal(t, base.SeqNum(i+1), tr.SeqNum())
	}
}

// An Inserter copies a large value with the tree's lock released, so that
// readers do not wait for the copy.
func TestInserterReleasesLockForLargeValues(t *testing.T) {
	m := New(base.DefaultComparer, 1<<20)
	in := m.Inserter()
	in.Add(1, base.KindSet, []byte("a"), []byte("small"))
	in.Add(2, base.KindSet, []byte("b"), []byte("small"))
	require.Equal(t, 2, in.locked)
	require.False(t, m.mu.TryRLock(), "held between small adds")
	in.Add(3, base.KindSet, []byte("c"), bytes.Repeat([]byte("x"), insertGroupBytes))
	require.Equal(t, 1, in.locked, "released for the copy, taken again for the insert")
	require.Zero(t, in.lockedBytes)
	in.Finish()
	require.True(t, m.mu.TryRLock(), "released by Finish")
	m.mu.RUnlock()
	v, _, ok := m.Get([]byte("c"), 3)
	require.True(t, ok)
	require.Len(t, v, insertGroupBytes)
}

// The arena lives outside the Go heap and goes back when the last owner
// lets go: each Ref needs an Unref, and the last one frees the memory.
func TestRefUnrefFreesArena(t *testing.T) {
	before := manual.ReadStats().InUse
	m := New(base.DefaultComparer, 1<<20)
	for i := range 1000 {
		m.Add(base.SeqNum(i+1), base.KindSet, []byte(fmt.Sprintf("k%04d", i)), bytes.Repeat([]byte("v"), 300))
	}
	m.Add(1001, base.KindSet, []byte("big"), make([]byte, arenaChunk)) // a buffer of its own
	held := manual.ReadStats().InUse - before
	require.Greater(t, held, int64(1000*300))
	m.Ref() // a reader
	m.Unref()
	v, _, ok := m.Get([]byte("k0500"), 2000)
	require.True(t, ok, "still held by its creator")
	require.Len(t, v, 300)
	m.Unref()
	require.Equal(t, before, manual.ReadStats().InUse, "the last Unref freed the arena")
	require.Panics(t, func() { m.Unref() })
	require.Panics(t, func() { m.Ref() })
}
