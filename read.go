package dkv

import "github.com/distributedkv/dkv/internal/base"

// Get returns the value of key: the caller's own copy, which stays valid and
// unchanged however the DB changes. It returns ErrNotFound when the key has
// no value. Get sees every write whose Put, Delete or Write call returned
// before Get was called.
func (db *DB) Get(key []byte) ([]byte, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	// Load the sequence number before the memtables: every write at or below
	// it is in a memtable that readState still lists.
	seq := base.SeqNum(db.visible.Load())
	rs := db.readState.Load()
	if v, tr, ok := rs.mem.Get(key, seq); ok {
		return found(v, tr.Kind())
	}
	for _, m := range rs.imm {
		if v, tr, ok := m.Get(key, seq); ok {
			return found(v, tr.Kind())
		}
	}
	return nil, ErrNotFound
}

func found(v []byte, kind base.Kind) ([]byte, error) {
	if kind == base.KindDelete {
		return nil, ErrNotFound
	}
	out := make([]byte, len(v)) // never nil: an empty value is found
	copy(out, v)
	return out, nil
}
