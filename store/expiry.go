package store

import (
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// expiryHint lets PurgeExpired, which runs every minute, skip reading every memory
// of every tenant when none can have expired: it is the earliest expiry of any
// stored memory, as of the last full sweep, lowered by every write since that sets
// one. Reading 100,000 memories took half a second of a core, inside a write
// transaction that held up every other writer, once a minute, whether or not any
// memory had an expiry.
//
// It may be early (a memory deleted, or a write rolled back, since), which costs
// one needless sweep; it is never late, because every write of a memory notes its
// expiry (putMemory) inside its transaction, and writes and sweeps are serialised
// by bbolt's single writer.
type expiryHint struct {
	mu    sync.Mutex
	known bool      // next holds; false until the first sweep has read everything
	next  time.Time // the earliest expiry; zero when no memory has one
	scans int       // full sweeps, for tests
}

// note lowers the hint to at, a stored memory's expiry (nil: none).
func (h *expiryHint) note(at *time.Time) {
	if at == nil {
		return
	}
	h.mu.Lock()
	if h.known && (h.next.IsZero() || at.Before(h.next)) {
		h.next = *at
	}
	h.mu.Unlock()
}

// due reports whether a sweep at now may find an expired memory.
func (h *expiryHint) due(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.known || !h.next.IsZero() && !now.Before(h.next)
}

// swept records a full sweep that left next as the earliest expiry (zero: none);
// ok false (the sweep failed, so what it read may not stand) forgets the hint.
func (h *expiryHint) swept(next time.Time, ok bool) {
	h.mu.Lock()
	h.known, h.next = ok, next
	h.scans++
	h.mu.Unlock()
}

// putMemory writes a memory record and notes its expiry.
func (s *Store) putMemory(b *bolt.Bucket, m *Memory) error {
	if err := s.sl.putJSON(b, []byte(m.ID), *m); err != nil {
		return err
	}
	s.expiry.note(m.ExpiresAt)
	return nil
}
