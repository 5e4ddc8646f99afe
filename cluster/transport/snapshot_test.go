package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// A snapshot of several MiB travels in chunks of at most
// SnapshotChunkBytes, in order, and is streamed: the sender reads its
// source while the receiver already consumes chunks, so neither side holds
// it whole.
func TestSnapshotStreamed(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1, 2)
	a, b := c.node(1), c.node(2)
	const pairs, valueSize = 2048, 4 << 10 // 8 MiB of values
	want := snapshotKVs(pairs, valueSize)
	var chunksSeen atomic.Int64
	var header *kvpb.SnapshotHeader
	var chunks, maxChunk, total int
	b.rec.setSnapshot(func(ctx context.Context, h *kvpb.SnapshotHeader, next func() (*kvpb.SnapshotChunk, error)) error {
		header = h
		i := 0
		for {
			ch, err := next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			chunksSeen.Add(1)
			chunks++
			size := 0
			for _, kv := range ch.Kvs {
				if i >= len(want) || !bytes.Equal(kv.Key, want[i].Key) || !bytes.Equal(kv.Value, want[i].Value) {
					return fmt.Errorf("pair %d is wrong", i)
				}
				size += len(kv.Key) + len(kv.Value)
				i++
			}
			maxChunk = max(maxChunk, size)
			total += size
		}
		if i != len(want) {
			return fmt.Errorf("got %d pairs, want %d", i, len(want))
		}
		return nil
	})
	src := &sliceSource{
		kvs:   snapshotKVs(pairs, valueSize),
		piece: 128, // 512 KiB per Next: the transport splits it in two
		wait: func(call int) error {
			// The fourth piece is read only once the receiver has the
			// first chunk: a sender that read everything first would
			// wait forever.
			if call < 4 {
				return nil
			}
			deadline := time.Now().Add(waitFor)
			for chunksSeen.Load() == 0 {
				if time.Now().After(deadline) {
					return errors.New("the receiver saw no chunk before the source was read further")
				}
				time.Sleep(time.Millisecond)
			}
			return nil
		},
	}
	if err := a.tr.SendSnapshot(context.Background(), 2, snapHeader(1, 2), src); err != nil {
		t.Fatal(err)
	}
	if header.ClusterId != c.clusterID || header.FromNodeId != 1 || header.Range.GetRangeId() != 1 || header.Message.To.NodeId != 2 {
		t.Fatalf("header %v", header)
	}
	wantBytes := 0
	for _, kv := range want {
		wantBytes += len(kv.Key) + len(kv.Value)
	}
	if chunks < wantBytes/SnapshotChunkBytes || maxChunk > SnapshotChunkBytes || total != wantBytes {
		t.Fatalf("%d chunks, the largest %d bytes, %d bytes in all (want %d)", chunks, maxChunk, total, wantBytes)
	}
	sa, sb := a.tr.Stats(), b.tr.Stats()
	if sa.SnapshotsSent != 1 || sb.SnapshotsReceived != 1 || sa.SnapshotBytesSent != uint64(wantBytes) ||
		sb.SnapshotBytesReceived != uint64(wantBytes) || sa.SnapshotChunksSent != sb.SnapshotChunksReceived {
		t.Fatalf("sender %+v\nreceiver %+v", sa, sb)
	}
}

// A snapshot the receiver refuses, or that breaks off, is an error at the
// sender, and the receiver's Handler is told.
func TestSnapshotRejected(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1, 2)
	a, b := c.node(1), c.node(2)
	drain := func(next func() (*kvpb.SnapshotChunk, error)) error {
		for {
			if _, err := next(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	}
	send := func(src SnapshotSource) error {
		return a.tr.SendSnapshot(context.Background(), 2, snapHeader(1, 2), src)
	}

	b.rec.setSnapshot(func(ctx context.Context, h *kvpb.SnapshotHeader, next func() (*kvpb.SnapshotChunk, error)) error {
		if err := drain(next); err != nil {
			return err
		}
		return errors.New("no room for range 1")
	})
	err := send(&sliceSource{kvs: snapshotKVs(100, 100), piece: 10})
	if !errors.Is(err, ErrSnapshotRejected) || !strings.Contains(err.Error(), "no room for range 1") {
		t.Fatalf("refused snapshot: %v", err)
	}

	// A refusal before the end: the sender stops early.
	b.rec.setSnapshot(func(ctx context.Context, h *kvpb.SnapshotHeader, next func() (*kvpb.SnapshotChunk, error)) error {
		return errors.New("a newer replica exists")
	})
	if err := send(&sliceSource{kvs: snapshotKVs(2000, 4<<10), piece: 64}); !errors.Is(err, ErrSnapshotRejected) {
		t.Fatalf("refused at the header: %v", err)
	}

	// A handler that accepts without reading to the end accepts nothing.
	b.rec.setSnapshot(func(ctx context.Context, h *kvpb.SnapshotHeader, next func() (*kvpb.SnapshotChunk, error)) error {
		_, err := next()
		return err
	})
	if err := send(&sliceSource{kvs: snapshotKVs(100, 100), piece: 10}); !errors.Is(err, ErrSnapshotRejected) {
		t.Fatalf("accepted before the end: %v", err)
	}

	// The source fails: the sender returns its error; the receiver sees a
	// broken stream.
	var receiverErr atomic.Value
	var receiverChunks atomic.Int64
	b.rec.setSnapshot(func(ctx context.Context, h *kvpb.SnapshotHeader, next func() (*kvpb.SnapshotChunk, error)) error {
		for {
			_, err := next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				receiverErr.Store(err)
				return err
			}
			receiverChunks.Add(1)
		}
	})
	boom := errors.New("engine: disk on fire")
	// The source fails (at its third call) once the receiver has a chunk,
	// so the stream surely reached it.
	waitChunk := func(call int) error {
		if call == 3 {
			for receiverChunks.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		return nil
	}
	if err := send(&sliceSource{kvs: snapshotKVs(100, 100), piece: 10, fail: boom, wait: waitChunk}); !errors.Is(err, boom) {
		t.Fatalf("source failure: %v", err)
	}
	eventually(t, "the receiver to see the broken stream", func() bool { return receiverErr.Load() != nil })
	eventually(t, "the receiver's refusals to be counted", func() bool { return b.tr.Stats().SnapshotsRefused == 4 })

	// A source returning a nil pair is an error, not a panic.
	if err := send(&sliceSource{kvs: []*kvpb.KeyValue{{Key: []byte("a")}, nil}, piece: 2}); err == nil {
		t.Fatal("a nil pair was sent")
	}
	if s := a.tr.Stats(); s.SnapshotsFailed != 5 || s.SnapshotsSent != 0 {
		t.Fatalf("sender stats: %+v", s)
	}
}

// A snapshot follows the faults of its link; to a node without an
// address it fails at once.
func TestSnapshotFaults(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1, 2)
	a := c.node(1)
	c.node(2).rec.setSnapshot(func(ctx context.Context, h *kvpb.SnapshotHeader, next func() (*kvpb.SnapshotChunk, error)) error {
		for {
			if _, err := next(); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return err
			}
		}
	})
	c.faults.Partition(1, 2)
	if err := a.tr.SendSnapshot(context.Background(), 2, snapHeader(1, 2), &sliceSource{}); !errors.Is(err, ErrFault) {
		t.Fatalf("across a partition: %v", err)
	}
	c.faults.Heal()
	c.faults.SetDelay(1, 2, time.Millisecond, 2*time.Millisecond)
	if err := a.tr.SendSnapshot(context.Background(), 2, snapHeader(1, 2), &sliceSource{kvs: snapshotKVs(10, 10), piece: 3}); err != nil {
		t.Fatalf("delayed: %v", err)
	}
	if _, snaps := c.faults.Dropped(); snaps != 1 {
		t.Fatalf("Faults dropped %d snapshots", snaps)
	}
	if err := a.tr.SendSnapshot(context.Background(), 9, snapHeader(1, 9), &sliceSource{}); !errors.Is(err, ErrNoAddress) {
		t.Fatalf("to an unknown node: %v", err)
	}
	if err := a.tr.SendSnapshot(context.Background(), 2, nil, &sliceSource{}); err == nil {
		t.Fatal("a nil header was sent")
	}
	if err := a.tr.SendSnapshot(context.Background(), 2, &kvpb.SnapshotHeader{}, &sliceSource{}); err == nil {
		t.Fatal("a header without a message was sent")
	}
}

// A receiver that closes while a snapshot streams in ends it: its handler's
// context is done, Close returns, and the sender gets an error. A sender
// whose context ends gets its error.
func TestSnapshotInterrupted(t *testing.T) {
	checkLeaks(t)
	c := newCluster(t, 1, 2)
	a, b := c.node(1), c.node(2)
	started := make(chan struct{})
	b.rec.setSnapshot(func(ctx context.Context, h *kvpb.SnapshotHeader, next func() (*kvpb.SnapshotChunk, error)) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	errc := make(chan error, 1)
	go func() {
		errc <- a.tr.SendSnapshot(context.Background(), 2, snapHeader(1, 2), &sliceSource{kvs: snapshotKVs(10, 10), piece: 1})
	}()
	<-started
	b.tr.Close()
	select {
	case err := <-errc:
		if err == nil || status.Code(err) != codes.Unavailable {
			t.Fatalf("SendSnapshot to a closing node: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("SendSnapshot did not return")
	}

	c2 := newCluster(t, 3, 4)
	blocked := make(chan struct{})
	c2.node(4).rec.setSnapshot(func(ctx context.Context, h *kvpb.SnapshotHeader, next func() (*kvpb.SnapshotChunk, error)) error {
		close(blocked)
		<-ctx.Done()
		return ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-blocked; cancel() }()
	err := c2.node(3).tr.SendSnapshot(ctx, 4, snapHeader(3, 4), &sliceSource{kvs: snapshotKVs(10, 10), piece: 1})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("SendSnapshot with a cancelled context: %v", err)
	}
}
