package store

import (
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Org is a tenant.
type Org struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Plan      string         `json:"plan"`
	CreatedAt time.Time      `json:"created_at"`
	Limits    LimitOverrides `json:"limits"`
}

// LimitOverrides replace a plan's limits for one org; nil keeps the plan's value.
type LimitOverrides struct {
	RequestsPerMinute *int `json:"requests_per_minute,omitempty"`
	RequestsPerDay    *int `json:"requests_per_day,omitempty"`
	Concurrent        *int `json:"concurrent,omitempty"`
}

// CreateOrg stores a new org and its first key in one transaction. key.Hash must be set.
func (s *Store) CreateOrg(name, plan string, key APIKey) (Org, APIKey, error) {
	org := Org{ID: NewID("org_"), Name: name, Plan: plan, CreatedAt: s.now().UTC()}
	key.OrgID = org.ID
	err := s.db.Update(func(tx *bolt.Tx) error {
		t, err := tx.Bucket(bucketTenants).CreateBucket([]byte(org.ID))
		if err != nil {
			return err
		}
		for _, name := range [][]byte{bucketKeys, []byte(ModeLive), []byte(ModeTest)} {
			if _, err := t.CreateBucket(name); err != nil {
				return err
			}
		}
		for _, mode := range []Mode{ModeLive, ModeTest} {
			mb := t.Bucket([]byte(mode))
			for _, name := range [][]byte{bucketMemories, bucketHistory, bucketIdem} {
				if _, err := mb.CreateBucket(name); err != nil {
					return err
				}
			}
		}
		if err := putJSON(tx.Bucket(bucketOrgs), []byte(org.ID), org); err != nil {
			return err
		}
		return putKey(tx, key)
	})
	return org, key, err
}

// CountOrgs returns how many orgs exist.
func (s *Store) CountOrgs() (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketOrgs).Stats().KeyN
		return nil
	})
	return n, err
}

// GetOrg returns one org.
func (s *Store) GetOrg(id string) (Org, error) {
	var org Org
	err := s.db.View(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketOrgs), []byte(id), &org)
		if err == nil && !ok {
			err = ErrOrgNotFound
		}
		return err
	})
	return org, err
}

// ListOrgs returns up to limit orgs after the cursor (an org id), oldest first, and
// the cursor of the next page ("" on the last). This is the operator's call: the only
// one that spans orgs.
func (s *Store) ListOrgs(after string, limit int) ([]Org, string, error) {
	var orgs []Org
	next := ""
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOrgs).Cursor()
		k, v := c.First()
		if after != "" {
			k, v = c.Seek([]byte(after))
			if k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			if len(orgs) == limit {
				next = orgs[len(orgs)-1].ID
				break
			}
			var org Org
			if err := unmarshal(v, &org); err != nil {
				return err
			}
			orgs = append(orgs, org)
		}
		return nil
	})
	return orgs, next, err
}

// UpdateOrg applies fn to the org and stores the result.
func (s *Store) UpdateOrg(id string, fn func(*Org) error) (Org, error) {
	var org Org
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOrgs)
		ok, err := getJSON(b, []byte(id), &org)
		if err != nil {
			return err
		}
		if !ok {
			return ErrOrgNotFound
		}
		if err := fn(&org); err != nil {
			return err
		}
		return putJSON(b, []byte(id), org)
	})
	return org, err
}

// DeleteOrg removes the org with all its keys, memories and history.
func (s *Store) DeleteOrg(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		t, err := tenant(tx, id)
		if err != nil {
			return err
		}
		idx := tx.Bucket(bucketKeyIndex)
		err = t.Bucket(bucketKeys).ForEach(func(_, v []byte) error {
			var k APIKey
			if err := unmarshal(v, &k); err != nil {
				return err
			}
			return idx.Delete([]byte(k.Hash))
		})
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketTenants).DeleteBucket([]byte(id)); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		return tx.Bucket(bucketOrgs).Delete([]byte(id))
	})
}
