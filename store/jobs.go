package store

import (
	"encoding/json"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrJobNotFound is returned for a job that is not the tenant's.
var ErrJobNotFound = errors.New("store: job not found")

var bucketJobs = []byte("jobs")

// Job is a background job (extraction, re-embedding) and its outcome.
type Job struct {
	ID     string          `json:"id"`
	OrgID  string          `json:"org_id"`
	Mode   Mode            `json:"mode"`
	Type   string          `json:"type"`
	Status string          `json:"status"` // queued, running, succeeded, failed, canceled
	Total  int             `json:"total"`
	Done   int             `json:"done"`
	Failed int             `json:"failed"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	// State is a job's own record of its work so far (extraction: the facts and the
	// events applied), committed with each step's writes so a resumed job goes on from
	// the first step not committed.
	State      json.RawMessage `json:"state,omitempty"`
	ErrCode    string          `json:"error_code,omitempty"`
	ErrMessage string          `json:"error_message,omitempty"`
	KeyID      string          `json:"key_id,omitempty"` // the key that started it, for metering
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at,omitempty"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
}

func jobsBucket(tx *bolt.Tx, orgID string, mode Mode) (*bolt.Bucket, error) {
	mb, err := modeBucket(tx, orgID, mode)
	if err != nil {
		return nil, err
	}
	if tx.Writable() {
		return mb.CreateBucketIfNotExists(bucketJobs)
	}
	return mb.Bucket(bucketJobs), nil
}

// PutJob stores a job (new or changed).
func (s *Store) PutJob(j Job) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		b, err := jobsBucket(tx, j.OrgID, j.Mode)
		if err != nil {
			return err
		}
		return s.sl.putJSON(b, []byte(j.ID), j)
	})
}

// GetJob returns one job of the tenant.
func (s *Store) GetJob(orgID string, mode Mode, id string) (Job, error) {
	var j Job
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := jobsBucket(tx, orgID, mode)
		if err != nil {
			return err
		}
		if b == nil {
			return ErrJobNotFound
		}
		ok, err := s.sl.getJSON(b, []byte(id), &j)
		if err == nil && !ok {
			err = ErrJobNotFound
		}
		return err
	})
	return j, err
}

// UnfinishedJobs lists every tenant's queued or running jobs, oldest first: a restart
// runs them again.
func (s *Store) UnfinishedJobs() ([]Job, error) {
	var out []Job
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTenants).ForEachBucket(func(orgID []byte) error {
			for _, mode := range []Mode{ModeLive, ModeTest} {
				b, err := jobsBucket(tx, string(orgID), mode)
				if err != nil || b == nil {
					continue
				}
				err = b.ForEach(func(k, v []byte) error {
					var j Job
					if err := s.sl.unmarshal(k, v, &j); err != nil {
						return err
					}
					if j.Status == "queued" || j.Status == "running" {
						out = append(out, j)
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
	})
	return out, err
}
