package replica

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// loadSamples is how many request keys a replica keeps per load window
// (reservoir sampling: each request's key is equally likely to be kept).
const loadSamples = 64

// load counts the requests a replica serves and samples their keys, for
// splits by load (docs/ranges.md).
type load struct {
	mu      sync.Mutex
	count   int64
	samples [][]byte
	since   time.Time
}

// RecordLoad counts one request for key (the Store calls it for every
// request it routes here).
func (r *Replica) RecordLoad(key []byte) {
	l := &r.load
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count++
	switch {
	case len(l.samples) < loadSamples:
		l.samples = append(l.samples, bytes.Clone(key))
	default:
		if i := rand.Int64N(l.count); i < loadSamples {
			l.samples[i] = bytes.Clone(key)
		}
	}
}

// TakeLoad returns the requests counted and the keys sampled since the
// last call (or since the replica started), with the time that covers,
// and starts a new window.
func (r *Replica) TakeLoad(now time.Time) (count int64, samples [][]byte, window time.Duration) {
	l := &r.load
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.since.IsZero() {
		l.since = now
	}
	count, samples, window = l.count, l.samples, now.Sub(l.since)
	l.count, l.samples, l.since = 0, nil, now
	return count, samples, window
}

// LoadSplitKey returns a key that splits sampled request keys about in
// half — the median, if at least a quarter of the samples fall on each
// side of it and it lies strictly inside [start, end) — or nil (one hot
// key cannot be split).
func LoadSplitKey(samples [][]byte, start, end []byte) []byte {
	if len(samples) < 8 {
		return nil
	}
	s := slices.Clone(samples)
	slices.SortFunc(s, bytes.Compare)
	k := s[len(s)/2]
	left := 0
	for _, x := range s {
		if bytes.Compare(x, k) < 0 {
			left++
		}
	}
	if left < len(s)/4 || len(s)-left < len(s)/4 {
		return nil
	}
	if bytes.Compare(k, start) <= 0 || (len(end) > 0 && bytes.Compare(k, end) >= 0) {
		return nil
	}
	return k
}
