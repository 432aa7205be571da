package store

import (
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrJobStopped is returned for a step of a job that is no longer running (it was
// canceled, or finished): nothing of the step is written.
var ErrJobStopped = errors.New("store: job is no longer running")

// JobStep is the memory writes of one step of a job.
type JobStep struct {
	Create []Memory
	// Update sets each memory's text and vector (by ID; other fields are kept), bumping
	// its version and recording UPDATE with the previous text.
	Update []Memory
	Delete []string
	// Change says who writes (source, job id, time) for the history.
	Change Change
}

// ApplyJobStep commits a step's writes together with the job j (its progress and
// state) in one transaction, so a step is applied exactly once: either both are
// written or neither. The stored job must still be running, else ErrJobStopped. A
// memory to update or delete that is gone fails the step with ErrNotFound. The
// updated memories are returned as stored.
func (s *Store) ApplyJobStep(j Job, step JobStep) ([]Memory, error) {
	var updated []Memory
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := jobsBucket(tx, j.OrgID, j.Mode)
		if err != nil {
			return err
		}
		var cur Job
		ok, err := s.sl.getJSON(b, []byte(j.ID), &cur)
		if err != nil {
			return err
		}
		if !ok || cur.Status != "running" {
			return ErrJobStopped
		}
		mb, err := modeBucket(tx, j.OrgID, j.Mode)
		if err != nil {
			return err
		}
		ch := step.Change
		if ch.MaxStored > 0 && len(step.Create) > 0 && storedCount(mb)+int64(len(step.Create)-len(step.Delete)) > ch.MaxStored {
			return ErrQuotaStored
		}
		mems, hist := mb.Bucket(bucketMemories), mb.Bucket(bucketHistory)
		for i := range step.Create {
			m := &step.Create[i]
			if err := s.putMemory(mems, m); err != nil {
				return err
			}
			if err := putVector(s.sl, mb, m); err != nil {
				return err
			}
			if err := appendHistory(s.sl, hist, m.ID, HistoryEvent{Event: "ADD", Text: m.Text, At: ch.At, Source: ch.Source, JobID: ch.JobID}); err != nil {
				return err
			}
		}
		if err := addStored(mb, int64(len(step.Create))); err != nil {
			return err
		}
		updated = updated[:0]
		for _, u := range step.Update {
			m, err := liveMemory(s.sl, mems, u.ID, ch.At)
			if err != nil {
				return err
			}
			prev := m.Text
			m.Text, m.Vector, m.VectorModel = u.Text, u.Vector, u.VectorModel
			m.Version++
			m.UpdatedAt = ch.At
			if err := s.putMemory(mems, &m); err != nil {
				return err
			}
			if err := putVector(s.sl, mb, &m); err != nil {
				return err
			}
			if err := appendHistory(s.sl, hist, m.ID, HistoryEvent{Event: "UPDATE", Text: m.Text, PreviousText: &prev, At: ch.At, Source: ch.Source, JobID: ch.JobID}); err != nil {
				return err
			}
			updated = append(updated, m)
		}
		for _, id := range step.Delete {
			m, err := liveMemory(s.sl, mems, id, ch.At)
			if err != nil {
				return err
			}
			if err := deleteMemory(s.sl, mb, &m, ch); err != nil {
				return err
			}
		}
		if len(step.Create)+len(step.Update)+len(step.Delete) > 0 {
			if err := bumpSeq(mb); err != nil {
				return err
			}
			if err := ch.commit(tx, len(step.Create)+len(step.Update)+len(step.Delete)); err != nil {
				return err
			}
		}
		return s.sl.putJSON(b, []byte(j.ID), j)
	})
	return updated, err
}

// CancelJob marks a queued or running job canceled and returns it; a job that has
// finished is returned unchanged.
func (s *Store) CancelJob(orgID string, mode Mode, id string, at time.Time) (Job, error) {
	var j Job
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := jobsBucket(tx, orgID, mode)
		if err != nil {
			if errors.Is(err, ErrOrgNotFound) {
				return ErrJobNotFound
			}
			return err
		}
		j = Job{}
		ok, err := s.sl.getJSON(b, []byte(id), &j)
		if err != nil {
			return err
		}
		if !ok {
			return ErrJobNotFound
		}
		if j.Status != "queued" && j.Status != "running" {
			return nil
		}
		at = at.UTC()
		j.Status, j.FinishedAt = "canceled", &at
		return s.sl.putJSON(b, []byte(id), j)
	})
	return j, err
}
