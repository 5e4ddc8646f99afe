package iterator

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/internal/base"
)

// splitFiles cuts sorted entries into the files of one level: a cut falls
// only between two user keys, so files do not overlap by user key. Empty
// files are slipped in between, with bounds in the gap between their
// neighbours.
func splitFiles(rng *rand.Rand, kvs []kv) (files []FileBounds, contents [][]kv) {
	prev := ""
	addEmpty := func() {
		for rng.IntN(4) == 0 {
			uk := []byte(fmt.Sprintf("%s\x00%03d", prev, len(files)))
			files = append(files, FileBounds{
				Smallest: base.MakeInternalKey(uk, 9, base.KindSet),
				Largest:  base.MakeInternalKey(uk, 1, base.KindSet),
			})
			contents = append(contents, nil)
		}
	}
	addEmpty()
	for start := 0; start < len(kvs); {
		end := start + 1 + rng.IntN(8)
		for end < len(kvs) && cmp(kvs[end].key.UserKey, kvs[end-1].key.UserKey) == 0 {
			end++
		}
		end = min(end, len(kvs))
		files = append(files, FileBounds{Smallest: kvs[start].key, Largest: kvs[end-1].key})
		contents = append(contents, kvs[start:end])
		prev = string(kvs[end-1].key.UserKey)
		addEmpty()
		start = end
	}
	return files, contents
}

// randomVersions returns n sorted entries over keySpace user keys, with
// unique sequence numbers, a quarter of them tombstones.
func randomVersions(rng *rand.Rand, n, keySpace int) []kv {
	var kvs []kv
	for i := range n {
		kind := base.KindSet
		value := fmt.Sprintf("v%d", i+1)
		if rng.IntN(4) == 0 {
			kind, value = base.KindDelete, ""
		}
		key := base.MakeInternalKey(randomUserKey(rng, keySpace), base.SeqNum(i+1), kind)
		kvs = append(kvs, kv{key, []byte(value)})
	}
	sortKVs(kvs)
	return kvs
}

// levelOpener opens files over contents and counts the iterators it opened
// and that were closed.
type levelOpener struct {
	contents     [][]kv
	opens, live  int
	maxLive      int
	fail         int // open of this file fails; -1: none
	failChildAt  int // the opened children fail at this call; 0: never
	openErr      error
	lastChildErr error
	children     []*sliceIter
	openFailed   bool
}

// failed reports whether an open or an opened file has failed.
func (o *levelOpener) failed() bool {
	for _, c := range o.children {
		if c.failed {
			return true
		}
	}
	return o.openFailed
}

func (o *levelOpener) open(i int) (base.InternalIterator, error) {
	if i == o.fail {
		o.openFailed = true
		return nil, o.openErr
	}
	o.opens++
	o.live++
	o.maxLive = max(o.maxLive, o.live)
	s := newSliceIter(o.contents[i])
	s.failAt = o.failChildAt
	s.err = o.lastChildErr
	s.onClose = func() { o.live-- }
	o.children = append(o.children, s)
	return s, nil
}

// A LevelIter yields the concatenation of its files, skipping empty ones,
// in both directions; it opens nothing until positioned and keeps at most
// one file open.
func TestLevelMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for iter := range 300 {
		keySpace := []int{3, 20, 80}[iter%3]
		kvs := randomVersions(rng, rng.IntN(120), keySpace)
		files, contents := splitFiles(rng, kvs)
		o := &levelOpener{contents: contents, fail: -1}
		l := NewLevel(cmp, files, o.open)
		require.Zero(t, o.opens, "NewLevel opens nothing")
		checkOps(t, rng, l, kvs, 300, seekKeyGen(rng, keySpace, len(kvs)))
		require.LessOrEqual(t, o.maxLive, 1, "more than one file open at a time")
		require.NoError(t, l.Close())
		require.Zero(t, o.live, "Close leaves a file open")
	}
}

// Empty files are skipped in both directions, at the ends and in the
// middle, and iteration visits each file once.
func TestLevelSkipsEmptyFiles(t *testing.T) {
	e := func(uk string, seq base.SeqNum) kv {
		return kv{base.MakeInternalKey([]byte(uk), seq, base.KindSet), []byte(uk)}
	}
	bound := func(uk string) FileBounds {
		k := base.MakeInternalKey([]byte(uk), 1, base.KindSet)
		return FileBounds{k, k}
	}
	contents := [][]kv{nil, {e("b", 2), e("b", 1)}, nil, nil, {e("f", 3)}, nil}
	files := []FileBounds{bound("a"), {contents[1][0].key, contents[1][1].key}, bound("c"), bound("d"), {contents[4][0].key, contents[4][0].key}, bound("g")}
	o := &levelOpener{contents: contents, fail: -1}
	l := NewLevel(cmp, files, o.open)
	var got []string
	for ok := l.First(); ok; ok = l.Next() {
		got = append(got, l.Key().String())
	}
	require.Equal(t, []string{`"b"#2,SET`, `"b"#1,SET`, `"f"#3,SET`}, got)
	require.Equal(t, 6, o.opens, "each file opened once")
	require.Zero(t, o.live, "running off the end closes the last file")
	got = got[:0]
	for ok := l.Last(); ok; ok = l.Prev() {
		got = append(got, l.Key().String())
	}
	require.Equal(t, []string{`"f"#3,SET`, `"b"#1,SET`, `"b"#2,SET`}, got)

	// A seek into an empty file's range lands in the next non-empty file.
	require.True(t, l.SeekGE(base.MakeInternalKey([]byte("c"), 5, base.KindSet)))
	require.Equal(t, "f", string(l.Key().UserKey))
	require.True(t, l.SeekLT(base.MakeInternalKey([]byte("e"), 5, base.KindSet)))
	require.Equal(t, `"b"#1,SET`, l.Key().String())
	require.False(t, l.SeekGE(base.MakeInternalKey([]byte("g"), 5, base.KindSet)))
	require.Zero(t, o.live)

	// Seeking within the open file does not reopen it.
	require.True(t, l.SeekGE(base.MakeInternalKey([]byte("b"), 5, base.KindSet)))
	opens := o.opens
	require.True(t, l.SeekLT(base.MakeInternalKey([]byte("b"), 1, base.KindSet)))
	require.Equal(t, `"b"#2,SET`, l.Key().String())
	require.Equal(t, opens, o.opens)
	require.NoError(t, l.Close())

	require.False(t, NewLevel(cmp, nil, o.open).First(), "no files: empty")
}

// An error opening a file, or from an open file, ends the iteration: the
// call that met it and every later one return false, Error returns it, and
// Close still closes the open file.
func TestLevelErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	openFailures, childFailures := 0, 0
	for iter := range 300 {
		kvs := randomVersions(rng, 1+rng.IntN(80), 20)
		files, contents := splitFiles(rng, kvs)
		o := &levelOpener{contents: contents, fail: -1}
		wantErr := errors.New("file failed")
		if iter%2 == 0 {
			o.fail, o.openErr = rng.IntN(len(files)), wantErr
		} else {
			o.failChildAt, o.lastChildErr = 1+rng.IntN(6), wantErr
		}
		l := NewLevel(cmp, files, o.open)
		md := &model{kvs: kvs, pos: -1}
		key := seekKeyGen(rng, 20, len(kvs))
		failed := false
		for range 60 {
			x := randomOp(rng, key)
			got, exp := apply(l, x), md.apply(x)
			failed = o.failed()
			if failed {
				require.False(t, got, "%s after a failure", x)
				require.False(t, l.Valid())
				require.ErrorIs(t, l.Error(), wantErr)
				continue
			}
			require.Equal(t, exp, got, "%s", x)
			require.NoError(t, l.Error())
			if exp {
				require.Equal(t, md.kvs[md.pos].String(), kv{l.Key(), l.Value()}.String())
			}
		}
		if failed {
			if iter%2 == 0 {
				openFailures++
			} else {
				childFailures++
			}
			require.ErrorIs(t, l.Close(), wantErr)
		} else {
			require.NoError(t, l.Close())
		}
		require.Zero(t, o.live)
		require.LessOrEqual(t, o.maxLive, 1)
	}
	require.Greater(t, openFailures, 30)
	require.Greater(t, childFailures, 30)
}
