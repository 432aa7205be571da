package store

import (
	"encoding/binary"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// A store written by a newer build is refused, not misread.
func TestRefusesNewerSchema(t *testing.T) {
	s, dir := openTemp(t)
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, SchemaVersion+1))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("open newer schema: %v", err)
	}
}

// An older store is migrated forward through each step in order, then stamped; a
// failing step leaves it untouched.
func TestMigrationHook(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	var ran []int
	steps := []migration{
		func(tx *bolt.Tx) error {
			ran = append(ran, 1)
			return tx.Bucket(bucketMeta).Put([]byte("m1"), []byte("x"))
		},
		func(tx *bolt.Tx) error { ran = append(ran, 2); return nil },
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return migrate(tx, 1, 3, steps) }); err != nil {
		t.Fatal(err)
	}
	if len(ran) != 2 || ran[0] != 1 || ran[1] != 2 {
		t.Fatalf("steps ran %v", ran)
	}
	readVersion := func() (v uint64) {
		_ = s.db.View(func(tx *bolt.Tx) error {
			v = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keySchema))
			return nil
		})
		return v
	}
	if v := readVersion(); v != 3 {
		t.Fatalf("schema after migration = %d", v)
	}
	failing := []migration{nil, nil, func(tx *bolt.Tx) error {
		_ = tx.Bucket(bucketMeta).Put([]byte("m3"), []byte("x"))
		return errors.New("boom")
	}}
	if err := s.db.Update(func(tx *bolt.Tx) error { return migrate(tx, 3, 4, failing) }); err == nil {
		t.Fatal("failing step reported success")
	}
	if v := readVersion(); v != 3 {
		t.Fatalf("schema after a failed step = %d", v)
	}
	_ = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta).Get([]byte("m3")) != nil {
			t.Error("a failed step left its writes")
		}
		return nil
	})
}

// A second process cannot open a folder in use.
func TestLockedByAnotherOpen(t *testing.T) {
	_, dir := openTemp(t)
	if _, err := Open(dir, Options{Timeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
}

// Ids are unique, well-formed and sort in creation order, even from many goroutines.
func TestIDsSortInCreationOrder(t *testing.T) {
	var prev string
	for i := 0; i < 10000; i++ {
		id := NewID("mem_")
		if !ValidID(id, "mem_") {
			t.Fatalf("invalid id %q", id)
		}
		if id <= prev {
			t.Fatalf("id %q does not sort after %q", id, prev)
		}
		prev = id
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]string, 2000)
			for i := range local {
				local[i] = NewID("key_")
			}
			if !sort.StringsAreSorted(local) {
				t.Error("ids of one goroutine out of order")
			}
			mu.Lock()
			for _, id := range local {
				if seen[id] {
					t.Errorf("duplicate id %s", id)
				}
				seen[id] = true
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, bad := range []string{"mem_", "mem_0000000000000000000000000", "mem_0000000000000000000000000!", "key_00000000000000000000000000", "../../etc/passwd"} {
		if ValidID(bad, "mem_") {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

// A batch is all or nothing: a failure mid-way leaves no memory behind.
func TestCreateMemoriesAtomic(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	org, _, _, err := s.CreateOrgWithAdminKey("o", "pro")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	mems := []Memory{{ID: NewID("mem_"), Text: "a", CreatedAt: now, UpdatedAt: now, Version: 1},
		{ID: NewID("mem_"), Text: "b", CreatedAt: now, UpdatedAt: now, Version: 1, Metadata: []byte("{not json")}}
	if err := s.CreateMemories(org.ID, ModeLive, mems, Change{At: now, Source: "batch"}); err == nil {
		t.Fatal("a batch with an unencodable item was stored")
	}
	if n, _ := s.CountMemories(org.ID, ModeLive); n != 0 {
		t.Fatalf("%d memories left by a failed batch", n)
	}
	if err := s.CreateMemories("org_00000000000000000000000000", ModeLive, mems[:1], Change{At: now}); !errors.Is(err, ErrOrgNotFound) {
		t.Fatalf("write to a missing org: %v", err)
	}
}

// Idempotency records expire after their TTL, the operator's too.
func TestPurgeIdempotency(t *testing.T) {
	now := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	s, err := Open(dir, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	org, _, _, err := s.CreateOrgWithAdminKey("o", "pro")
	if err != nil {
		t.Fatal(err)
	}
	old := IdempotencyRecord{Fingerprint: "f", Status: 201, CreatedAt: now.Add(-25 * time.Hour)}
	fresh := IdempotencyRecord{Fingerprint: "f", Status: 201, CreatedAt: now.Add(-time.Hour)}
	for _, put := range []struct {
		org  string
		key  string
		rec  IdempotencyRecord
		mode Mode
	}{{org.ID, "a", old, ModeLive}, {org.ID, "b", fresh, ModeLive}, {org.ID, "c", old, ModeTest}, {"", "d", old, ModeLive}} {
		if err := s.PutIdempotency(put.org, put.mode, put.key, put.rec); err != nil {
			t.Fatal(err)
		}
	}
	if _, found, _ := s.GetIdempotency(org.ID, ModeLive, "a", 24*time.Hour); found {
		t.Fatal("a record past its TTL is replayed")
	}
	n, err := s.PurgeIdempotency(24 * time.Hour)
	if err != nil || n != 3 {
		t.Fatalf("purged %d (%v), want 3", n, err)
	}
	if _, found, _ := s.GetIdempotency(org.ID, ModeLive, "b", 24*time.Hour); !found {
		t.Fatal("a fresh record was purged")
	}
}

// openWithOrg opens a store in a temporary folder whose clock stands at now, with
// one org; the store closes when the test ends.
func openWithOrg(t testing.TB, now time.Time) (*Store, Org) {
	t.Helper()
	s, err := Open(t.TempDir(), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	org, _, _, err := s.CreateOrgWithAdminKey("o", "pro")
	if err != nil {
		t.Fatal(err)
	}
	return s, org
}

// The sweeper removes expired memories in every tenant and mode, lowers the stored
// count, and their history stays hidden.
func TestPurgeExpired(t *testing.T) {
	now := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	s, org := openWithOrg(t, now)
	past, future := now.Add(-time.Minute), now.Add(time.Hour)
	mk := func(text string, exp *time.Time) Memory {
		return Memory{ID: NewID("mem_"), Text: text, CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Hour), Version: 1, ExpiresAt: exp}
	}
	live := []Memory{mk("gone", &past), mk("stays", &future), mk("forever", nil)}
	test := []Memory{mk("sandbox gone", &past)}
	if err := s.CreateMemories(org.ID, ModeLive, live, Change{At: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMemories(org.ID, ModeTest, test, Change{At: now}); err != nil {
		t.Fatal(err)
	}
	removed, err := s.PurgeExpired(now)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 {
		t.Fatalf("removed from %d tenants, want 2: %+v", len(removed), removed)
	}
	if n, _ := s.MemoriesStored(org.ID, ModeLive); n != 2 {
		t.Fatalf("live stored = %d, want 2", n)
	}
	if n, _ := s.MemoriesStored(org.ID, ModeTest); n != 0 {
		t.Fatalf("test stored = %d, want 0", n)
	}
	if _, err := s.History(org.ID, ModeLive, live[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("history of an expired memory: %v", err)
	}
	if _, err := s.GetMemory(org.ID, ModeLive, live[1].ID); err != nil {
		t.Fatalf("unexpired memory: %v", err)
	}
}

// The minute sweep reads the memories only when one can have expired: the first
// sweep reads them all and learns the earliest expiry; a sweep before it returns at
// once; a create, an update or an import that sets an earlier expiry brings it
// forward; a sweep that deletes learns the next one.
func TestPurgeExpiredSkipsUntilDue(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	s, org := openWithOrg(t, now)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	mk := func(text string, exp *time.Time) Memory {
		return Memory{ID: NewID("mem_"), Text: text, CreatedAt: now, UpdatedAt: now, Version: 1, ExpiresAt: exp}
	}
	scans := func() int { s.expiry.mu.Lock(); defer s.expiry.mu.Unlock(); return s.expiry.scans }
	sweep := func(after time.Duration, wantScan bool, wantGone ...string) {
		t.Helper()
		before := scans()
		removed, err := s.PurgeExpired(now.Add(after))
		if err != nil {
			t.Fatal(err)
		}
		var gone []string
		for _, ex := range removed {
			gone = append(gone, ex.IDs...)
		}
		sort.Strings(gone)
		sort.Strings(wantGone)
		if scanned := scans() > before; scanned != wantScan || len(gone) != len(wantGone) || len(gone) > 0 && gone[0] != wantGone[0] {
			t.Fatalf("sweep at +%s: scanned %v (want %v), removed %v, want %v", after, scanned, wantScan, gone, wantGone)
		}
	}
	inHour, forever := mk("in an hour", at(time.Hour)), mk("forever", nil)
	if err := s.CreateMemories(org.ID, ModeLive, []Memory{inHour, forever}, Change{At: now}); err != nil {
		t.Fatal(err)
	}
	sweep(0, true)                    // the first reads everything
	sweep(30*time.Minute, false)      // nothing due before +1h
	sweep(time.Hour, true, inHour.ID) // due: deletes, and no expiry is left
	sweep(48*time.Hour, false)        // none at all: never due
	soon := mk("in two hours", at(2*time.Hour))
	if err := s.CreateMemories(org.ID, ModeTest, []Memory{soon}, Change{At: now}); err != nil {
		t.Fatal(err)
	}
	sweep(90*time.Minute, false)
	if _, err := s.UpdateMemory(org.ID, ModeLive, forever.ID, Change{At: now}, func(m *Memory) error {
		m.ExpiresAt = at(80 * time.Minute)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sweep(90*time.Minute, true, forever.ID) // the update brought it forward
	sweep(110*time.Minute, false)           // next: +2h
	imported := mk("imported", at(100*time.Minute))
	if err := s.ImportMemories(org.ID, []ExportRecord{{Mode: ModeLive, Memory: imported}}, Change{At: now}); err != nil {
		t.Fatal(err)
	}
	sweep(110*time.Minute, true, imported.ID)
	sweep(2*time.Hour, true, soon.ID)
	sweep(100*time.Hour, false)
}
