package store

import (
	"encoding/binary"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Memory is one stored memory. Empty scope strings mean "not set".
type Memory struct {
	ID        string          `json:"id"`
	Text      string          `json:"text"`
	Metadata  json.RawMessage `json:"metadata,omitempty"`
	UserID    string          `json:"user_id,omitempty"`
	AgentID   string          `json:"agent_id,omitempty"`
	SessionID string          `json:"session_id,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	Version   int             `json:"version"`
	ExpiresAt *time.Time      `json:"expires_at,omitempty"`

	// Vector is the text's embedding and VectorModel the model that made it. They are
	// stored apart from the memory's record and set only where a caller needs them.
	Vector      []float32 `json:"-"`
	VectorModel string    `json:"-"`
}

// Expired reports whether the memory's expiry has passed at now.
func (m *Memory) Expired(now time.Time) bool {
	return m.ExpiresAt != nil && !now.Before(*m.ExpiresAt)
}

// Scope narrows a list or bulk delete; empty fields match anything.
type Scope struct {
	UserID, AgentID, SessionID string
}

// Matches reports whether m falls in the scope.
func (sc Scope) Matches(m *Memory) bool {
	return (sc.UserID == "" || sc.UserID == m.UserID) &&
		(sc.AgentID == "" || sc.AgentID == m.AgentID) &&
		(sc.SessionID == "" || sc.SessionID == m.SessionID)
}

// HistoryEvent is one change to a memory.
type HistoryEvent struct {
	Event        string    `json:"event"` // ADD, UPDATE or DELETE
	Text         string    `json:"text"`
	PreviousText *string   `json:"previous_text"`
	At           time.Time `json:"at"`
	Source       string    `json:"source"`
	JobID        string    `json:"job_id,omitempty"`
}

// Change says who made a write, for the history it leaves, and carries what must be
// committed with it.
type Change struct {
	At     time.Time
	Source string // "api", "batch", "extract", "expiry"
	JobID  string
	// Usage, when set, is the request's usage event: it is committed in the write's own
	// transaction, with MemoriesWritten set to what the write changed.
	Usage *UsageEvent
	// MaxStored caps the tenant's stored memories (0: no cap); a create past it fails
	// with ErrQuotaStored and writes nothing.
	MaxStored int64
}

// commit writes the change's usage event, if any, counting written memories.
func (ch *Change) commit(tx *bolt.Tx, written int) error {
	if ch.Usage == nil {
		return nil
	}
	ch.Usage.MemoriesWritten = int64(written)
	return putUsage(tx, ch.Usage)
}

func memoryBuckets(tx *bolt.Tx, orgID string, mode Mode) (mems, hist *bolt.Bucket, err error) {
	mb, err := modeBucket(tx, orgID, mode)
	if err != nil {
		return nil, nil, err
	}
	return mb.Bucket(bucketMemories), mb.Bucket(bucketHistory), nil
}

func appendHistory(sl *sealer, hist *bolt.Bucket, memID string, ev HistoryEvent) error {
	seq, err := hist.NextSequence()
	if err != nil {
		return err
	}
	key := make([]byte, 0, len(memID)+9)
	key = append(key, memID...)
	key = append(key, 0)
	key = binary.BigEndian.AppendUint64(key, seq)
	return sl.putJSON(hist, key, ev)
}

// CreateMemories stores the memories, each with its ADD event, in one transaction:
// all or none. Writes go through bbolt's Batch, which commits concurrent writers'
// transactions together (one fsync for many), so each closure must be safe to re-run.
func (s *Store) CreateMemories(orgID string, mode Mode, mems []Memory, ch Change) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		mb, err := modeBucket(tx, orgID, mode)
		if err != nil {
			return err
		}
		b, hist := mb.Bucket(bucketMemories), mb.Bucket(bucketHistory)
		if ch.MaxStored > 0 && storedCount(mb)+int64(len(mems)) > ch.MaxStored {
			return ErrQuotaStored
		}
		for i := range mems {
			if err := s.putMemory(b, &mems[i]); err != nil {
				return err
			}
			if err := putVector(s.sl, mb, &mems[i]); err != nil {
				return err
			}
			ev := HistoryEvent{Event: "ADD", Text: mems[i].Text, At: ch.At, Source: ch.Source, JobID: ch.JobID}
			if err := appendHistory(s.sl, hist, mems[i].ID, ev); err != nil {
				return err
			}
		}
		if err := addStored(mb, int64(len(mems))); err != nil {
			return err
		}
		if err := bumpSeq(mb); err != nil {
			return err
		}
		return ch.commit(tx, len(mems))
	})
}

// GetMemory returns a live (unexpired) memory, or ErrNotFound.
func (s *Store) GetMemory(orgID string, mode Mode, id string) (Memory, error) {
	var m Memory
	err := s.db.View(func(tx *bolt.Tx) error {
		b, _, err := memoryBuckets(tx, orgID, mode)
		if err != nil {
			return err
		}
		ok, err := s.sl.getJSON(b, []byte(id), &m)
		if err != nil {
			return err
		}
		if !ok || m.Expired(s.now()) {
			return ErrNotFound
		}
		return nil
	})
	return m, err
}

// ListMemories returns up to limit unexpired memories in scope, newest first, starting
// after the id `after` ("" for the first page), and the id to continue from ("" when
// this is the last page).
func (s *Store) ListMemories(orgID string, mode Mode, sc Scope, after string, limit int) ([]Memory, string, error) {
	var out []Memory
	next := ""
	now := s.now()
	err := s.db.View(func(tx *bolt.Tx) error {
		b, _, err := memoryBuckets(tx, orgID, mode)
		if err != nil {
			return err
		}
		c := b.Cursor()
		var k, v []byte
		if after == "" {
			k, v = c.Last()
		} else {
			k, v = c.Seek([]byte(after))
			// Seek lands on the first key >= after; step back past it.
			if k == nil {
				k, v = c.Last()
			}
			for k != nil && string(k) >= after {
				k, v = c.Prev()
			}
		}
		for ; k != nil; k, v = c.Prev() {
			var m Memory
			if err := s.sl.unmarshal(k, v, &m); err != nil {
				return err
			}
			if m.Expired(now) || !sc.Matches(&m) {
				continue
			}
			if len(out) == limit {
				next = out[len(out)-1].ID
				break
			}
			out = append(out, m)
		}
		return nil
	})
	return out, next, err
}

// UpdateMemory applies fn to a live memory, bumps its version and records an UPDATE
// event with the previous text, in one transaction.
func (s *Store) UpdateMemory(orgID string, mode Mode, id string, ch Change, fn func(*Memory) error) (Memory, error) {
	var m Memory
	err := s.db.Batch(func(tx *bolt.Tx) error {
		mb, err := modeBucket(tx, orgID, mode)
		if err != nil {
			return err
		}
		b, hist := mb.Bucket(bucketMemories), mb.Bucket(bucketHistory)
		m = Memory{}
		ok, err := s.sl.getJSON(b, []byte(id), &m)
		if err != nil {
			return err
		}
		if !ok || m.Expired(ch.At) {
			return ErrNotFound
		}
		prev := m.Text
		if err := fn(&m); err != nil {
			return err
		}
		m.Version++
		m.UpdatedAt = ch.At
		if err := s.putMemory(b, &m); err != nil {
			return err
		}
		if err := putVector(s.sl, mb, &m); err != nil {
			return err
		}
		if err := bumpSeq(mb); err != nil {
			return err
		}
		if err := appendHistory(s.sl, hist, id, HistoryEvent{Event: "UPDATE", Text: m.Text, PreviousText: &prev, At: ch.At, Source: ch.Source, JobID: ch.JobID}); err != nil {
			return err
		}
		return ch.commit(tx, 1)
	})
	return m, err
}

// liveMemory reads memory id of the memories bucket b: ErrNotFound when it does not
// exist or has expired at the time at.
func liveMemory(sl *sealer, b *bolt.Bucket, id string, at time.Time) (Memory, error) {
	var m Memory
	ok, err := sl.getJSON(b, []byte(id), &m)
	if err != nil {
		return m, err
	}
	if !ok || m.Expired(at) {
		return m, ErrNotFound
	}
	return m, nil
}

// DeleteMemory removes a live memory and records a DELETE event.
func (s *Store) DeleteMemory(orgID string, mode Mode, id string, ch Change) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		mb, err := modeBucket(tx, orgID, mode)
		if err != nil {
			return err
		}
		m, err := liveMemory(s.sl, mb.Bucket(bucketMemories), id, ch.At)
		if err != nil {
			return err
		}
		if err := deleteMemory(s.sl, mb, &m, ch); err != nil {
			return err
		}
		return ch.commit(tx, 1)
	})
}

// deleteMemory removes m from its mode bucket mb, with its vector, and records DELETE.
func deleteMemory(sl *sealer, mb *bolt.Bucket, m *Memory, ch Change) error {
	if err := mb.Bucket(bucketMemories).Delete([]byte(m.ID)); err != nil {
		return err
	}
	if err := deleteVector(mb, m.ID); err != nil {
		return err
	}
	if err := bumpSeq(mb); err != nil {
		return err
	}
	if err := addStored(mb, -1); err != nil {
		return err
	}
	hist := mb.Bucket(bucketHistory)
	prev := m.Text
	return appendHistory(sl, hist, m.ID, HistoryEvent{Event: "DELETE", Text: m.Text, PreviousText: &prev, At: ch.At, Source: ch.Source, JobID: ch.JobID})
}

// deleteWhere deletes every memory of the mode bucket mb that doomed selects, each
// with its DELETE event, and returns their ids.
func deleteWhere(sl *sealer, mb *bolt.Bucket, ch Change, doomed func(*Memory) bool) ([]string, error) {
	var gone []Memory
	err := mb.Bucket(bucketMemories).ForEach(func(k, v []byte) error {
		var m Memory
		if err := sl.unmarshal(k, v, &m); err != nil {
			return err
		}
		if doomed(&m) {
			gone = append(gone, m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(gone))
	for i := range gone { // deleting inside ForEach would skip keys
		if err := deleteMemory(sl, mb, &gone[i], ch); err != nil {
			return nil, err
		}
		ids = append(ids, gone[i].ID)
	}
	return ids, nil
}

// DeleteMemories removes every live memory in scope in one transaction and returns
// their ids.
func (s *Store) DeleteMemories(orgID string, mode Mode, sc Scope, ch Change) ([]string, error) {
	var ids []string
	err := s.db.Batch(func(tx *bolt.Tx) error {
		mb, err := modeBucket(tx, orgID, mode)
		if err != nil {
			return err
		}
		// Batch may run this again after another write of the batch failed: ids is
		// assigned, not appended to.
		ids, err = deleteWhere(s.sl, mb, ch, func(m *Memory) bool { return !m.Expired(ch.At) && sc.Matches(m) })
		if err != nil {
			return err
		}
		return ch.commit(tx, len(ids))
	})
	return ids, err
}

// Expired names memories the sweeper removed from one tenant.
type Expired struct {
	OrgID string
	Mode  Mode
	IDs   []string
}

// PurgeExpired deletes every memory whose expiry has passed, in every tenant, with a
// DELETE event of source "expiry", and returns what it removed.
//
// It reads every memory only when one can have expired (see expiryHint); otherwise
// it returns at once.
func (s *Store) PurgeExpired(now time.Time) ([]Expired, error) {
	if !s.expiry.due(now) {
		return nil, nil
	}
	var out []Expired
	ch := Change{At: now.UTC(), Source: "expiry"}
	err := s.db.Update(func(tx *bolt.Tx) error {
		var next time.Time
		doomed := func(m *Memory) bool {
			if m.Expired(now) {
				return true
			}
			if m.ExpiresAt != nil && (next.IsZero() || m.ExpiresAt.Before(next)) {
				next = *m.ExpiresAt
			}
			return false
		}
		err := tx.Bucket(bucketTenants).ForEachBucket(func(orgID []byte) error {
			for _, mode := range []Mode{ModeLive, ModeTest} {
				mb, err := modeBucket(tx, string(orgID), mode)
				if err != nil {
					continue
				}
				ids, err := deleteWhere(s.sl, mb, ch, doomed)
				if err != nil {
					return err
				}
				if len(ids) > 0 {
					out = append(out, Expired{OrgID: string(orgID), Mode: mode, IDs: ids})
				}
			}
			return nil
		})
		if err == nil {
			// Inside the transaction: no write can come between this and the commit.
			s.expiry.swept(next, true)
		}
		return err
	})
	if err != nil {
		s.expiry.swept(time.Time{}, false) // what the sweep read may not stand
	}
	return out, err
}

// History returns a memory's events, oldest first. A memory that expired, or never
// existed in this org and mode, has none: ErrNotFound. A deleted memory keeps its
// history, ending in DELETE.
func (s *Store) History(orgID string, mode Mode, id string) ([]HistoryEvent, error) {
	var events []HistoryEvent
	err := s.db.View(func(tx *bolt.Tx) error {
		b, hist, err := memoryBuckets(tx, orgID, mode)
		if err != nil {
			return err
		}
		if raw := b.Get([]byte(id)); raw != nil {
			var m Memory
			if err := s.sl.unmarshal([]byte(id), raw, &m); err != nil {
				return err
			}
			if m.Expired(s.now()) {
				return ErrNotFound
			}
		}
		prefix := append([]byte(id), 0)
		c := hist.Cursor()
		for k, v := c.Seek(prefix); k != nil && len(k) == len(prefix)+8 && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
			var ev HistoryEvent
			if err := s.sl.unmarshal(k, v, &ev); err != nil {
				return err
			}
			events = append(events, ev)
		}
		// An expired memory stays gone from every read, history included, after the
		// sweeper has removed it too.
		if len(events) == 0 || events[len(events)-1].Source == "expiry" {
			return ErrNotFound
		}
		return nil
	})
	return events, err
}

// CountMemories returns how many unexpired memories the org holds in a mode.
func (s *Store) CountMemories(orgID string, mode Mode) (int, error) {
	n := 0
	now := s.now()
	err := s.db.View(func(tx *bolt.Tx) error {
		b, _, err := memoryBuckets(tx, orgID, mode)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var m Memory
			if err := s.sl.unmarshal(k, v, &m); err != nil {
				return err
			}
			if !m.Expired(now) {
				n++
			}
			return nil
		})
	})
	return n, err
}
