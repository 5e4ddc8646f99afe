package clustertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/distributedkv/dkv/client"
)

func TestClusterPutGetOverGRPC(t *testing.T) {
	c := NewCluster(t, ClusterConfig{})
	_, err := c.Leader(20 * time.Second)
	require.NoError(t, err)
	cl := c.Client(10 * time.Second)
	ctx := context.Background()
	require.NoError(t, cl.Put(ctx, []byte("a"), []byte("1")))
	v, err := cl.Get(ctx, []byte("a"))
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
	ok, err := cl.CompareAndSwap(ctx, []byte("a"), []byte("1"), []byte("2"))
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = cl.CompareAndSwap(ctx, []byte("a"), []byte("1"), []byte("3"))
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = cl.CompareAndSwap(ctx, []byte("b"), nil, []byte{})
	require.NoError(t, err)
	require.True(t, ok, "absent → empty value")
	v, err = cl.Get(ctx, []byte("b"))
	require.NoError(t, err)
	require.Equal(t, []byte{}, v)
	require.NoError(t, cl.Delete(ctx, []byte("a")))
	_, err = cl.Get(ctx, []byte("a"))
	require.True(t, errors.Is(err, client.ErrNotFound), "got %v", err)
	kvs, err := cl.Scan(ctx, nil, nil, 0)
	require.NoError(t, err)
	require.Len(t, kvs, 1)
	require.Equal(t, "b", string(kvs[0].Key))
}
