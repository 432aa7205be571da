package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// The audit log: one event per authenticated request, in a bucket of its org, keyed
// by a time-ordered id so pages and the retention purge walk it in order. It never
// holds a key, a memory's text or a request body; in an encrypted store its events are
// sealed too (they name the caller's IP address and user agent).

var bucketAudit = []byte("audit")

// AuditEvent is one request as the audit log keeps it.
type AuditEvent struct {
	ID         string    `json:"id"`
	At         time.Time `json:"at"`
	OrgID      string    `json:"org_id"`
	KeyID      string    `json:"key_id"`
	Mode       Mode      `json:"mode,omitempty"`
	Endpoint   string    `json:"endpoint"` // the route, e.g. "GET /v1/memories/{id}"
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	RequestID  string    `json:"request_id"`
	Status     int       `json:"status"`
	DurationMS float64   `json:"duration_ms"`
	Tokens     int64     `json:"tokens"`
}

// RecordAudit writes a batch of events in one transaction: the API group-commits
// them, so auditing adds no write per request. Events of orgs deleted meanwhile are
// dropped with their org.
func (s *Store) RecordAudit(events []AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		buckets := map[string]*bolt.Bucket{} // by org; nil for an org deleted
		for i := range events {
			ev := &events[i]
			b, ok := buckets[ev.OrgID]
			if !ok {
				if t, err := tenant(tx, ev.OrgID); err == nil {
					if b, err = t.CreateBucketIfNotExists(bucketAudit); err != nil {
						return err
					}
					b.FillPercent = appendFill // ids are time-ordered
				}
				buckets[ev.OrgID] = b
			}
			if b == nil {
				continue
			}
			if ev.ID == "" {
				ev.ID = NewID("aud_")
			}
			if err := s.sl.putJSON(b, []byte(ev.ID), ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListAudit returns up to limit of the org's events after the id `after` ("" from the
// start): newest first, or oldest first when ascending; and the id to continue from
// ("" on the last page).
func (s *Store) ListAudit(orgID, after string, limit int, ascending bool) ([]AuditEvent, string, error) {
	var out []AuditEvent
	next := ""
	err := s.db.View(func(tx *bolt.Tx) error {
		t, err := tenant(tx, orgID)
		if err != nil {
			return err
		}
		b := t.Bucket(bucketAudit)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		step := c.Prev
		switch {
		case ascending:
			step = c.Next
			if after == "" {
				k, v = c.First()
			} else if k, v = c.Seek([]byte(after)); k != nil && string(k) == after {
				k, v = c.Next()
			}
		case after == "":
			k, v = c.Last()
		default:
			if k, v = c.Seek([]byte(after)); k == nil {
				k, v = c.Last()
			}
			for k != nil && string(k) >= after {
				k, v = c.Prev()
			}
		}
		for ; k != nil; k, v = step() {
			if len(out) == limit {
				next = out[len(out)-1].ID
				break
			}
			var ev AuditEvent
			if err := s.sl.unmarshal(k, v, &ev); err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	return out, next, err
}

// PurgeAudit deletes every org's events older than cutoff and returns how many.
func (s *Store) PurgeAudit(cutoff time.Time) (int, error) {
	n := 0
	bound := []byte(NewIDAt("aud_", cutoff))
	err := s.db.Update(func(tx *bolt.Tx) error {
		n = 0
		return tx.Bucket(bucketTenants).ForEachBucket(func(orgID []byte) error {
			b := tx.Bucket(bucketTenants).Bucket(orgID).Bucket(bucketAudit)
			if b == nil {
				return nil
			}
			// Collected first: deleting under a moving cursor skips keys.
			var doomed [][]byte
			c := b.Cursor()
			for k, _ := c.First(); k != nil && string(k) < string(bound); k, _ = c.Next() {
				doomed = append(doomed, append([]byte(nil), k...))
			}
			for _, k := range doomed {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n += len(doomed)
			return nil
		})
	})
	return n, err
}
