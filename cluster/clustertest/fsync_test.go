package clustertest

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/vfs"
)

// TestFsyncErrorStopsTheNode fails every fsync of the leader's write-ahead
// log: its Store must stop with a sticky error (never acknowledging
// another write, /healthz answering 503), and the two others must elect a
// new leader and go on taking writes, all of which a read then sees.
func TestFsyncErrorStopsTheNode(t *testing.T) {
	errDisk := errors.New("injected: disk failed")
	toggles := map[uint64]*vfs.Toggle{}
	c := NewCluster(t, ClusterConfig{WrapFS: func(id uint64, fs vfs.FS) vfs.FS {
		tg := vfs.NewToggle(errDisk, vfs.OpSync, vfs.FileLog)
		toggles[id] = tg
		return vfs.NewErrorFS(fs, tg)
	}})
	leader, err := c.Leader(20 * time.Second)
	require.NoError(t, err)
	cl := c.Client(10 * time.Second)
	ctx := context.Background()
	require.NoError(t, cl.Put(ctx, []byte("before"), []byte("1")))

	toggles[leader].On()
	var acked atomic.Int64
	for i := range 20 {
		k := []byte{'k', byte('a' + i)}
		if err := cl.Put(ctx, k, []byte("v")); err == nil {
			acked.Add(1)
			v, err := cl.Get(ctx, k)
			require.NoError(t, err, "an acknowledged write must be readable")
			require.Equal(t, "v", string(v))
		}
	}
	require.Greater(t, acked.Load(), int64(10), "the two healthy nodes go on")

	nd := c.Node(leader)
	select {
	case <-nd.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the node whose fsync failed did not stop")
	}
	require.ErrorIs(t, nd.Err(), errDisk)
	resp, err := http.Get("http://" + c.HTTPAddr(leader) + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	newLeader, err := c.Leader(20 * time.Second)
	require.NoError(t, err)
	require.NotEqual(t, leader, newLeader)
}
