package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// IdempotencyRecord is the first answer to a POST sent with an Idempotency-Key.
type IdempotencyRecord struct {
	Fingerprint string    `json:"fingerprint"` // hash of method, path and body
	Status      int       `json:"status"`
	Body        []byte    `json:"body"`
	CreatedAt   time.Time `json:"created_at"`
}

// idemBucket is the tenant's record bucket, or the operator's when orgID is empty.
func idemBucket(tx *bolt.Tx, orgID string, mode Mode) (*bolt.Bucket, error) {
	if orgID == "" {
		return tx.Bucket(bucketIdem), nil
	}
	mb, err := modeBucket(tx, orgID, mode)
	if err != nil {
		return nil, err
	}
	return mb.Bucket(bucketIdem), nil
}

// GetIdempotency returns the record stored under key, if any and not older than ttl.
func (s *Store) GetIdempotency(orgID string, mode Mode, key string, ttl time.Duration) (IdempotencyRecord, bool, error) {
	var rec IdempotencyRecord
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := idemBucket(tx, orgID, mode)
		if err != nil {
			return err
		}
		ok, err := s.sl.getJSON(b, []byte(key), &rec)
		found = ok && s.now().Sub(rec.CreatedAt) < ttl
		return err
	})
	return rec, found, err
}

// PutIdempotency stores the answer to replay, replacing an expired record.
func (s *Store) PutIdempotency(orgID string, mode Mode, key string, rec IdempotencyRecord) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := idemBucket(tx, orgID, mode)
		if err != nil {
			return err
		}
		return s.sl.putJSON(b, []byte(key), rec)
	})
}

// PurgeIdempotency drops records older than ttl in every tenant and the operator's;
// a housekeeping call.
func (s *Store) PurgeIdempotency(ttl time.Duration) (int, error) {
	n := 0
	cutoff := s.now().Add(-ttl)
	purge := func(b *bolt.Bucket) error {
		var stale [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var rec IdempotencyRecord
			if err := s.sl.unmarshal(k, v, &rec); err != nil || rec.CreatedAt.Before(cutoff) {
				stale = append(stale, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := purge(tx.Bucket(bucketIdem)); err != nil {
			return err
		}
		return tx.Bucket(bucketTenants).ForEachBucket(func(orgID []byte) error {
			for _, mode := range []Mode{ModeLive, ModeTest} {
				b, err := idemBucket(tx, string(orgID), mode)
				if err != nil {
					return err
				}
				if err := purge(b); err != nil {
					return err
				}
			}
			return nil
		})
	})
	return n, err
}
