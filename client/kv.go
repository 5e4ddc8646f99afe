package client

import (
	"bytes"
	"context"
	"fmt"

	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
)

// KeyValue is one key of a Scan's answer with its value.
type KeyValue struct{ Key, Value []byte }

// scanPage is the most keys the client asks a node for in one Scan
// request; a longer scan takes several.
const scanPage = 1024

// Put sets key to value. A nil error means the write is durable on a
// quorum of the key's range; an error matching ErrAmbiguous means it may
// or may not have been applied; any other error means it was not.
func (c *Client) Put(ctx context.Context, key, value []byte) error {
	if err := checkKey("put", key); err != nil {
		return err
	}
	if err := keys.CheckValue(value); err != nil {
		return fmt.Errorf("client: put %s: %w", showKey(key), err)
	}
	ctx, cancel := c.context(ctx)
	defer cancel()
	return c.do(ctx, request{op: "put", key: key, write: true,
		send: func(ctx context.Context, kv kvpb.KVClient, h *kvpb.RequestHeader) (*kvpb.ResponseHeader, error) {
			resp, err := kv.Put(ctx, &kvpb.PutRequest{Header: h, Key: key, Value: value})
			return resp.GetHeader(), err
		}})
}

// Get returns the value of key, or ErrNotFound. It is linearizable: it
// sees every write acknowledged before it started. The value is the
// caller's; an empty value is not nil.
func (c *Client) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := checkKey("get", key); err != nil {
		return nil, err
	}
	ctx, cancel := c.context(ctx)
	defer cancel()
	var resp *kvpb.GetResponse
	err := c.do(ctx, request{op: "get", key: key,
		send: func(ctx context.Context, kv kvpb.KVClient, h *kvpb.RequestHeader) (*kvpb.ResponseHeader, error) {
			var err error
			resp, err = kv.Get(ctx, &kvpb.GetRequest{Header: h, Key: key})
			return resp.GetHeader(), err
		}})
	switch {
	case err != nil:
		return nil, err
	case !resp.GetFound():
		return nil, ErrNotFound
	case resp.Value == nil:
		return []byte{}, nil
	}
	return resp.Value, nil
}

// Delete deletes key; deleting a key that has no value succeeds. Errors
// are as Put's.
func (c *Client) Delete(ctx context.Context, key []byte) error {
	if err := checkKey("delete", key); err != nil {
		return err
	}
	ctx, cancel := c.context(ctx)
	defer cancel()
	return c.do(ctx, request{op: "delete", key: key, write: true,
		send: func(ctx context.Context, kv kvpb.KVClient, h *kvpb.RequestHeader) (*kvpb.ResponseHeader, error) {
			resp, err := kv.Delete(ctx, &kvpb.DeleteRequest{Header: h, Key: key})
			return resp.GetHeader(), err
		}})
}

// CompareAndSwap atomically sets key to new if its value equals old, and
// reports whether it did. old == nil requires the key to be absent; new
// == nil deletes the key. Only here do nil and empty differ: []byte{} is
// the empty value. Errors are as Put's; after an error matching
// ErrAmbiguous, a Get tells whether the swap happened only if no other
// writer could have set the same value.
func (c *Client) CompareAndSwap(ctx context.Context, key, old, new []byte) (bool, error) {
	if err := checkKey("cas", key); err != nil {
		return false, err
	}
	for _, v := range [][]byte{old, new} {
		if err := keys.CheckValue(v); err != nil {
			return false, fmt.Errorf("client: cas %s: %w", showKey(key), err)
		}
	}
	req := &kvpb.CompareAndSwapRequest{Key: key, Old: present(old), New: present(new)}
	ctx, cancel := c.context(ctx)
	defer cancel()
	var resp *kvpb.CompareAndSwapResponse
	err := c.do(ctx, request{op: "cas", key: key, write: true,
		send: func(ctx context.Context, kv kvpb.KVClient, h *kvpb.RequestHeader) (*kvpb.ResponseHeader, error) {
			var err error
			resp, err = kv.CompareAndSwap(ctx, &kvpb.CompareAndSwapRequest{Header: h, Key: req.Key, Old: req.Old, New: req.New})
			return resp.GetHeader(), err
		}})
	if err != nil {
		return false, err
	}
	return resp.GetSwapped(), nil
}

// present maps a CompareAndSwap argument to a proto3 optional bytes field:
// nil stays nil (unset), and any other slice, an empty one included,
// becomes a non-nil slice (set).
func present(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// Scan returns the keys in [start, end) with their values, in key order,
// at most limit of them (limit <= 0: all). A nil or empty end is the end
// of the key space. It reads range after range: each range's part is
// linearizable, read at some moment during the call; each key appears
// once. A Scan retries its reads as Get does.
func (c *Client) Scan(ctx context.Context, start, end []byte, limit int) ([]KeyValue, error) {
	for _, b := range []struct {
		name string
		k    []byte
	}{{"start", start}, {"end", end}} {
		if len(b.k) > keys.MaxKeySize {
			return nil, fmt.Errorf("client: scan: %s key of %d bytes exceeds the limit of %d", b.name, len(b.k), keys.MaxKeySize)
		}
	}
	if len(end) > 0 && bytes.Compare(start, end) >= 0 {
		return nil, nil
	}
	ctx, cancel := c.context(ctx)
	defer cancel()
	var out []KeyValue
	cur := start
	for {
		ask := scanPage
		if limit > 0 {
			ask = min(ask, limit-len(out))
		}
		var resp *kvpb.ScanResponse
		from := cur
		err := c.do(ctx, request{op: "scan", key: from,
			send: func(ctx context.Context, kv kvpb.KVClient, h *kvpb.RequestHeader) (*kvpb.ResponseHeader, error) {
				var err error
				resp, err = kv.Scan(ctx, &kvpb.ScanRequest{Header: h, Start: from, End: end, Limit: int64(ask)})
				return resp.GetHeader(), err
			}})
		if err != nil {
			return out, err
		}
		next, err := scanStep(from, end, ask, resp)
		for _, kv := range resp.GetKvs() {
			// Each key once, in order, within the bounds: a node that
			// answers otherwise is not believed.
			k := kv.GetKey()
			if bytes.Compare(k, from) < 0 || (len(end) > 0 && bytes.Compare(k, end) >= 0) ||
				(len(out) > 0 && bytes.Compare(k, out[len(out)-1].Key) <= 0) {
				continue
			}
			v := kv.GetValue()
			if v == nil {
				v = []byte{}
			}
			out = append(out, KeyValue{Key: k, Value: v})
			if limit > 0 && len(out) == limit {
				return out, nil
			}
		}
		if err != nil {
			return out, err
		}
		if next == nil {
			return out, nil
		}
		cur = next
	}
}

// scanStep returns where a scan continues after resp answered a request
// for [from, end) with at most ask keys: after the last key when the page
// was full, else at the answering range's end; nil when the scan is done.
func scanStep(from, end []byte, ask int, resp *kvpb.ScanResponse) ([]byte, error) {
	kvs := resp.GetKvs()
	var next []byte
	if len(kvs) >= ask && len(kvs) > 0 {
		// The page is full: the range may hold more.
		if next = successor(kvs[len(kvs)-1].GetKey()); next == nil {
			return nil, nil
		}
	} else {
		next = resp.GetRangeEnd()
		if len(next) == 0 {
			return nil, nil // the last range answered
		}
	}
	if len(end) > 0 && bytes.Compare(next, end) >= 0 {
		return nil, nil
	}
	if bytes.Compare(next, from) <= 0 {
		return nil, fmt.Errorf("client: scan: a node answered for %s with range end %s, which does not move the scan on",
			showKey(from), showKey(next))
	}
	return next, nil
}

// successor returns the smallest key a cluster can store that sorts after
// k, or nil when there is none: k and a zero byte, or for a key of the
// longest length (which no stored key extends), k cut after its last byte
// below 0xff, that byte incremented.
func successor(k []byte) []byte {
	if len(k) < keys.MaxKeySize {
		return append(append(make([]byte, 0, len(k)+1), k...), 0)
	}
	for i := len(k) - 1; i >= 0; i-- {
		if k[i] != 0xff {
			next := append([]byte{}, k[:i+1]...)
			next[i]++
			return next
		}
	}
	return nil
}

// checkKey refuses a key the cluster cannot store, before anything is
// sent.
func checkKey(op string, key []byte) error {
	if err := keys.CheckUserKey(key); err != nil {
		return fmt.Errorf("client: %s %s: %w", op, showKey(key), err)
	}
	return nil
}
