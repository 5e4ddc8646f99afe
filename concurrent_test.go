package dkv_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// Concurrent writers and readers, under -race: each writer owns keys and
// writes increasing counters to them, synced or not, while the memtable
// rotates; readers must never see a counter go backwards (reads are
// monotonic) nor a value that was not written; batches spanning two keys are
// seen whole. At the end every key holds its writer's last counter.
func TestConcurrentReadersWriters(t *testing.T) {
	db, _ := openMem(t, &dkv.Options{MemTableSize: 32 << 10})
	defer db.Close()
	const writers, readers, keysPer, rounds = 4, 2, 8, 60
	key := func(w, k int) []byte { return []byte(fmt.Sprintf("w%d-k%d", w, k)) }
	pair := func(w int, half string) []byte { return []byte(fmt.Sprintf("w%d-pair-%s", w, half)) }

	var done atomic.Bool
	var wg, rg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for r := 1; r <= rounds; r++ {
				v := binary.BigEndian.AppendUint64(nil, uint64(r))
				for k := range keysPer {
					if err := db.Put(key(w, k), v); err != nil {
						t.Error(err)
						return
					}
				}
				b := db.NewBatch()
				_ = b.Put(pair(w, "a"), v)
				_ = b.Put(pair(w, "b"), v)
				if err := db.Write(b, &dkv.WriteOptions{Sync: r%5 == 0}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range readers {
		rg.Go(func() {
			last := map[string]uint64{}
			for !done.Load() {
				for w := range writers {
					for k := range keysPer {
						v, err := db.Get(key(w, k))
						if errors.Is(err, dkv.ErrNotFound) {
							continue
						}
						if err != nil || len(v) != 8 {
							t.Errorf("get: %q %v", v, err)
							return
						}
						n := binary.BigEndian.Uint64(v)
						if n < last[string(key(w, k))] || n > rounds {
							t.Errorf("key %s went from %d to %d", key(w, k), last[string(key(w, k))], n)
							return
						}
						last[string(key(w, k))] = n
					}
					// b is written with a and after it in the same batch;
					// reading b first, a can only be as new or newer.
					b, errB := db.Get(pair(w, "b"))
					a, errA := db.Get(pair(w, "a"))
					if errB == nil && (errA != nil || binary.BigEndian.Uint64(a) < binary.BigEndian.Uint64(b)) {
						t.Errorf("batch seen in part: a=%x (%v) b=%x", a, errA, b)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	done.Store(true)
	rg.Wait()
	for w := range writers {
		for k := range keysPer {
			v, err := db.Get(key(w, k))
			require.NoError(t, err)
			require.Equal(t, uint64(rounds), binary.BigEndian.Uint64(v))
		}
	}
	m := db.Metrics()
	require.Positive(t, m.MemTable.Immutable+int(m.Flush.Count), "the memtable rotated during the test")
}

// Concurrent synced writers share fsyncs: the log records more writes than
// fsyncs (group commit). An fsync takes a millisecond here, as on a disk,
// so writers arrive while one runs.
func TestGroupCommitShares(t *testing.T) {
	db, err := dkv.Open("/db", &dkv.Options{FS: &slowSyncFS{FS: vfs.NewMem()}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer db.Close()
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 50 {
				if err := db.Put([]byte(fmt.Sprintf("g%d-%d", g, i)), []byte("v")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	m := db.Metrics()
	require.Equal(t, int64(32*50), m.WAL.Records)
	require.Less(t, m.WAL.Syncs, m.WAL.Records/4, "%s", m)
	t.Logf("%d synced writes, %d fsyncs", m.WAL.Records, m.WAL.Syncs)
}

// slowSyncFS makes every fsync take a millisecond.
type slowSyncFS struct{ vfs.FS }

func (fs *slowSyncFS) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return slowSyncFile{f}, nil
}

type slowSyncFile struct{ vfs.File }

func (f slowSyncFile) Sync() error {
	time.Sleep(time.Millisecond)
	return f.File.Sync()
}
