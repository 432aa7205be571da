package store

import (
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// APIKey is a stored key: only its keyed hash and display prefix, never the key.
type APIKey struct {
	ID         string     `json:"id"`
	OrgID      string     `json:"org_id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Hash       string     `json:"hash"`
	Scopes     []string   `json:"scopes"`
	Mode       Mode       `json:"mode"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	// RotatedTo names the key that replaced this one; ExpiresAt then ends its grace.
	RotatedTo string `json:"rotated_to,omitempty"`
}

func unmarshal(raw []byte, v any) error { return json.Unmarshal(raw, v) }

func putKey(tx *bolt.Tx, k APIKey) error {
	t, err := tenant(tx, k.OrgID)
	if err != nil {
		return err
	}
	if err := putJSON(t.Bucket(bucketKeys), []byte(k.ID), k); err != nil {
		return err
	}
	return tx.Bucket(bucketKeyIndex).Put([]byte(k.Hash), []byte(k.OrgID+"/"+k.ID))
}

// CreateKey stores a new key for its org.
func (s *Store) CreateKey(k APIKey) error {
	return s.db.Update(func(tx *bolt.Tx) error { return putKey(tx, k) })
}

// KeyByHash finds the key with this keyed hash, in whichever org holds it.
func (s *Store) KeyByHash(hash string) (APIKey, error) {
	var k APIKey
	err := s.db.View(func(tx *bolt.Tx) error {
		ref := tx.Bucket(bucketKeyIndex).Get([]byte(hash))
		if ref == nil {
			return ErrKeyNotFound
		}
		var orgID, keyID string
		for i := range ref {
			if ref[i] == '/' {
				orgID, keyID = string(ref[:i]), string(ref[i+1:])
				break
			}
		}
		t, err := tenant(tx, orgID)
		if err != nil {
			return ErrKeyNotFound
		}
		ok, err := getJSON(t.Bucket(bucketKeys), []byte(keyID), &k)
		if err == nil && !ok {
			err = ErrKeyNotFound
		}
		return err
	})
	return k, err
}

// GetKey returns one key of the org.
func (s *Store) GetKey(orgID, keyID string) (APIKey, error) {
	var k APIKey
	err := s.db.View(func(tx *bolt.Tx) error {
		t, err := tenant(tx, orgID)
		if err != nil {
			return err
		}
		ok, err := getJSON(t.Bucket(bucketKeys), []byte(keyID), &k)
		if err == nil && !ok {
			err = ErrKeyNotFound
		}
		return err
	})
	return k, err
}

// ListKeys returns the org's keys, oldest first.
func (s *Store) ListKeys(orgID string) ([]APIKey, error) {
	var keys []APIKey
	err := s.db.View(func(tx *bolt.Tx) error {
		t, err := tenant(tx, orgID)
		if err != nil {
			return err
		}
		return t.Bucket(bucketKeys).ForEach(func(_, v []byte) error {
			var k APIKey
			if err := unmarshal(v, &k); err != nil {
				return err
			}
			keys = append(keys, k)
			return nil
		})
	})
	return keys, err
}

// UpdateKey applies fn to one key of the org and stores it.
func (s *Store) UpdateKey(orgID, keyID string, fn func(*APIKey) error) (APIKey, error) {
	var k APIKey
	err := s.db.Update(func(tx *bolt.Tx) error {
		t, err := tenant(tx, orgID)
		if err != nil {
			return err
		}
		ok, err := getJSON(t.Bucket(bucketKeys), []byte(keyID), &k)
		if err != nil {
			return err
		}
		if !ok {
			return ErrKeyNotFound
		}
		if err := fn(&k); err != nil {
			return err
		}
		return putJSON(t.Bucket(bucketKeys), []byte(keyID), k)
	})
	return k, err
}

// RotateKey stores next and applies fn to the old key in one transaction, so a crash
// leaves either both changes or neither.
func (s *Store) RotateKey(orgID, oldID string, next APIKey, fn func(old *APIKey) error) (APIKey, error) {
	var old APIKey
	err := s.db.Update(func(tx *bolt.Tx) error {
		t, err := tenant(tx, orgID)
		if err != nil {
			return err
		}
		ok, err := getJSON(t.Bucket(bucketKeys), []byte(oldID), &old)
		if err != nil {
			return err
		}
		if !ok {
			return ErrKeyNotFound
		}
		if err := fn(&old); err != nil {
			return err
		}
		if err := putJSON(t.Bucket(bucketKeys), []byte(oldID), old); err != nil {
			return err
		}
		return putKey(tx, next)
	})
	return old, err
}

// TouchKeys records last-used times in one transaction; keys gone since are skipped.
func (s *Store) TouchKeys(used map[[2]string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		for ref, at := range used {
			t, err := tenant(tx, ref[0])
			if err != nil {
				continue
			}
			var k APIKey
			ok, err := getJSON(t.Bucket(bucketKeys), []byte(ref[1]), &k)
			if err != nil || !ok {
				continue
			}
			at := at.UTC()
			k.LastUsedAt = &at
			if err := putJSON(t.Bucket(bucketKeys), []byte(ref[1]), k); err != nil {
				return err
			}
		}
		return nil
	})
}
