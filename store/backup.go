package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the store's file inside a data folder.
const FileName = "memoryd.db"

// Errors of the backup, restore, verify and compact operations.
var (
	ErrCorrupt      = errors.New("store: database file is damaged")
	ErrNotMemoryd   = errors.New("store: file is not a memoryd database")
	ErrNoDatabase   = errors.New("store: data folder holds no memoryd.db")
	ErrTargetInUse  = errors.New("store: data folder already holds a memoryd.db")
	ErrCountsDiffer = errors.New("store: compacted copy does not hold the same records")
)

// lockTimeout bounds the wait for another process's file lock. A running server never
// lets go of it, so waiting longer would only delay the "stop it first" answer.
const lockTimeout = time.Second

// compactTxMaxSize is how many bytes bbolt.Compact copies per write transaction: big
// enough to keep commits few, small enough to keep memory flat on a large store.
const compactTxMaxSize = 16 << 20

// VerifyReport is what Verify found in a database file.
type VerifyReport struct {
	SchemaVersion      int   `json:"schema_version"`
	SizeBytes          int64 `json:"size_bytes"`
	Orgs               int   `json:"orgs"`
	Keys               int   `json:"keys"`
	MemoriesLive       int   `json:"memories_live"`
	MemoriesTest       int   `json:"memories_test"`
	HistoryEvents      int   `json:"history_events"`
	IdempotencyRecords int   `json:"idempotency_records"`
	// Records counts every key in every bucket, whatever the layout: compaction must
	// keep this number too, including buckets added after this code was written.
	Records int `json:"records_total"`
}

// CompactResult says what Compact did.
type CompactResult struct {
	SizeBefore int64        `json:"size_before"`
	SizeAfter  int64        `json:"size_after"`
	Report     VerifyReport `json:"report"`
}

// Backup streams a consistent copy of the whole database to w from one read
// transaction, so the server keeps serving reads and writes meanwhile. While it runs, a
// write that needs to grow the file waits for it (bbolt cannot remap under a reader).
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("store: backup: %w", err)
	}
	return n, nil
}

// BackupFile copies the store of a stopped server's data folder to out, and verifies
// the copy before it replaces out, so out is never a half-written or damaged file.
func BackupFile(dataDir, out string) (VerifyReport, error) {
	path := filepath.Join(dataDir, FileName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return VerifyReport{}, fmt.Errorf("%w: %s", ErrNoDatabase, dataDir)
	}
	// Read-only takes a shared lock: it cannot change the file, and a server holding
	// the exclusive lock makes it fail with ErrLocked instead of copying a moving file.
	db, err := openBolt(path, true)
	if err != nil {
		return VerifyReport{}, err
	}
	defer db.Close()
	return WriteVerified(out, func(w io.Writer) error {
		return db.View(func(tx *bolt.Tx) error {
			_, err := tx.WriteTo(w)
			return err
		})
	})
}

// WriteVerified writes a database file to path through fill: into a temporary file in
// the same folder, synced, verified, then renamed over path. A failure at any step
// leaves path as it was and removes the temporary file.
func WriteVerified(path string, fill func(w io.Writer) error) (VerifyReport, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return VerifyReport{}, fmt.Errorf("store: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := fill(tmp); err != nil {
		return VerifyReport{}, err
	}
	if err := tmp.Sync(); err != nil {
		return VerifyReport{}, fmt.Errorf("store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return VerifyReport{}, fmt.Errorf("store: %w", err)
	}
	rep, err := Verify(tmp.Name())
	if err != nil {
		return rep, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return rep, fmt.Errorf("store: %w", err)
	}
	done = true
	return rep, syncDir(dir)
}

// Restore puts the backup in into dataDir, which must not hold a store yet: restoring
// over live data would silently throw it away. The backup is verified before anything
// is written, and the copy again before it takes the store's name.
func Restore(in, dataDir string) (VerifyReport, error) {
	if _, err := Verify(in); err != nil {
		return VerifyReport{}, err
	}
	dst := filepath.Join(dataDir, FileName)
	if _, err := os.Lstat(dst); err == nil {
		return VerifyReport{}, fmt.Errorf("%w: %s", ErrTargetInUse, dataDir)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return VerifyReport{}, fmt.Errorf("store: %w", err)
	}
	src, err := os.Open(in)
	if err != nil {
		return VerifyReport{}, fmt.Errorf("store: %w", err)
	}
	defer src.Close()

	tmp, err := os.CreateTemp(dataDir, "."+FileName+".restore-*")
	if err != nil {
		return VerifyReport{}, fmt.Errorf("store: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return VerifyReport{}, fmt.Errorf("store: restore: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return VerifyReport{}, fmt.Errorf("store: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return VerifyReport{}, fmt.Errorf("store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return VerifyReport{}, fmt.Errorf("store: %w", err)
	}
	rep, err := Verify(tmp.Name())
	if err != nil {
		return rep, err
	}
	// A hard link, unlike rename, fails when the name exists: a server or another
	// restore that created memoryd.db meanwhile is never overwritten.
	if err := os.Link(tmp.Name(), dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return rep, fmt.Errorf("%w: %s", ErrTargetInUse, dataDir)
		}
		return rep, fmt.Errorf("store: restore: %w", err)
	}
	return rep, syncDir(dataDir)
}

// Verify opens the database file at path read-only, runs bbolt's consistency check,
// checks the layout is a memoryd store this build can read, and counts its records.
// Every stored record must also be well-formed JSON: bbolt checks its pages, not the
// values in them.
func Verify(path string) (VerifyReport, error) {
	info, err := os.Stat(path)
	if err != nil {
		return VerifyReport{}, fmt.Errorf("store: %w", err)
	}
	if info.Size() == 0 {
		return VerifyReport{SizeBytes: 0}, fmt.Errorf("%w: empty file", ErrCorrupt)
	}
	db, err := openBolt(path, true)
	if err != nil {
		return VerifyReport{SizeBytes: info.Size()}, err
	}
	defer db.Close()
	return verifyOpen(db, info.Size())
}

// verifyOpen verifies an open database whose file is size bytes long.
func verifyOpen(db *bolt.DB, size int64) (rep VerifyReport, err error) {
	rep.SizeBytes = size
	// Counting walks the pages in this goroutine: on a damaged file bbolt may panic,
	// or fault on a page it maps; either means the file is damaged, not that the
	// process should die.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, p)
		}
	}()
	err = db.View(func(tx *bolt.Tx) error {
		// Pages past the end of the file would fault when read (bbolt's own check
		// runs in a goroutine of its own that we cannot guard): a truncated copy is
		// caught here, before any page walk touches them.
		if tx.Size() > size {
			return fmt.Errorf("%w: truncated (%d of %d bytes)", ErrCorrupt, size, tx.Size())
		}
		var first error
		// Drain every report: the checker's goroutine blocks until each is read.
		for cerr := range tx.Check() {
			if first == nil {
				first = fmt.Errorf("%w: %v", ErrCorrupt, cerr)
			}
		}
		if first != nil {
			return first
		}
		n, err := countAll(tx)
		if err != nil {
			return err
		}
		rep.Records = n
		return countRecords(tx, &rep)
	})
	return rep, err
}

// countRecords checks the bucket layout (store.go, orgs.go) and fills the counts.
func countRecords(tx *bolt.Tx, rep *VerifyReport) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return fmt.Errorf("%w: no %s bucket", ErrNotMemoryd, bucketMeta)
	}
	raw := meta.Get(keySchema)
	if len(raw) != 8 {
		return fmt.Errorf("%w: no schema version", ErrNotMemoryd)
	}
	rep.SchemaVersion = int(binary.BigEndian.Uint64(raw))
	if rep.SchemaVersion > SchemaVersion {
		return fmt.Errorf("%w (schema %d, this build reads up to %d)", ErrNewerSchema, rep.SchemaVersion, SchemaVersion)
	}
	if len(meta.Get(keyKeySecret)) == 0 {
		return fmt.Errorf("%w: no key secret, API keys could not be checked", ErrCorrupt)
	}
	// An encrypted store's sealed records are checked for their envelope: their
	// authenticity needs the master key, which verify does not ask for.
	sealed := meta.Get(keyDataKey) != nil
	orgs, tenants, keyIndex := tx.Bucket(bucketOrgs), tx.Bucket(bucketTenants), tx.Bucket(bucketKeyIndex)
	if orgs == nil || tenants == nil || keyIndex == nil {
		return fmt.Errorf("%w: missing top-level buckets", ErrNotMemoryd)
	}
	if b := tx.Bucket(bucketIdem); b != nil {
		n, err := countSealed(b, "operator idempotency", sealed)
		if err != nil {
			return err
		}
		rep.IdempotencyRecords += n
	}
	return orgs.ForEach(func(id, v []byte) error {
		var org Org
		if err := json.Unmarshal(v, &org); err != nil || org.ID != string(id) {
			return fmt.Errorf("%w: org record %q is unreadable", ErrCorrupt, id)
		}
		rep.Orgs++
		t := tenants.Bucket(id)
		if t == nil || t.Bucket(bucketKeys) == nil {
			return fmt.Errorf("%w: org %s has no data buckets", ErrCorrupt, id)
		}
		n, err := countJSON(t.Bucket(bucketKeys), "org "+string(id)+" keys")
		if err != nil {
			return err
		}
		rep.Keys += n
		for _, mode := range []Mode{ModeLive, ModeTest} {
			mb := t.Bucket([]byte(mode))
			if mb == nil || mb.Bucket(bucketMemories) == nil || mb.Bucket(bucketHistory) == nil || mb.Bucket(bucketIdem) == nil {
				return fmt.Errorf("%w: org %s has no %s buckets", ErrCorrupt, id, mode)
			}
			where := "org " + string(id) + " " + string(mode)
			mems, err := countSealed(mb.Bucket(bucketMemories), where+" memories", sealed)
			if err != nil {
				return err
			}
			hist, err := countSealed(mb.Bucket(bucketHistory), where+" history", sealed)
			if err != nil {
				return err
			}
			idem, err := countSealed(mb.Bucket(bucketIdem), where+" idempotency", sealed)
			if err != nil {
				return err
			}
			if mode == ModeLive {
				rep.MemoriesLive += mems
			} else {
				rep.MemoriesTest += mems
			}
			rep.HistoryEvents += hist
			rep.IdempotencyRecords += idem
		}
		return nil
	})
}

// countAll counts the keys of every bucket in the file, nested ones included.
func countAll(tx *bolt.Tx) (int, error) {
	n := 0
	var walk func(b *bolt.Bucket) error
	walk = func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			n++
			if v == nil {
				return walk(b.Bucket(k))
			}
			return nil
		})
	}
	err := tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
		n++
		return walk(b)
	})
	return n, err
}

// countSealed counts a bucket of records that are sealed in an encrypted store (each
// must have a sealed record's envelope) and JSON documents in a plain one.
func countSealed(b *bolt.Bucket, what string, sealed bool) (int, error) {
	if !sealed {
		return countJSON(b, what)
	}
	n := 0
	err := b.ForEach(func(k, v []byte) error {
		if v == nil || !looksSealed(v) {
			return fmt.Errorf("%w: %s: record %q is not an encrypted record", ErrCorrupt, what, k)
		}
		n++
		return nil
	})
	return n, err
}

// countJSON counts a bucket's records, each of which must be a JSON document.
func countJSON(b *bolt.Bucket, what string) (int, error) {
	n := 0
	err := b.ForEach(func(k, v []byte) error {
		if v == nil || !json.Valid(v) {
			return fmt.Errorf("%w: %s: record %q is not valid JSON", ErrCorrupt, what, k)
		}
		n++
		return nil
	})
	return n, err
}

// Compact rewrites the store of a stopped server's data folder without the free pages
// that deletes leave behind. The compacted copy is verified and must hold exactly the
// records of the original before it takes its place; the original stays as
// memoryd.db.bak until the swap has succeeded.
func Compact(dataDir string) (CompactResult, error) {
	path := filepath.Join(dataDir, FileName)
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return CompactResult{}, fmt.Errorf("%w: %s", ErrNoDatabase, dataDir)
	}
	if err != nil {
		return CompactResult{}, fmt.Errorf("store: %w", err)
	}
	res := CompactResult{SizeBefore: info.Size()}

	// The exclusive lock, held until the swap is done, keeps a server from starting
	// on the file being copied and refuses to run beside one that is serving.
	src, err := openBolt(path, false)
	if err != nil {
		return res, err
	}
	defer src.Close()
	before, err := verifyOpen(src, info.Size())
	if err != nil {
		return res, err
	}

	next := path + ".compact"
	bak := path + ".bak"
	if err := os.Remove(next); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("store: %w", err)
	}
	defer os.Remove(next)
	// Syncing once at the end instead of on every commit is safe: the copy is not
	// used until it has been synced and verified.
	dst, err := bolt.Open(next, 0o600, &bolt.Options{Timeout: lockTimeout, NoSync: true})
	if err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	if err := bolt.Compact(dst, src, compactTxMaxSize); err != nil {
		dst.Close()
		return res, fmt.Errorf("store: compact: %w", err)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return res, fmt.Errorf("store: compact: %w", err)
	}
	if err := dst.Close(); err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	after, err := Verify(next)
	if err != nil {
		return res, fmt.Errorf("store: compacted copy: %w", err)
	}
	if sameRecords(before, after) {
		res.Report, res.SizeAfter = after, after.SizeBytes
	} else {
		return res, fmt.Errorf("%w: before %+v, after %+v", ErrCountsDiffer, before, after)
	}

	if err := os.Remove(bak); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("store: %w", err)
	}
	if runtime.GOOS == "windows" {
		// Windows cannot rename a file that is open. Elsewhere the lock is held
		// through the swap, so no server can start on the file being replaced.
		src.Close()
	}
	if err := os.Rename(path, bak); err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	if err := os.Rename(next, path); err != nil {
		// Put the original back: a data folder without memoryd.db would start empty.
		if rerr := os.Rename(bak, path); rerr != nil {
			return res, fmt.Errorf("store: compact: %w; the original is kept as %s: %v", err, bak, rerr)
		}
		return res, fmt.Errorf("store: compact: %w", err)
	}
	if err := syncDir(dataDir); err != nil {
		return res, err
	}
	if err := os.Remove(bak); err != nil {
		return res, fmt.Errorf("store: compact done, but %s was not removed: %w", bak, err)
	}
	return res, nil
}

func sameRecords(a, b VerifyReport) bool {
	a.SizeBytes, b.SizeBytes = 0, 0
	return a == b
}

// openBolt opens a database file without creating it, mapping bbolt's failures onto
// the store's errors: a held lock is ErrLocked, an unreadable file ErrCorrupt.
func openBolt(path string, readOnly bool) (*bolt.DB, error) {
	f, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if f.IsDir() {
		return nil, fmt.Errorf("store: %s is a folder, not a database file", path)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, ReadOnly: readOnly})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, ErrLocked
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("store: %w", err)
	default:
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer d.Close()
	// Some systems (Windows) cannot sync a folder; the rename is as durable as they
	// make it.
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}
