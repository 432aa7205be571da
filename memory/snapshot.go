package memory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"memoryd/index"
)

// Vector index snapshots let a large tenant start without rebuilding its HNSW graph.
// They are written at shutdown, when no write is in flight, and name the tenant's
// write count and the embedder: any write since, or another model, makes one stale,
// and a stale or damaged snapshot is rebuilt from the store's vectors, never loaded.

func (e *Engine) snapshotPath(t Tenant) string {
	return filepath.Join(e.indexDir, fmt.Sprintf("%s_%s.vec", t.OrgID, t.Mode))
}

func (e *Engine) snapshotState(seq uint64) string {
	return fmt.Sprintf("seq=%d model=%s dim=%d", seq, e.embedder.Model(), e.embedder.Dim())
}

// loadSnapshot returns the tenant's vector index from its snapshot when it matches
// the store's write count seq, or nil.
func (e *Engine) loadSnapshot(t Tenant, seq uint64) *index.Auto {
	if e.indexDir == "" {
		return nil
	}
	path := e.snapshotPath(t)
	a, err := index.LoadAuto(path, e.snapshotState(seq), index.DefaultHNSWConfig(), e.crossover)
	switch {
	case err == nil:
		return a
	case errors.Is(err, os.ErrNotExist):
	case errors.Is(err, index.ErrSnapshotStale):
		e.log.Info("index snapshot is stale: rebuilding", "org_id", t.OrgID, "mode", t.Mode)
		_ = os.Remove(path)
	default:
		e.log.Warn("index snapshot unusable: rebuilding", "org_id", t.OrgID, "mode", t.Mode, "err", err)
		_ = os.Remove(path)
	}
	return nil
}

// SaveSnapshots writes a snapshot of every loaded tenant whose vectors are an HNSW
// graph (smaller ones rebuild in moments). Call it when no write is in flight: after
// the HTTP server and the jobs have stopped.
func (e *Engine) SaveSnapshots() error {
	if e.indexDir == "" {
		return nil
	}
	if err := os.MkdirAll(e.indexDir, 0o700); err != nil {
		return err
	}
	var firstErr error
	e.tenants.Range(func(k, v any) bool {
		t, ti := k.(Tenant), v.(*tenantIndex)
		select {
		case <-ti.loaded:
		default:
			return true // still loading: nothing to save
		}
		if ti.loadErr != nil || !ti.vec.UsesHNSW() {
			return true
		}
		seq, err := e.store.WriteSeq(t.OrgID, t.Mode)
		if err == nil {
			err = ti.vec.Save(e.snapshotPath(t), e.snapshotState(seq))
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("memory: snapshot %s/%s: %w", t.OrgID, t.Mode, err)
		}
		return true
	})
	return firstErr
}
