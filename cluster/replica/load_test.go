package replica

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func keysOf(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// LoadSplitKey picks the median of the sampled keys, and nothing when one
// key takes the load, when too few samples, or when the median is not
// strictly inside the range.
func TestLoadSplitKey(t *testing.T) {
	var uniform []string
	for i := range 40 {
		uniform = append(uniform, fmt.Sprintf("k%02d", i))
	}
	require.Equal(t, "k20", string(LoadSplitKey(keysOf(uniform...), nil, nil)))
	require.Equal(t, "k20", string(LoadSplitKey(keysOf(uniform...), []byte("k00"), []byte("k99"))))
	require.Nil(t, LoadSplitKey(keysOf(uniform...), []byte("k20"), nil), "the median is the range's start")
	require.Nil(t, LoadSplitKey(keysOf(uniform...), nil, []byte("k20")), "the median is past the range")

	hot := make([]string, 40)
	for i := range hot {
		hot[i] = "hot"
	}
	require.Nil(t, LoadSplitKey(keysOf(hot...), nil, nil), "one hot key cannot be split")
	hot[0], hot[1], hot[2] = "a", "b", "c" // the median is still the hot key, with few keys below it
	require.Nil(t, LoadSplitKey(keysOf(hot...), nil, nil))
	require.Nil(t, LoadSplitKey(keysOf("a", "b", "c"), nil, nil), "too few samples")
}

// RecordLoad counts every request and keeps at most loadSamples keys;
// TakeLoad starts a new window.
func TestRecordLoad(t *testing.T) {
	r := &Replica{}
	start := time.Now()
	r.TakeLoad(start)
	for i := range 1000 {
		r.RecordLoad([]byte(fmt.Sprintf("k%04d", i)))
	}
	n, samples, window := r.TakeLoad(start.Add(2 * time.Second))
	require.EqualValues(t, 1000, n)
	require.Len(t, samples, loadSamples)
	require.Equal(t, 2*time.Second, window)
	n, samples, _ = r.TakeLoad(start.Add(3 * time.Second))
	require.Zero(t, n)
	require.Empty(t, samples)
}
