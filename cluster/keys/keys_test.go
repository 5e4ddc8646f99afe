package keys

import (
	"bytes"
	"testing"
)

func TestLayoutOrder(t *testing.T) {
	// Store-local before range-ID before user keys; within a range ID,
	// replicated before unreplicated, log entries in index order.
	order := [][]byte{
		StoreIdent,
		ReplicaTombstone(1),
		RangeIDPrefix(1),
		RangeAppliedState(1),
		RangeDescriptor(1),
		RangeSystem(1, "nextnode"),
		RangeReplicatedEnd(1),
		RaftHardState(1),
		RaftReplicaID(1),
		RaftLog(1, 9),
		RaftLog(1, 10),
		RaftLog(1, 256),
		RaftTruncatedState(1),
		RangeIDPrefixEnd(1),
		RangeAppliedState(2),
		RangeIDPrefixEnd(^uint64(0)),
		User(nil),
		User([]byte("a")),
		User([]byte("a\x00")),
	}
	for i := 1; i < len(order); i++ {
		if bytes.Compare(order[i-1], order[i]) >= 0 {
			t.Fatalf("key %d (%q) does not sort before key %d (%q)", i-1, order[i-1], i, order[i])
		}
	}
	lo, hi := UserSpan(nil, nil)
	if !bytes.Equal(lo, []byte("u")) || !bytes.Equal(hi, []byte("v")) {
		t.Fatalf("UserSpan(nil, nil) = %q, %q", lo, hi)
	}
	lo, hi = UserSpan([]byte("b"), []byte("d"))
	if !bytes.Equal(lo, []byte("ub")) || !bytes.Equal(hi, []byte("ud")) {
		t.Fatalf("UserSpan(b, d) = %q, %q", lo, hi)
	}
}

func TestDecodeRaftLog(t *testing.T) {
	rid, idx, err := DecodeRaftLog(RaftLog(7, 12345))
	if err != nil || rid != 7 || idx != 12345 {
		t.Fatalf("DecodeRaftLog = %d, %d, %v", rid, idx, err)
	}
	for _, bad := range [][]byte{nil, RaftHardState(7), User([]byte("x")), RaftLog(7, 1)[:18]} {
		if _, _, err := DecodeRaftLog(bad); err == nil {
			t.Errorf("DecodeRaftLog(%q) accepted", bad)
		}
	}
}

func TestCheckLimits(t *testing.T) {
	if CheckUserKey(nil) == nil || CheckUserKey(make([]byte, MaxKeySize+1)) == nil {
		t.Fatal("bad keys accepted")
	}
	if CheckUserKey(make([]byte, MaxKeySize)) != nil || CheckValue(make([]byte, MaxValueSize)) != nil {
		t.Fatal("keys and values at the limit refused")
	}
	if CheckValue(make([]byte, MaxValueSize+1)) == nil {
		t.Fatal("an oversized value accepted")
	}
}

// FuzzDecode: the decoders take any bytes without panicking, and what
// they accept re-encodes to the same key.
func FuzzDecode(f *testing.F) {
	f.Add(RaftLog(1, 11))
	f.Add(User([]byte("k")))
	f.Add(RaftHardState(3))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, k []byte) {
		if rid, idx, err := DecodeRaftLog(k); err == nil && !bytes.Equal(RaftLog(rid, idx), k) {
			t.Fatalf("DecodeRaftLog(%q) = %d, %d: does not re-encode", k, rid, idx)
		}
		if u, err := DecodeUser(k); err == nil && !bytes.Equal(User(u), k) {
			t.Fatalf("DecodeUser(%q) = %q: does not re-encode", k, u)
		}
	})
}
