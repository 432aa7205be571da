package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"
)

// Each memory's embedding is stored beside it, with the model that made it, so the
// index is rebuilt on start without embedding again and a model change is detectable.

var (
	bucketVectors = []byte("vectors")
	keyWriteSeq   = []byte("write_seq")
)

// ErrBadVector is returned for a stored vector that does not decode.
var ErrBadVector = errors.New("store: stored vector is damaged")

func encodeVector(model string, vec []float32) []byte {
	b := make([]byte, 0, 1+len(model)+4+4*len(vec))
	b = append(b, byte(len(model)))
	b = append(b, model...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vec)))
	for _, f := range vec {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

func decodeVector(b []byte) (string, []float32, error) {
	if len(b) < 1 || len(b) < 1+int(b[0])+4 {
		return "", nil, ErrBadVector
	}
	model := string(b[1 : 1+b[0]])
	b = b[1+int(b[0]):]
	n := int(binary.LittleEndian.Uint32(b))
	b = b[4:]
	if len(b) != 4*n {
		return "", nil, ErrBadVector
	}
	vec := make([]float32, n)
	for i := range vec {
		vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return model, vec, nil
}

// putVector stores m's vector, if it carries one, inside the write's transaction.
func putVector(sl *sealer, mb *bolt.Bucket, m *Memory) error {
	if len(m.Vector) == 0 {
		return nil
	}
	b, err := mb.CreateBucketIfNotExists(bucketVectors)
	if err != nil {
		return err
	}
	if len(m.VectorModel) > 255 {
		return fmt.Errorf("store: model name %q too long", m.VectorModel)
	}
	raw, err := sl.seal([]byte(m.ID), encodeVector(m.VectorModel, m.Vector))
	if err != nil {
		return err
	}
	return b.Put([]byte(m.ID), raw)
}

func deleteVector(mb *bolt.Bucket, id string) error {
	if b := mb.Bucket(bucketVectors); b != nil {
		return b.Delete([]byte(id))
	}
	return nil
}

// bumpSeq counts the tenant's writes: a derived index snapshot records the count it
// matches, and one that differs from the store's is stale.
func bumpSeq(mb *bolt.Bucket) error {
	st, err := mb.CreateBucketIfNotExists(bucketStats)
	if err != nil {
		return err
	}
	var n uint64
	if raw := st.Get(keyWriteSeq); len(raw) == 8 {
		n = binary.BigEndian.Uint64(raw)
	}
	return st.Put(keyWriteSeq, binary.BigEndian.AppendUint64(nil, n+1))
}

func writeSeq(mb *bolt.Bucket) uint64 {
	if st := mb.Bucket(bucketStats); st != nil {
		if raw := st.Get(keyWriteSeq); len(raw) == 8 {
			return binary.BigEndian.Uint64(raw)
		}
	}
	return 0
}

// TenantRef names one org and mode.
type TenantRef struct {
	OrgID string
	Mode  Mode
}

// Tenants lists every org and mode; the engine loads their indexes on start.
func (s *Store) Tenants() ([]TenantRef, error) {
	var out []TenantRef
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTenants).ForEachBucket(func(orgID []byte) error {
			out = append(out, TenantRef{string(orgID), ModeLive}, TenantRef{string(orgID), ModeTest})
			return nil
		})
	})
	return out, err
}

// ScanIndexed calls fn with every unexpired memory of the tenant, its vector and the
// vector's model ("" and nil when it has none), in one read transaction, and returns
// the tenant's write count at that point.
func (s *Store) ScanIndexed(orgID string, mode Mode, fn func(m *Memory, model string, vec []float32) error) (uint64, error) {
	var seq uint64
	now := s.now()
	err := s.db.View(func(tx *bolt.Tx) error {
		mb, err := modeBucket(tx, orgID, mode)
		if err != nil {
			return err
		}
		seq = writeSeq(mb)
		vecs := mb.Bucket(bucketVectors)
		return mb.Bucket(bucketMemories).ForEach(func(k, v []byte) error {
			var m Memory
			if err := s.sl.unmarshal(k, v, &m); err != nil {
				return err
			}
			if m.Expired(now) {
				return nil
			}
			var model string
			var vec []float32
			if vecs != nil {
				if raw := vecs.Get(k); raw != nil {
					if raw, err = s.sl.open(k, raw); err != nil {
						return err
					}
					if model, vec, err = decodeVector(raw); err != nil {
						return fmt.Errorf("%w: %s", err, k)
					}
				}
			}
			return fn(&m, model, vec)
		})
	})
	return seq, err
}

// WriteSeq returns the tenant's write count.
func (s *Store) WriteSeq(orgID string, mode Mode) (uint64, error) {
	var seq uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		mb, err := modeBucket(tx, orgID, mode)
		if err != nil {
			return err
		}
		seq = writeSeq(mb)
		return nil
	})
	return seq, err
}

// SetVectors replaces the vectors of existing memories (a re-embedding), skipping ids
// deleted since, and returns how many it stored.
func (s *Store) SetVectors(orgID string, mode Mode, model string, vecs map[string][]float32) (int, error) {
	n := 0
	err := s.db.Batch(func(tx *bolt.Tx) error {
		n = 0
		mb, err := modeBucket(tx, orgID, mode)
		if err != nil {
			return err
		}
		mems := mb.Bucket(bucketMemories)
		for id, vec := range vecs {
			if mems.Get([]byte(id)) == nil {
				continue
			}
			if err := putVector(s.sl, mb, &Memory{ID: id, Vector: vec, VectorModel: model}); err != nil {
				return err
			}
			n++
		}
		if n > 0 {
			return bumpSeq(mb)
		}
		return nil
	})
	return n, err
}
