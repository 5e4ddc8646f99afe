package dkv

import (
	"container/list"

	"github.com/distributedkv/dkv/internal/base"
)

// Snapshot is a consistent, read-only view of the database as of the moment
// NewSnapshot returned: later writes, flushes and compactions do not change
// what it reads. It costs no copy: compactions keep the versions open
// snapshots can see, so a snapshot held long keeps overwritten data on
// disk. Close it when done.
//
// A Snapshot is safe for concurrent use. Its methods return an error
// matching ErrClosed after Close, or after the DB is closed.
type Snapshot struct {
	db   *DB
	seq  base.SeqNum
	elem *list.Element // in db.mu.snapshots; nil once closed
}

// snapshotList holds the open snapshots, oldest first (sequence numbers
// only grow, so appending keeps the order).
type snapshotList struct {
	l *list.List
}

// NewSnapshot returns a snapshot of the database as of now: it sees every
// write acknowledged before the call.
func (db *DB) NewSnapshot() *Snapshot {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.mu.snapshots.l == nil {
		db.mu.snapshots.l = list.New()
	}
	s := &Snapshot{db: db, seq: base.SeqNum(db.visible.Load())}
	if !db.closed.Load() {
		s.elem = db.mu.snapshots.l.PushBack(s)
	}
	return s
}

// Get returns the value key had when the snapshot was taken, or
// ErrNotFound. Like DB.Get, the caller owns the returned slice.
func (s *Snapshot) Get(key []byte) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return s.db.get(key, &s.seq)
}

// Has reports whether key had a value when the snapshot was taken.
func (s *Snapshot) Has(key []byte) (bool, error) {
	_, err := s.Get(key)
	return found(err)
}

// NewIter returns an iterator over the snapshot's view, within the bounds
// of o (nil: unbounded).
func (s *Snapshot) NewIter(o *IterOptions) (*Iterator, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.db.newIter(o, &s.seq)
}

// Close releases the snapshot: compactions may drop the versions only it
// could see. A second Close does nothing and returns nil.
func (s *Snapshot) Close() error {
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	if s.elem == nil {
		return nil
	}
	s.db.mu.snapshots.l.Remove(s.elem)
	s.elem = nil
	return nil
}

func (s *Snapshot) check() error {
	if s.db.closed.Load() {
		return ErrClosed
	}
	s.db.mu.Lock()
	closed := s.elem == nil
	s.db.mu.Unlock()
	if closed {
		return errSnapshotClosed
	}
	return nil
}

// len returns the number of open snapshots.
func (l *snapshotList) len() int {
	if l.l == nil {
		return 0
	}
	return l.l.Len()
}

// snapshotSeqs returns the sequence numbers of the open snapshots,
// ascending.
func (db *DB) snapshotSeqs() []base.SeqNum {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.mu.snapshots.l == nil {
		return nil
	}
	out := make([]base.SeqNum, 0, db.mu.snapshots.l.Len())
	for e := db.mu.snapshots.l.Front(); e != nil; e = e.Next() {
		out = append(out, e.Value.(*Snapshot).seq)
	}
	return out
}
