package dkv_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/vfs"
)

// Review finding (compact.go, wroteBottom): once one step of Compact has
// merged something into the bottom level, the in-place rewrite of the
// bottom level is skipped for the whole range, though that merge touched
// only the bottom tables overlapping its own inputs. A bottom table
// elsewhere in [start, end) keeps the tombstones and old versions that a
// since-closed snapshot had protected: "deleted keys that no open snapshot
// can see are dropped ... before Compact returns" does not hold.
func TestRegressionCompactSkipsBottomRewrite(t *testing.T) {
	db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem(), NoSync: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.Put([]byte("k"), []byte("v1")))
	snap := db.NewSnapshot()
	must(db.Delete([]byte("k")))
	must(db.Compact(ctx, nil, nil)) // L6: [k#2 DEL, k#1 SET], both kept for the snapshot
	must(snap.Close())
	must(db.Put([]byte("z"), []byte("z")))
	must(db.Compact(ctx, nil, nil)) // should drop k entirely now
	m := db.Metrics()
	t.Logf("%s", m)
	if m.Levels[6].Files != 1 {
		t.Errorf("after Compact(nil, nil) with no snapshot open, L6 holds %d tables; the table of the deleted key k should be gone", m.Levels[6].Files)
	}
}
