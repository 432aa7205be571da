package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Per-org export and import: one record per memory with its history, so an org can
// move between servers or be kept apart from a whole-file backup. API keys, usage and
// audit events stay behind: keys are secrets of the server they were made on.

// ErrIDTaken: an imported memory's id is already used in the target org and mode,
// by a memory or by a deleted memory's history.
var ErrIDTaken = errors.New("store: memory id is already used in this org")

// ExportRecord is one memory as export writes it and import reads it: the memory's
// fields, its mode and its history, oldest event first. The vector is not part of it:
// the importing server embeds the text with its own embedder.
type ExportRecord struct {
	Mode Mode `json:"mode"`
	Memory
	History []HistoryEvent `json:"history"`
}

// ImportError says which record of an import failed and why.
type ImportError struct {
	Index int // the record's position in the call, from 0
	ID    string
	Err   error
}

func (e *ImportError) Error() string {
	return fmt.Sprintf("record %d (%s): %v", e.Index, e.ID, e.Err)
}

func (e *ImportError) Unwrap() error { return e.Err }

// ExportOrg calls fn with every unexpired memory of the org in the given modes, in
// creation order, each with its history, from one read transaction: the export is a
// consistent picture of the org even while it keeps being written.
func (s *Store) ExportOrg(orgID string, modes []Mode, fn func(ExportRecord) error) error {
	now := s.now()
	return s.db.View(func(tx *bolt.Tx) error {
		if _, err := tenant(tx, orgID); err != nil {
			return err
		}
		for _, mode := range modes {
			mems, hist, err := memoryBuckets(tx, orgID, mode)
			if err != nil {
				return err
			}
			hc := hist.Cursor()
			err = mems.ForEach(func(k, v []byte) error {
				rec := ExportRecord{Mode: mode}
				if err := s.sl.unmarshal(k, v, &rec.Memory); err != nil {
					return err
				}
				if rec.Expired(now) {
					return nil
				}
				prefix := append(append([]byte(nil), k...), 0)
				for hk, hv := hc.Seek(prefix); hk != nil && len(hk) == len(prefix)+8 && string(hk[:len(prefix)]) == string(prefix); hk, hv = hc.Next() {
					var ev HistoryEvent
					if err := s.sl.unmarshal(hk, hv, &ev); err != nil {
						return err
					}
					rec.History = append(rec.History, ev)
				}
				return fn(rec)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// ImportMemories stores the records, ids as given, with their vectors (Memory.Vector
// and VectorModel) and their history, in one transaction: all or none. A record whose
// id is taken in its mode fails the whole call with an *ImportError wrapping
// ErrIDTaken, so importing the same export twice duplicates nothing. A record
// without history gets an ADD event of source "import".
func (s *Store) ImportMemories(orgID string, recs []ExportRecord, at Change) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		added := map[Mode]int64{}
		seen := map[Mode]map[string]bool{ModeLive: {}, ModeTest: {}}
		for i := range recs {
			r := &recs[i]
			mb, err := modeBucket(tx, orgID, r.Mode)
			if err != nil {
				if errors.Is(err, ErrOrgNotFound) && seen[r.Mode] == nil {
					return &ImportError{Index: i, ID: r.ID, Err: fmt.Errorf("unknown mode %q", r.Mode)}
				}
				return err
			}
			mems, hist := mb.Bucket(bucketMemories), mb.Bucket(bucketHistory)
			prefix := append([]byte(r.ID), 0)
			hk, _ := hist.Cursor().Seek(prefix)
			used := hk != nil && len(hk) == len(prefix)+8 && string(hk[:len(prefix)]) == string(prefix)
			if seen[r.Mode][r.ID] || used || mems.Get([]byte(r.ID)) != nil {
				return &ImportError{Index: i, ID: r.ID, Err: ErrIDTaken}
			}
			seen[r.Mode][r.ID] = true
			if err := s.putMemory(mems, &r.Memory); err != nil {
				return err
			}
			if err := putVector(s.sl, mb, &r.Memory); err != nil {
				return err
			}
			events := r.History
			if len(events) == 0 {
				events = []HistoryEvent{{Event: "ADD", Text: r.Text, At: at.At, Source: "import"}}
			}
			for _, ev := range events {
				if err := appendHistory(s.sl, hist, r.ID, ev); err != nil {
					return err
				}
			}
			added[r.Mode]++
		}
		for mode, n := range added {
			mb, err := modeBucket(tx, orgID, mode)
			if err != nil {
				return err
			}
			if err := addStored(mb, n); err != nil {
				return err
			}
			if err := bumpSeq(mb); err != nil {
				return err
			}
		}
		return nil
	})
}
