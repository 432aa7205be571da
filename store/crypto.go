package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Encryption at rest. Records that hold what customers' users said or did (memory
// text and metadata, history, embeddings, jobs' inputs and results, idempotency
// replays) are sealed with AES-256-GCM under a random data key. The data key is kept
// in the meta bucket wrapped (AES-256-GCM again) by a master key the operator holds
// outside the data folder. Keys, ids, scopes and counters stay plain so lookups and
// cursors work without decrypting. Rotating the master key re-wraps the data key
// only; the records are untouched.
//
// Embeddings are sealed too: the local embedder hashes words into the vector, so a
// vector would tell whether a memory contains a given word, and learned embeddings can
// be inverted into a close paraphrase of their text.

// MasterKeyLen is the length of a master key: AES-256.
const MasterKeyLen = 32

// Errors of encryption at rest.
var (
	ErrWrongMasterKey = errors.New("store: the master key does not unlock this data folder (wrong key?)")
	ErrNeedMasterKey  = errors.New("store: this data folder is encrypted: set encryption.master_key_file or MEMORYD_ENCRYPTION_MASTER_KEY")
	ErrNotEncrypted   = errors.New("store: this data folder is not encrypted")
	ErrBadMasterKey   = errors.New("store: a master key must be 32 bytes")
	ErrSealedRecord   = errors.New("store: an encrypted record does not decrypt")
)

var keyDataKey = []byte("data_key_wrapped")

// sealVersion starts every sealed record and the wrapped data key: the format, so a
// later build can change cipher without guessing.
const sealVersion = 1

// wrapAAD binds the wrapped data key to its purpose: a sealed record can never be
// passed off as a data key.
var wrapAAD = []byte("memoryd data key v1")

// sealer seals and opens records. A nil *sealer is a store without encryption:
// records pass through as they are.
type sealer struct {
	aead cipher.AEAD
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != MasterKeyLen {
		return nil, ErrBadMasterKey
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealWith encrypts plain as version | nonce | ciphertext+tag, authenticating aad.
func sealWith(aead cipher.AEAD, plain, aad []byte) ([]byte, error) {
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return aead.Seal(out, out[1:1+aead.NonceSize()], plain, aad), nil
}

func openWith(aead cipher.AEAD, raw, aad []byte) ([]byte, error) {
	ns := aead.NonceSize()
	if len(raw) < 1+ns+aead.Overhead() || raw[0] != sealVersion {
		return nil, ErrSealedRecord
	}
	plain, err := aead.Open(nil, raw[1:1+ns], raw[1+ns:], aad)
	if err != nil {
		return nil, ErrSealedRecord
	}
	return plain, nil
}

// looksSealed reports whether raw has a sealed record's envelope; without the key
// its tag cannot be checked.
func looksSealed(raw []byte) bool {
	return len(raw) >= 1+12+16 && raw[0] == sealVersion
}

// seal encrypts a record stored under key: the key is authenticated with it, so a
// record copied under another id does not decrypt.
func (sl *sealer) seal(key, plain []byte) ([]byte, error) {
	if sl == nil {
		return plain, nil
	}
	return sealWith(sl.aead, plain, key)
}

func (sl *sealer) open(key, raw []byte) ([]byte, error) {
	if sl == nil {
		return raw, nil
	}
	plain, err := openWith(sl.aead, raw, key)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", err, key)
	}
	return plain, nil
}

func (sl *sealer) putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := marshalRecord(v)
	if err != nil {
		return err
	}
	sealed, err := sl.seal(key, raw)
	if err != nil {
		return err
	}
	return b.Put(key, sealed)
}

func (sl *sealer) getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	return true, sl.unmarshal(key, raw, v)
}

func (sl *sealer) unmarshal(key, raw []byte, v any) error {
	plain, err := sl.open(key, raw)
	if err != nil {
		return err
	}
	return json.Unmarshal(plain, v)
}

// wrapDataKey seals the data key under the master key.
func wrapDataKey(master, dataKey []byte) ([]byte, error) {
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	return sealWith(aead, dataKey, wrapAAD)
}

// unwrapDataKey opens the wrapped data key. GCM's tag is the key check value: a wrong
// master key fails here, before any record is read, instead of serving garbage.
func unwrapDataKey(master, wrapped []byte) ([]byte, error) {
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	dk, err := openWith(aead, wrapped, wrapAAD)
	if err != nil || len(dk) != MasterKeyLen {
		return nil, ErrWrongMasterKey
	}
	return dk, nil
}

// setupEncryption runs inside Open's transaction: it unlocks an encrypted store,
// refuses one without its key, and encrypts a plain store the first time it is
// opened with a master key (every sealed record, in this one transaction: a failure
// leaves the store plain).
func setupEncryption(tx *bolt.Tx, master []byte) (*sealer, error) {
	meta := tx.Bucket(bucketMeta)
	wrapped := meta.Get(keyDataKey)
	switch {
	case wrapped == nil && master == nil:
		return nil, nil
	case wrapped != nil && master == nil:
		return nil, ErrNeedMasterKey
	case wrapped != nil:
		dk, err := unwrapDataKey(master, wrapped)
		if err != nil {
			return nil, err
		}
		aead, err := newAEAD(dk)
		if err != nil {
			return nil, err
		}
		return &sealer{aead: aead}, nil
	}
	dk := make([]byte, MasterKeyLen)
	if _, err := rand.Read(dk); err != nil {
		return nil, err
	}
	w, err := wrapDataKey(master, dk)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(dk)
	if err != nil {
		return nil, err
	}
	sl := &sealer{aead: aead}
	if err := forEachSealedBucket(tx, func(b *bolt.Bucket) error { return sealBucket(b, sl) }); err != nil {
		return nil, fmt.Errorf("store: encrypt existing records: %w", err)
	}
	if err := meta.Put(keyDataKey, w); err != nil {
		return nil, err
	}
	return sl, nil
}

// sealedBuckets are the per-mode buckets whose values are sealed.
var sealedBuckets = [][]byte{bucketMemories, bucketHistory, bucketVectors, bucketIdem, bucketJobs}

// forEachSealedBucket calls fn with every bucket whose records are sealed: the
// operator's idempotency records and, in every org and mode, sealedBuckets.
func forEachSealedBucket(tx *bolt.Tx, fn func(b *bolt.Bucket) error) error {
	if b := tx.Bucket(bucketIdem); b != nil {
		if err := fn(b); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketTenants).ForEachBucket(func(orgID []byte) error {
		t := tx.Bucket(bucketTenants).Bucket(orgID)
		if b := t.Bucket(bucketAudit); b != nil {
			if err := fn(b); err != nil {
				return err
			}
		}
		for _, mode := range []Mode{ModeLive, ModeTest} {
			mb := t.Bucket([]byte(mode))
			if mb == nil {
				continue
			}
			for _, name := range sealedBuckets {
				if b := mb.Bucket(name); b != nil {
					if err := fn(b); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// sealBucket encrypts every plain value of b in place.
func sealBucket(b *bolt.Bucket, sl *sealer) error {
	type kv struct{ k, v []byte }
	var all []kv
	err := b.ForEach(func(k, v []byte) error {
		if v != nil {
			all = append(all, kv{append([]byte(nil), k...), append([]byte(nil), v...)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range all {
		sealed, err := sl.seal(r.k, r.v)
		if err != nil {
			return err
		}
		if err := b.Put(r.k, sealed); err != nil {
			return err
		}
	}
	return nil
}

// Rekey re-wraps the data key of a stopped server's data folder from the old master
// key to the new one. Records are not touched, so it takes a moment whatever the size
// of the store; the old key stops working when it returns.
func Rekey(dataDir string, oldKey, newKey []byte) error {
	if len(oldKey) != MasterKeyLen || len(newKey) != MasterKeyLen {
		return ErrBadMasterKey
	}
	db, err := openBolt(filepath.Join(dataDir, FileName), false)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return ErrNotMemoryd
		}
		wrapped := meta.Get(keyDataKey)
		if wrapped == nil {
			return ErrNotEncrypted
		}
		dk, err := unwrapDataKey(oldKey, wrapped)
		if err != nil {
			return err
		}
		w, err := wrapDataKey(newKey, dk)
		if err != nil {
			return err
		}
		return meta.Put(keyDataKey, w)
	})
}
