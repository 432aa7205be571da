// Package store keeps memoryd's truth in one bbolt file: orgs, API keys, memories and
// their history, idempotency records. Every tenant call takes the org (and mode) first,
// and each org's data lives under its own bucket, so no call can reach across orgs.
package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout this build writes. Opening a store written by a newer
// build is refused; an older one is migrated forward by migrations.
const SchemaVersion = 1

// Errors callers check with errors.Is.
var (
	ErrNotFound      = errors.New("store: not found")
	ErrOrgNotFound   = errors.New("store: org not found")
	ErrKeyNotFound   = errors.New("store: api key not found")
	ErrNewerSchema   = errors.New("store: data folder was written by a newer memoryd")
	ErrLocked        = errors.New("store: data folder is in use by another process")
	ErrIdemConflict  = errors.New("store: idempotency key reused with another request")
	ErrInvalidCursor = errors.New("store: invalid cursor")
)

// Mode separates an org's live data from its test-mode sandbox.
type Mode string

// The two modes. A mem_test_ key only ever sees ModeTest buckets.
const (
	ModeLive Mode = "live"
	ModeTest Mode = "test"
)

var (
	bucketMeta     = []byte("meta")
	bucketOrgs     = []byte("orgs")
	bucketKeyIndex = []byte("key_index")
	bucketTenants  = []byte("tenants")
	bucketKeys     = []byte("keys")
	bucketMemories = []byte("memories")
	bucketHistory  = []byte("history")
	bucketIdem     = []byte("idempotency")

	keySchema    = []byte("schema_version")
	keyKeySecret = []byte("key_secret")
)

// Store is the bbolt-backed store.
type Store struct {
	db        *bolt.DB
	keySecret []byte
	keyMACs   sync.Pool // of hash.Hash: HMAC-SHA256 under keySecret (see HashKey)
	now       func() time.Time
	// sl seals the records that hold customers' data; nil without a master key.
	sl *sealer
	// expiry tells PurgeExpired when a sweep can find anything (see expiry.go).
	expiry expiryHint
}

// Options tune Open.
type Options struct {
	// Timeout bounds the wait for the file lock; another process holding it fails Open.
	Timeout time.Duration
	// Now replaces the clock, for tests.
	Now func() time.Time
	// MasterKey (32 bytes) turns on encryption at rest; see crypto.go. A store that
	// is encrypted cannot be opened without it.
	MasterKey []byte
}

// migration moves a store from version i+1 to i+2 (migrations[0] upgrades 1 to 2).
type migration func(tx *bolt.Tx) error

// migrations is the forward path between schema versions; empty while there is one.
var migrations = []migration{}

// Open opens (creating if needed) the store in dataDir.
func Open(dataDir string, opt Options) (*Store, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if opt.Timeout == 0 {
		opt.Timeout = time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	db, err := bolt.Open(filepath.Join(dataDir, "memoryd.db"), 0o600, &bolt.Options{Timeout: opt.Timeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("store: open: %w", err)
	}
	s := &Store{db: db, now: opt.Now}
	if err := s.init(opt.MasterKey); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init(masterKey []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketOrgs, bucketKeyIndex, bucketTenants, bucketIdem} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		version := SchemaVersion
		if raw := meta.Get(keySchema); raw != nil {
			version = int(binary.BigEndian.Uint64(raw))
		}
		if err := migrate(tx, version, SchemaVersion, migrations); err != nil {
			return err
		}
		secret := meta.Get(keyKeySecret)
		if secret == nil {
			secret = make([]byte, 32)
			if _, err := rand.Read(secret); err != nil {
				return err
			}
			if err := meta.Put(keyKeySecret, secret); err != nil {
				return err
			}
		}
		s.keySecret = append([]byte(nil), secret...)
		sl, err := setupEncryption(tx, masterKey)
		s.sl = sl
		return err
	})
}

// Encrypted reports whether records are encrypted at rest.
func (s *Store) Encrypted() bool { return s.sl != nil }

// migrate runs steps[v-1] for each version v from stored up to target, in the caller's
// transaction, then stamps target: a failed step leaves the store as it was.
func migrate(tx *bolt.Tx, stored, target int, steps []migration) error {
	if stored > target {
		return fmt.Errorf("%w (schema %d, this build reads up to %d)", ErrNewerSchema, stored, target)
	}
	for v := stored; v < target; v++ {
		if err := steps[v-1](tx); err != nil {
			return fmt.Errorf("store: migrate schema %d to %d: %w", v, v+1, err)
		}
	}
	return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, uint64(target)))
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// KeySecret is the server secret API keys are hashed with (HMAC-SHA256).
func (s *Store) KeySecret() []byte { return s.keySecret }

// tenant returns the org's bucket, or ErrOrgNotFound.
func tenant(tx *bolt.Tx, orgID string) (*bolt.Bucket, error) {
	b := tx.Bucket(bucketTenants).Bucket([]byte(orgID))
	if b == nil {
		return nil, ErrOrgNotFound
	}
	return b, nil
}

// modeBucket returns the org's bucket of one mode, creating nothing.
func modeBucket(tx *bolt.Tx, orgID string, mode Mode) (*bolt.Bucket, error) {
	t, err := tenant(tx, orgID)
	if err != nil {
		return nil, err
	}
	b := t.Bucket([]byte(mode))
	if b == nil {
		return nil, ErrOrgNotFound
	}
	return b, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := marshalRecord(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	return true, json.Unmarshal(raw, v)
}

// Gauges reports bbolt's statistics and the file size, for /metrics.
func (s *Store) Gauges() map[string]float64 {
	st := s.db.Stats()
	size := 0.0
	_ = s.db.View(func(tx *bolt.Tx) error { size = float64(tx.Size()); return nil })
	return map[string]float64{
		"bbolt_file_bytes": size, "bbolt_free_pages": float64(st.FreePageN), "bbolt_pending_pages": float64(st.PendingPageN),
		"bbolt_read_transactions": float64(st.OpenTxN), "bbolt_tx_total": float64(st.TxN), "bbolt_writes_total": float64(st.TxStats.GetWrite()),
	}
}
