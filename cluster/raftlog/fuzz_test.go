package raftlog

import (
	"errors"
	"math"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
	"github.com/distributedkv/dkv/cluster/kvpb"
	"github.com/distributedkv/dkv/vfs"
)

// checkDecodeError fails unless err is a *CorruptionError naming key that
// matches dkv.ErrCorruption.
func checkDecodeError(t *testing.T, err error, key []byte) {
	t.Helper()
	var ce *CorruptionError
	if !errors.As(err, &ce) || !errors.Is(err, dkv.ErrCorruption) || string(ce.Key) != string(key) {
		t.Fatalf("error %v is not a corruption naming %q", err, key)
	}
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzDecodeEntry: whatever the key and value, DecodeEntry returns an
// entry carrying its key's index and a term, which encodes back to a value
// that decodes to the same entry — or a *CorruptionError naming the key.
// It never panics.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(keys.RaftLog(1, 11), mustMarshal(&raftpb.Entry{Index: new(uint64(11)), Term: new(uint64(6)), Type: raftpb.EntryNormal.Enum(), Data: []byte("cmd")}))
	f.Add(keys.RaftLog(3, 1), mustMarshal(&raftpb.Entry{Index: new(uint64(1)), Term: new(uint64(1)), Type: raftpb.EntryConfChangeV2.Enum()}))
	f.Add(keys.RaftLog(1, 2), mustMarshal(&raftpb.Entry{Index: new(uint64(3)), Term: new(uint64(1))}))
	f.Add(keys.RaftLog(1, 2), []byte{})
	f.Add(keys.RaftHardState(1), mustMarshal(&raftpb.Entry{Index: new(uint64(0)), Term: new(uint64(1))}))
	f.Add([]byte("garbage"), []byte{0x08, 0x80})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		e, err := DecodeEntry(key, value)
		if err != nil {
			checkDecodeError(t, err, key)
			return
		}
		_, index, kerr := keys.DecodeRaftLog(key)
		if kerr != nil || e.GetIndex() != index || e.GetTerm() == 0 {
			t.Fatalf("decoded %v under %q", e, key)
		}
		v, err := EncodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeEntry(key, v)
		if err != nil || !proto.Equal(e, again) {
			t.Fatalf("round trip: %v, %v, want %v", again, err, e)
		}
	})
}

// FuzzDecodeHardState: a HardState decodes and round-trips, or is a
// *CorruptionError naming its key.
func FuzzDecodeHardState(f *testing.F) {
	f.Add(mustMarshal(hardState(5, 1, 10)))
	f.Add([]byte{})
	f.Add([]byte{0x08})
	f.Fuzz(func(t *testing.T, value []byte) {
		key := keys.RaftHardState(1)
		hs, err := DecodeHardState(key, value)
		if err != nil {
			checkDecodeError(t, err, key)
			return
		}
		v, err := EncodeHardState(hs)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeHardState(key, v)
		if err != nil || !proto.Equal(hs, again) {
			t.Fatalf("round trip: %v, %v, want %v", again, err, hs)
		}
	})
}

// FuzzDecodeTruncatedState: a TruncatedState decodes (with a term when its
// index is not 0) and round-trips, or is a *CorruptionError naming its
// key.
func FuzzDecodeTruncatedState(f *testing.F) {
	f.Add(mustMarshal(&kvpb.TruncatedState{Index: 10, Term: 5}))
	f.Add(mustMarshal(&kvpb.TruncatedState{Index: 10}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, value []byte) {
		key := keys.RaftTruncatedState(1)
		ts, err := DecodeTruncatedState(key, value)
		if err != nil {
			checkDecodeError(t, err, key)
			return
		}
		if ts.GetIndex() > 0 && ts.GetTerm() == 0 {
			t.Fatalf("decoded %v", ts)
		}
		v, err := EncodeTruncatedState(ts)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeTruncatedState(key, v)
		if err != nil || !proto.Equal(ts, again) {
			t.Fatalf("round trip: %v, %v, want %v", again, err, ts)
		}
	})
}

// FuzzDecodeAppliedState: an AppliedState decodes with its ConfState and
// round-trips, or is a *CorruptionError naming its key; LoadAppliedState
// and ConfStateOf agree with it.
func FuzzDecodeAppliedState(f *testing.F) {
	as, err := NewAppliedState(10, 5, &raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}, AutoLeave: new(true)}, 1234, 56)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(mustMarshal(as))
	f.Add(mustMarshal(&kvpb.AppliedState{Index: 3, Term: 1, ConfState: []byte{0xff}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, value []byte) {
		key := keys.RangeAppliedState(1)
		as, cs, err := DecodeAppliedState(key, value)
		if err != nil {
			checkDecodeError(t, err, key)
			return
		}
		if cs == nil || (as.GetIndex() > 0 && as.GetTerm() == 0) {
			t.Fatalf("decoded %v, %v", as, cs)
		}
		cs2, err := ConfStateOf(1, as)
		if err != nil || !proto.Equal(cs, cs2) {
			t.Fatalf("ConfStateOf: %v, %v, want %v", cs2, err, cs)
		}
		v, err := EncodeAppliedState(as)
		if err != nil {
			t.Fatal(err)
		}
		again, cs3, err := DecodeAppliedState(key, v)
		if err != nil || !proto.Equal(as, again) || !proto.Equal(cs, cs3) {
			t.Fatalf("round trip: %v, %v, want %v", again, err, as)
		}
	})
}

// FuzzOpen writes arbitrary values under a replica's HardState, truncated
// state, applied state and two log keys, and opens it: Open either fails
// with a *CorruptionError or returns a Storage whose every read works or
// fails with an error — never a panic.
func FuzzOpen(f *testing.F) {
	hs := mustMarshal(hardState(6, 1, 12))
	ts := mustMarshal(&kvpb.TruncatedState{Index: 10, Term: 5})
	as := mustMarshal(&kvpb.AppliedState{Index: 11, Term: 6})
	e11 := mustMarshal(ents(11, 12, 6)[0])
	e12 := mustMarshal(ents(12, 13, 6)[0])
	f.Add(hs, ts, as, e11, e12)
	f.Add(hs, ts, as, e12, e11)
	f.Add([]byte{}, []byte{}, []byte{}, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, hs, ts, as, e11, e12 []byte) {
		db, err := dkv.Open("/db", &dkv.Options{FS: vfs.NewMem()})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		b := db.NewBatch()
		defer b.Close()
		for _, kv := range []struct{ k, v []byte }{
			{keys.RaftHardState(1), hs},
			{keys.RaftTruncatedState(1), ts},
			{keys.RangeAppliedState(1), as},
			{keys.RaftLog(1, 11), e11},
			{keys.RaftLog(1, 12), e12},
		} {
			if err := b.Put(kv.k, kv.v); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Write(b, dkv.Sync); err != nil {
			t.Fatal(err)
		}
		s, err := Open(db, 1)
		if err != nil {
			if !errors.Is(err, dkv.ErrCorruption) {
				t.Fatalf("Open: %v is not corruption", err)
			}
			return
		}
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		if last+1 < first {
			t.Fatalf("first %d, last %d", first, last)
		}
		for i := first - 1; i <= last && i < first+4; i++ {
			_, _ = s.Term(i)
		}
		if last >= first {
			_, _ = s.Entries(first, min(last+1, first+4), math.MaxUint64)
		}
		_, _, _ = s.InitialState()
		_, _ = s.Snapshot()
	})
}
