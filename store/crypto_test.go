package store

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const secretPhrase = "my cat Zanzibar likes sardines"

func newMasterKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, MasterKeyLen)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// fill writes one memory with a vector, an update (history with previous text), an
// idempotency record holding the text and a job: every kind of sealed record.
func fill(t *testing.T, s *Store) (orgID, memID string) {
	t.Helper()
	org, _, _, err := s.CreateOrgWithAdminKey("enc", "pro")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	m := Memory{ID: NewID("mem_"), Text: secretPhrase, Metadata: []byte(`{"pet":"Zanzibar"}`), CreatedAt: now, UpdatedAt: now,
		Version: 1, Vector: []float32{0.5, 0.25}, VectorModel: "local"}
	if err := s.CreateMemories(org.ID, ModeLive, []Memory{m}, Change{At: now, Source: "api"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateMemory(org.ID, ModeLive, m.ID, Change{At: now, Source: "api"}, func(m *Memory) error {
		m.Text = secretPhrase + " and tuna"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIdempotency(org.ID, ModeLive, "idem-1", IdempotencyRecord{Body: []byte(secretPhrase), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutJob(Job{ID: NewID("job_"), OrgID: org.ID, Mode: ModeLive, Type: "extract", Status: "queued",
		Params: []byte(`{"messages":[{"content":"` + secretPhrase + `"}]}`), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return org.ID, m.ID
}

func fileHas(t *testing.T, dir, phrase string) bool {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(raw, []byte(phrase)) || bytes.Contains(raw, []byte("Zanzibar"))
}

func readBack(t *testing.T, s *Store, orgID, memID string) {
	t.Helper()
	m, err := s.GetMemory(orgID, ModeLive, memID)
	if err != nil || m.Text != secretPhrase+" and tuna" || string(m.Metadata) != `{"pet":"Zanzibar"}` {
		t.Fatalf("read back %+v, %v", m, err)
	}
	hist, err := s.History(orgID, ModeLive, memID)
	if err != nil || len(hist) != 2 || *hist[1].PreviousText != secretPhrase {
		t.Fatalf("history %+v, %v", hist, err)
	}
	var vec []float32
	if _, err := s.ScanIndexed(orgID, ModeLive, func(_ *Memory, _ string, v []float32) error { vec = v; return nil }); err != nil || len(vec) != 2 || vec[0] != 0.5 {
		t.Fatalf("vector %v, %v", vec, err)
	}
	if rec, ok, err := s.GetIdempotency(orgID, ModeLive, "idem-1", time.Hour); err != nil || !ok || string(rec.Body) != secretPhrase {
		t.Fatalf("idempotency %v %v %v", rec, ok, err)
	}
	if jobs, err := s.UnfinishedJobs(); err != nil || len(jobs) != 1 {
		t.Fatalf("jobs %v, %v", jobs, err)
	}
}

// With a master key no customer text reaches the file; the records read back; the
// store refuses to open without the key or with another, and verify still passes.
func TestEncryptionAtRest(t *testing.T) {
	dir := t.TempDir()
	key := newMasterKey(t)
	s, err := Open(dir, Options{MasterKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Encrypted() {
		t.Fatal("store says it is not encrypted")
	}
	orgID, memID := fill(t, s)
	readBack(t, s, orgID, memID)
	s.Close()
	if fileHas(t, dir, secretPhrase) {
		t.Fatal("the database file holds the memory text in the clear")
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrNeedMasterKey) {
		t.Fatalf("open without key: %v", err)
	}
	if _, err := Open(dir, Options{MasterKey: newMasterKey(t)}); !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("open with the wrong key: %v", err)
	}
	if _, err := Open(dir, Options{MasterKey: key[:16]}); !errors.Is(err, ErrBadMasterKey) {
		t.Fatalf("open with a short key: %v", err)
	}
	rep, err := Verify(filepath.Join(dir, FileName))
	if err != nil || rep.MemoriesLive != 1 || rep.HistoryEvents != 2 {
		t.Fatalf("verify %+v, %v", rep, err)
	}
	s, err = Open(dir, Options{MasterKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	readBack(t, s, orgID, memID)
}

// A record moved under another id does not decrypt: the id is authenticated with it.
func TestSealedRecordBoundToKey(t *testing.T) {
	s, err := Open(t.TempDir(), Options{MasterKey: newMasterKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw, err := s.sl.seal([]byte("mem_a"), []byte(`{"text":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.sl.open([]byte("mem_b"), raw); !errors.Is(err, ErrSealedRecord) {
		t.Fatalf("opened under another id: %v", err)
	}
	raw[len(raw)-1] ^= 1
	if _, err := s.sl.open([]byte("mem_a"), raw); !errors.Is(err, ErrSealedRecord) {
		t.Fatalf("opened a tampered record: %v", err)
	}
}

// A plain store opened with a master key for the first time is encrypted in place.
func TestEncryptExistingStore(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	orgID, memID := fill(t, s)
	s.Close()
	key := newMasterKey(t)
	s, err = Open(dir, Options{MasterKey: key})
	if err != nil {
		t.Fatal(err)
	}
	readBack(t, s, orgID, memID)
	// Compacting drops the free pages that still hold the old plain copies.
	s.Close()
	if _, err := Compact(dir); err != nil {
		t.Fatal(err)
	}
	if fileHas(t, dir, secretPhrase) {
		t.Fatal("plain text left after encrypting and compacting")
	}
	s, err = Open(dir, Options{MasterKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	readBack(t, s, orgID, memID)
}

// Rekey re-wraps the data key: the new key opens the store, the old one no longer does.
func TestRekey(t *testing.T) {
	dir := t.TempDir()
	oldKey, newKey := newMasterKey(t), newMasterKey(t)
	s, err := Open(dir, Options{MasterKey: oldKey})
	if err != nil {
		t.Fatal(err)
	}
	orgID, memID := fill(t, s)
	if err := Rekey(dir, oldKey, newKey); !errors.Is(err, ErrLocked) {
		t.Fatalf("rekey beside an open store: %v", err)
	}
	s.Close()
	if err := Rekey(dir, newMasterKey(t), newKey); !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("rekey with the wrong old key: %v", err)
	}
	if err := Rekey(dir, oldKey, newKey); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{MasterKey: oldKey}); !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("old key after rekey: %v", err)
	}
	s, err = Open(dir, Options{MasterKey: newKey})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	readBack(t, s, orgID, memID)

	plain := t.TempDir()
	p, err := Open(plain, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if err := Rekey(plain, oldKey, newKey); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("rekey of a plain store: %v", err)
	}
}
