package index

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// smallIndex builds an HNSW with some tombstones, so snapshots carry every
// slot state.
func smallIndex(t *testing.T) (*HNSW, *dataset) {
	t.Helper()
	d := clusteredData(5, 1000, 20, 32, 10, 0.7)
	h := NewHNSW(d.dim, HNSWConfig{M: 8, EfConstruction: 40, EfSearch: 40, Seed: 3})
	if err := h.AddBatch(d.ids, d.vectors, 2); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(d.ids); i += 10 {
		h.Delete(d.ids[i])
	}
	return h, d
}

func TestSnapshotRoundTrip(t *testing.T) {
	h, d := smallIndex(t)
	path := filepath.Join(t.TempDir(), "tenant.hnsw")
	if err := h.Save(path, "state-41"); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadHNSW(path, "state-41")
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Len() != h.Len() || loaded.Tombstones() != h.Tombstones() || loaded.Config() != h.Config() {
		t.Fatalf("loaded Len %d Tombstones %d Config %+v; want %d %d %+v",
			loaded.Len(), loaded.Tombstones(), loaded.Config(), h.Len(), h.Tombstones(), h.Config())
	}
	for _, q := range d.queries {
		want, got := h.Search(q, 10, nil), loaded.Search(q, 10, nil)
		if !slices.Equal(want, got) {
			t.Fatalf("loaded index answers %v, original %v", got, want)
		}
	}
	// The loaded index keeps working as a live index.
	if err := loaded.Add("fresh", d.queries[0]); err != nil {
		t.Fatal(err)
	}
	if got := loaded.Search(d.queries[0], 1, nil); got[0].ID != "fresh" {
		t.Fatalf("item added after load not found: %+v", got)
	}
	if !loaded.Delete(d.ids[1]) || loaded.Delete(d.ids[0]) {
		t.Fatal("delete after load: want true for a live id and false for a saved tombstone")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d files after Save, want only the snapshot", len(entries))
	}
}

func TestSnapshotRejectsDamage(t *testing.T) {
	h, _ := smallIndex(t)
	var buf bytes.Buffer
	if err := h.WriteSnapshot(&buf, "state-7"); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	if _, err := ReadHNSWSnapshot(bytes.NewReader(good), "state-7"); err != nil {
		t.Fatalf("intact snapshot: %v", err)
	}

	cases := map[string]struct {
		data    []byte
		stateID string
		want    error
	}{
		"stale":               {good, "state-8", ErrSnapshotStale},
		"empty":               {nil, "state-7", ErrSnapshotCorrupt},
		"not a snapshot":      {[]byte("PK\x03\x04 surely a zip file"), "state-7", ErrSnapshotCorrupt},
		"truncated header":    {good[:20], "state-7", ErrSnapshotCorrupt},
		"truncated body":      {good[:len(good)/2], "state-7", ErrSnapshotCorrupt},
		"missing checksum":    {good[:len(good)-4], "state-7", ErrSnapshotCorrupt},
		"checksum cut short":  {good[:len(good)-1], "state-7", ErrSnapshotCorrupt},
		"trailing bytes":      {append(slices.Clone(good), 0), "state-7", ErrSnapshotCorrupt},
		"bit flip in vector":  {flipBit(good, len(good)/2), "state-7", ErrSnapshotCorrupt},
		"bit flip in edges":   {flipBit(good, len(good)-100), "state-7", ErrSnapshotCorrupt},
		"bit flip in count":   {flipBit(good, len(snapshotMagic)+4+1+4+len("state-7")+4+1+4*3+8+8+1), "state-7", ErrSnapshotCorrupt},
		"bit flip in trailer": {flipBit(good, len(good)-2), "state-7", ErrSnapshotCorrupt},
		"newer version":       {withVersion(good, snapshotVersion+1), "state-7", ErrSnapshotVersion},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			loaded, err := ReadHNSWSnapshot(bytes.NewReader(c.data), c.stateID)
			if !errors.Is(err, c.want) || loaded != nil {
				t.Fatalf("err = %v (index %v), want %v", err, loaded != nil, c.want)
			}
		})
	}
}

func flipBit(b []byte, at int) []byte {
	out := slices.Clone(b)
	out[at] ^= 0x10
	return out
}

func withVersion(b []byte, v byte) []byte {
	out := slices.Clone(b)
	out[len(snapshotMagic)] = v
	return out
}

// TestLoadOrBuildRebuildsBadSnapshots covers the start-up path: a missing,
// truncated, corrupted or stale snapshot is rebuilt from the source (and
// saved again), never loaded.
func TestLoadOrBuildRebuildsBadSnapshots(t *testing.T) {
	h, d := smallIndex(t)
	live := map[string][]float32{}
	for i, id := range d.ids {
		if i%10 != 0 {
			live[id] = d.vectors[i]
		}
	}
	sourceCalls := 0
	source := func(add func(string, []float32) error) error {
		sourceCalls++
		for id, v := range live {
			if err := add(id, v); err != nil {
				return err
			}
		}
		return nil
	}
	dir := t.TempDir()
	goodPath := filepath.Join(dir, "good")
	if err := h.Save(goodPath, "s1"); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(goodPath)

	cases := []struct {
		name       string
		contents   []byte // nil: no file
		stateID    string
		wantLoaded bool
		wantReason error
	}{
		{"intact", good, "s1", true, nil},
		{"missing", nil, "s1", false, nil},
		{"truncated", good[:len(good)/3], "s1", false, ErrSnapshotCorrupt},
		{"corrupted", flipBit(good, len(good)/3), "s1", false, ErrSnapshotCorrupt},
		{"stale", good, "s2", false, ErrSnapshotStale},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".hnsw")
			if c.contents != nil {
				os.WriteFile(path, c.contents, 0o600)
			}
			before := sourceCalls
			idx, loaded, reason, err := LoadOrBuildHNSW(path, c.stateID, d.dim, h.Config(), source)
			if err != nil {
				t.Fatal(err)
			}
			if loaded != c.wantLoaded || (c.wantReason == nil) != (reason == nil) || (c.wantReason != nil && !errors.Is(reason, c.wantReason)) {
				t.Fatalf("loaded %v reason %v; want %v %v", loaded, reason, c.wantLoaded, c.wantReason)
			}
			if rebuilt := sourceCalls > before; rebuilt == c.wantLoaded {
				t.Fatalf("source called: %v, snapshot loaded: %v", rebuilt, loaded)
			}
			if idx.Len() != len(live) {
				t.Fatalf("Len = %d, want %d", idx.Len(), len(live))
			}
			for _, q := range d.queries[:5] {
				for _, r := range idx.Search(q, 10, nil) {
					if _, ok := live[r.ID]; !ok {
						t.Fatalf("result %s is not in the source", r.ID)
					}
				}
			}
			// The rebuild was saved: the next start loads it.
			if _, err := LoadHNSW(path, c.stateID); err != nil {
				t.Fatalf("snapshot after LoadOrBuild: %v", err)
			}
		})
	}
}
