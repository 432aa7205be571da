package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// seed creates an org with n live memories (and one test-mode memory) and returns it.
func seed(t *testing.T, s *Store, name string, n int, textSize int) Org {
	t.Helper()
	org, _, _, err := s.CreateOrgWithAdminKey(name, "free")
	if err != nil {
		t.Fatal(err)
	}
	ch := Change{At: time.Now().UTC(), Source: "api"}
	for i := 0; i < n; i += 100 {
		var batch []Memory
		for j := i; j < n && j < i+100; j++ {
			batch = append(batch, newMemory(fmt.Sprintf("%s memory %d %s", name, j, strings.Repeat("x", textSize))))
		}
		if err := s.CreateMemories(org.ID, ModeLive, batch, ch); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateMemories(org.ID, ModeTest, []Memory{newMemory("sandbox")}, ch); err != nil {
		t.Fatal(err)
	}
	return org
}

func newMemory(text string) Memory {
	now := time.Now().UTC()
	return Memory{ID: NewID("mem_"), Text: text, CreatedAt: now, UpdatedAt: now, Version: 1}
}

// backupTo writes a hot backup of s to a file in a new temp folder.
func backupTo(t *testing.T, s *Store) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Backup(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(path); info.Size() != n {
		t.Fatalf("Backup reported %d bytes, wrote %d", n, info.Size())
	}
	return path
}

// A hot backup taken while writers keep committing is a consistent snapshot: it
// verifies, restores, and every memory it holds has its ADD event.
func TestBackupWhileWriting(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	org := seed(t, s, "acme", 200, 200)

	var stop atomic.Bool
	var written atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch := Change{Source: "api"}
			for !stop.Load() {
				ch.At = time.Now().UTC()
				batch := []Memory{newMemory("during backup " + strings.Repeat("y", 500)), newMemory("and another")}
				if err := s.CreateMemories(org.ID, ModeLive, batch, ch); err != nil {
					t.Error(err)
					return
				}
				written.Add(2)
			}
		}()
	}
	// Let the writers get going, then take backups in the middle of their stream.
	for written.Load() < 50 {
		time.Sleep(time.Millisecond)
	}
	var paths []string
	for i := 0; i < 3; i++ {
		paths = append(paths, backupTo(t, s))
	}
	stop.Store(true)
	wg.Wait()

	prev := 0
	for _, path := range paths {
		rep, err := Verify(path)
		if err != nil {
			t.Fatalf("verify hot backup: %v", err)
		}
		if rep.Orgs != 1 || rep.Keys != 1 || rep.MemoriesTest != 1 {
			t.Fatalf("report %+v", rep)
		}
		if rep.MemoriesLive < 200+50 || rep.MemoriesLive < prev {
			t.Fatalf("backup holds %d live memories, want at least %d and %d", rep.MemoriesLive, 250, prev)
		}
		// One ADD per memory: a torn copy would have one without the other.
		if rep.HistoryEvents != rep.MemoriesLive+rep.MemoriesTest {
			t.Fatalf("history %d for %d memories", rep.HistoryEvents, rep.MemoriesLive+rep.MemoriesTest)
		}
		prev = rep.MemoriesLive
	}

	dir := t.TempDir()
	if _, err := Restore(paths[len(paths)-1], dir); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n, err := r.CountMemories(org.ID, ModeLive)
	if err != nil || n != prev {
		t.Fatalf("restored store counts %d memories (%v), backup had %d", n, err, prev)
	}
	if !bytes.Equal(r.KeySecret(), s.KeySecret()) {
		t.Fatal("restored store has another key secret: every API key would fail")
	}
}

// Restore goes into an empty folder only, and a damaged backup writes nothing.
func TestRestoreRefuses(t *testing.T) {
	s, _ := openTemp(t)
	seed(t, s, "acme", 10, 10)
	good := backupTo(t, s)
	s.Close()

	t.Run("folder holding a store", func(t *testing.T) {
		other, dir := openTemp(t)
		seed(t, other, "other", 3, 10)
		other.Close()
		before, _ := os.ReadFile(filepath.Join(dir, FileName))
		if _, err := Restore(good, dir); !errors.Is(err, ErrTargetInUse) {
			t.Fatalf("restore over a store: %v", err)
		}
		after, _ := os.ReadFile(filepath.Join(dir, FileName))
		if !bytes.Equal(before, after) {
			t.Fatal("refused restore changed the existing store")
		}
		assertOnlyFiles(t, dir, FileName)
	})
	t.Run("damaged backup", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.db")
		raw, _ := os.ReadFile(good)
		os.WriteFile(bad, raw[:len(raw)/2], 0o600)
		dir := filepath.Join(t.TempDir(), "data")
		if _, err := Restore(bad, dir); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("restore of a truncated backup: %v", err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("restore of a damaged backup created the data folder")
		}
	})
	t.Run("empty folder", func(t *testing.T) {
		dir := t.TempDir()
		rep, err := Restore(good, dir)
		if err != nil || rep.MemoriesLive != 10 {
			t.Fatalf("restore: %+v %v", rep, err)
		}
		assertOnlyFiles(t, dir, FileName)
		if info, _ := os.Stat(filepath.Join(dir, FileName)); info.Mode().Perm() != 0o600 {
			t.Fatalf("restored file mode %v", info.Mode())
		}
	})
}

func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("%s holds %v, want %v", dir, got, names)
	}
}

// Verify counts a good file and refuses every kind of damaged or foreign one.
func TestVerify(t *testing.T) {
	s, _ := openTemp(t)
	org := seed(t, s, "acme", 300, 300)
	if err := s.DeleteMemory(org.ID, ModeLive, mustFirstMemory(t, s, org.ID), Change{At: time.Now(), Source: "api"}); err != nil {
		t.Fatal(err)
	}
	seed(t, s, "globex", 5, 10)
	good := backupTo(t, s)
	s.Close()

	rep, err := Verify(good)
	if err != nil {
		t.Fatal(err)
	}
	want := VerifyReport{SchemaVersion: SchemaVersion, Orgs: 2, Keys: 2, MemoriesLive: 304, MemoriesTest: 2, HistoryEvents: 300 + 1 + 5 + 2}
	if rep.SchemaVersion != want.SchemaVersion || rep.Orgs != want.Orgs || rep.Keys != want.Keys ||
		rep.MemoriesLive != want.MemoriesLive || rep.MemoriesTest != want.MemoriesTest || rep.HistoryEvents != want.HistoryEvents {
		t.Fatalf("report %+v, want %+v", rep, want)
	}
	if info, _ := os.Stat(good); rep.SizeBytes != info.Size() || rep.Records <= rep.MemoriesLive+rep.HistoryEvents {
		t.Fatalf("report size %d records %d", rep.SizeBytes, rep.Records)
	}

	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		make func(t *testing.T, path string)
		want error
	}{
		{"truncated", func(t *testing.T, p string) { os.WriteFile(p, raw[:len(raw)*2/3], 0o600) }, ErrCorrupt},
		{"cut inside the meta pages", func(t *testing.T, p string) { os.WriteFile(p, raw[:5000], 0o600) }, ErrCorrupt},
		{"empty", func(t *testing.T, p string) { os.WriteFile(p, nil, 0o600) }, ErrCorrupt},
		{"garbage", func(t *testing.T, p string) { os.WriteFile(p, bytes.Repeat([]byte("memoryd!"), 8192), 0o600) }, ErrCorrupt},
		{"zeroed leaf page", func(t *testing.T, p string) {
			os.WriteFile(p, clobberPage(t, good, raw, "leaf"), 0o600)
		}, ErrCorrupt},
		{"zeroed branch page", func(t *testing.T, p string) {
			os.WriteFile(p, clobberPage(t, good, raw, "branch"), 0o600)
		}, ErrCorrupt},
		{"damaged record", func(t *testing.T, p string) {
			// One byte of a stored memory turned into a control character, in place.
			i := bytes.Index(raw, []byte(`"text":"acme memory 7 `))
			out := bytes.Clone(raw)
			out[i+len(`"text":"acme memory 7`)] = 0
			os.WriteFile(p, out, 0o600)
		}, ErrCorrupt},
		{"another bbolt file", func(t *testing.T, p string) {
			db, err := bolt.Open(p, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("widgets")); return err })
			db.Close()
		}, ErrNotMemoryd},
		{"newer schema", func(t *testing.T, p string) {
			os.WriteFile(p, raw, 0o600)
			db, err := bolt.Open(p, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, SchemaVersion+1))
			})
			db.Close()
		}, ErrNewerSchema},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "copy.db")
			tt.make(t, path)
			if _, err := Verify(path); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Verify(filepath.Join(t.TempDir(), "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Verify of a missing file = %v", err)
	}
}

func mustFirstMemory(t *testing.T, s *Store, orgID string) string {
	t.Helper()
	mems, _, err := s.ListMemories(orgID, ModeLive, Scope{}, "", 1)
	if err != nil || len(mems) != 1 {
		t.Fatalf("list: %v", err)
	}
	return mems[0].ID
}

// clobberPage returns raw with the last in-use page of the kind zeroed out.
func clobberPage(t *testing.T, path string, raw []byte, kind string) []byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	size := db.Info().PageSize
	id := -1
	db.View(func(tx *bolt.Tx) error {
		for i := 2; int64(i*size) < tx.Size(); i++ {
			if p, err := tx.Page(i); err == nil && p != nil && p.Type == kind {
				id = i
			}
		}
		return nil
	})
	if id < 0 {
		t.Fatalf("no %s page", kind)
	}
	out := bytes.Clone(raw)
	clear(out[id*size : (id+1)*size])
	return out
}

// Compact keeps every record (bucket sequences too) and gives back the space deletes
// freed; it refuses a store that is open elsewhere.
func TestCompact(t *testing.T) {
	s, dir := openTemp(t)
	keep := seed(t, s, "keep", 200, 100)
	doomed := seed(t, s, "doomed", 1500, 1000)
	victim := mustFirstMemory(t, s, keep.ID)
	if err := s.DeleteMemory(keep.ID, ModeLive, victim, Change{At: time.Now(), Source: "api"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Compact(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("compact beside an open store: %v", err)
	}
	if err := s.DeleteOrg(doomed.ID); err != nil {
		t.Fatal(err)
	}
	var histSeq uint64
	s.db.View(func(tx *bolt.Tx) error {
		_, hist, _ := memoryBuckets(tx, keep.ID, ModeLive)
		histSeq = hist.Sequence()
		return nil
	})
	s.Close()
	before, err := Verify(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}

	res, err := Compact(dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.SizeBefore != before.SizeBytes || res.SizeAfter*3 > res.SizeBefore {
		t.Fatalf("compact %d -> %d bytes: want at least a third off", res.SizeBefore, res.SizeAfter)
	}
	if !sameRecords(before, res.Report) || res.Report.MemoriesLive != 199 || res.Report.Orgs != 1 {
		t.Fatalf("before %+v, after %+v", before, res.Report)
	}
	assertOnlyFiles(t, dir, FileName)
	if info, _ := os.Stat(filepath.Join(dir, FileName)); info.Size() != res.SizeAfter {
		t.Fatalf("file is %d bytes, result says %d", info.Size(), res.SizeAfter)
	}

	r, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n, err := r.CountMemories(keep.ID, ModeLive)
	if err != nil || n != 199 {
		t.Fatalf("compacted store counts %d memories (%v)", n, err)
	}
	if ev, err := r.History(keep.ID, ModeLive, victim); err != nil || len(ev) != 2 || ev[1].Event != "DELETE" {
		t.Fatalf("history of a deleted memory: %+v %v", ev, err)
	}
	// History keys come from the bucket sequence: a reset one would reuse old keys.
	r.db.View(func(tx *bolt.Tx) error {
		_, hist, _ := memoryBuckets(tx, keep.ID, ModeLive)
		if hist.Sequence() != histSeq {
			t.Errorf("history sequence %d after compaction, was %d", hist.Sequence(), histSeq)
		}
		return nil
	})
}

func TestCompactWithoutStore(t *testing.T) {
	if _, err := Compact(t.TempDir()); !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("compact of an empty folder: %v", err)
	}
}

// An offline backup is refused beside a running store, and otherwise writes a
// verified copy without leaving temporary files.
func TestBackupFile(t *testing.T) {
	s, dir := openTemp(t)
	seed(t, s, "acme", 20, 10)
	outDir := t.TempDir()
	out := filepath.Join(outDir, "memoryd.backup")
	if _, err := BackupFile(dir, out); !errors.Is(err, ErrLocked) {
		t.Fatalf("offline backup beside an open store: %v", err)
	}
	assertOnlyFiles(t, outDir)
	s.Close()

	rep, err := BackupFile(dir, out)
	if err != nil || rep.MemoriesLive != 20 || rep.Orgs != 1 {
		t.Fatalf("backup: %+v %v", rep, err)
	}
	assertOnlyFiles(t, outDir, "memoryd.backup")
	if again, err := Verify(out); err != nil || again != rep {
		t.Fatalf("verify the written file: %+v %v", again, err)
	}
	if _, err := BackupFile(t.TempDir(), out); !errors.Is(err, ErrNoDatabase) {
		t.Fatalf("backup of an empty folder: %v", err)
	}
}

// WriteVerified leaves the previous file in place when the new content is damaged.
func TestWriteVerifiedKeepsOldFileOnFailure(t *testing.T) {
	s, _ := openTemp(t)
	seed(t, s, "acme", 5, 10)
	dir := t.TempDir()
	out := filepath.Join(dir, "b.db")
	if _, err := WriteVerified(out, func(w io.Writer) error { _, err := s.Backup(w); return err }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	old, _ := os.ReadFile(out)
	_, err := WriteVerified(out, func(w io.Writer) error { _, err := w.Write(old[:len(old)/2]); return err })
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("write of a truncated copy: %v", err)
	}
	now, _ := os.ReadFile(out)
	if !bytes.Equal(old, now) {
		t.Fatal("a failed write replaced the previous file")
	}
	assertOnlyFiles(t, dir, "b.db")
}
