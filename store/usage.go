package store

import (
	"encoding/binary"
	"errors"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrQuotaStored is returned when a write would take the tenant past its cap on stored
// memories; nothing is written.
var ErrQuotaStored = errors.New("store: memories_stored quota reached")

var (
	bucketUsage   = []byte("usage")   // per mode: events, by time-ordered id
	bucketRollups = []byte("rollups") // per mode: counters by granularity, dimension and time
	bucketStats   = []byte("stats")   // per mode: gauges kept in the write transactions
	keyStored     = []byte("memories_stored")
)

// UsageEvent is the work one request did: what customers are billed from.
type UsageEvent struct {
	ID              string `json:"id"`
	OrgID           string `json:"org_id"`
	Mode            Mode   `json:"mode"`
	KeyID           string `json:"key_id"`
	Endpoint        string `json:"endpoint"` // the route, e.g. "POST /v1/memories"
	Status          int    `json:"status"`
	TokensIn        int64  `json:"tokens_in"`
	TokensOut       int64  `json:"tokens_out"`
	MemoriesRead    int64  `json:"memories_read"`
	MemoriesWritten int64  `json:"memories_written"`
	Embeddings      int64  `json:"embeddings"`
	ModelCalls      int64  `json:"model_calls"`
	CostMicros      int64  `json:"cost_micros"` // internal cost (model calls), micro-USD
	// PrefilterTokensSaved estimates the prompt tokens retrieval kept away from the
	// request's model calls (an operator metric, never billed).
	PrefilterTokensSaved int64     `json:"prefilter_tokens_saved,omitempty"`
	RequestID            string    `json:"request_id"`
	DurationMS           float64   `json:"duration_ms"`
	At                   time.Time `json:"at"`
	// Job marks the work of a background job: metered, but not an API call.
	Job bool `json:"job,omitempty"`
}

// UsageCounters are summed usage: a rollup row, a period's totals.
type UsageCounters struct {
	APICalls        int64 `json:"api_calls"`
	TokensIn        int64 `json:"tokens_in"`
	TokensOut       int64 `json:"tokens_out"`
	MemoriesRead    int64 `json:"memories_read"`
	MemoriesWritten int64 `json:"memories_written"`
	Embeddings      int64 `json:"embeddings"`
	ModelCalls      int64 `json:"model_calls"`
	CostMicros      int64 `json:"cost_micros"`
	// PrefilterTokensSaved: rows written before it existed read as 0.
	PrefilterTokensSaved int64 `json:"prefilter_tokens_saved,omitempty"`
}

// Add counts one event: an API call unless it is a job's work.
func (c *UsageCounters) Add(ev *UsageEvent) {
	calls := int64(1)
	if ev.Job {
		calls = 0
	}
	c.Merge(UsageCounters{APICalls: calls, TokensIn: ev.TokensIn, TokensOut: ev.TokensOut,
		MemoriesRead: ev.MemoriesRead, MemoriesWritten: ev.MemoriesWritten, Embeddings: ev.Embeddings,
		ModelCalls: ev.ModelCalls, CostMicros: ev.CostMicros, PrefilterTokensSaved: ev.PrefilterTokensSaved})
}

// Merge adds other's counts.
func (c *UsageCounters) Merge(o UsageCounters) {
	c.APICalls += o.APICalls
	c.TokensIn += o.TokensIn
	c.TokensOut += o.TokensOut
	c.MemoriesRead += o.MemoriesRead
	c.MemoriesWritten += o.MemoriesWritten
	c.Embeddings += o.Embeddings
	c.ModelCalls += o.ModelCalls
	c.CostMicros += o.CostMicros
	c.PrefilterTokensSaved += o.PrefilterTokensSaved
}

// Rollup granularities and dimensions.
const (
	Hourly = "h"
	Daily  = "d"

	DimAll      = "all"
	DimEndpoint = "endpoint"
	DimKey      = "key"
)

// bucketStart formats the start of an event's hour or day; the layouts sort in time order.
func bucketStart(gran string, t time.Time) string {
	t = t.UTC()
	if gran == Hourly {
		return t.Format("2006-01-02T15")
	}
	return t.Format("2006-01-02")
}

// rollupKey is gran|dim|start|value, so one dimension's rows are contiguous in time.
func rollupKey(gran, dim, start, value string) []byte {
	return []byte(gran + "|" + dim + "|" + start + "|" + value)
}

func usageBuckets(tx *bolt.Tx, orgID string, mode Mode, create bool) (events, rollups *bolt.Bucket, err error) {
	mb, err := modeBucket(tx, orgID, mode)
	if err != nil {
		return nil, nil, err
	}
	if !create {
		return mb.Bucket(bucketUsage), mb.Bucket(bucketRollups), nil
	}
	if events, err = mb.CreateBucketIfNotExists(bucketUsage); err != nil {
		return nil, nil, err
	}
	rollups, err = mb.CreateBucketIfNotExists(bucketRollups)
	return events, rollups, err
}

// putUsage stores an event and adds it to its six rollup rows, inside tx.
func putUsage(tx *bolt.Tx, ev *UsageEvent) error {
	var r rollupBatch
	if err := r.add(tx, ev); err != nil {
		return err
	}
	return r.apply()
}

// rollupBatch stores events and sums their rollup rows in memory, so that a batch
// of events reads and rewrites each row once instead of once per event. A flush
// holds a second of one server's reads, mostly of one tenant, key and endpoint, so
// it also keeps each tenant's buckets and the rows of the event before: the next
// one like it (same tenant, key, endpoint and hour) goes straight to those sums.
type rollupBatch struct {
	sums    map[rollupRef]*UsageCounters
	order   []rollupRef // rows in first-touched order, so writes are deterministic
	tenants map[tenantRef]tenantBuckets
	last    struct {
		org, key, endpoint string
		mode               Mode
		hour               time.Time
		rows               [6]*UsageCounters
	}
}

type rollupRef struct {
	org  string
	mode Mode
	key  string
}

type tenantRef struct {
	org  string
	mode Mode
}

type tenantBuckets struct{ events, rollups *bolt.Bucket }

// appendFill is the fill of pages holding keys written in order (time-ordered ids):
// bbolt's default of one half suits keys that land anywhere, and here left every
// page half empty, twice the pages to write.
const appendFill = 0.95

// add stores ev and adds it to the sums of its six rollup rows.
func (r *rollupBatch) add(tx *bolt.Tx, ev *UsageEvent) error {
	if r.sums == nil {
		r.sums, r.tenants = map[rollupRef]*UsageCounters{}, map[tenantRef]tenantBuckets{}
	}
	tb, ok := r.tenants[tenantRef{ev.OrgID, ev.Mode}]
	if !ok {
		events, rollups, err := usageBuckets(tx, ev.OrgID, ev.Mode, true)
		if err != nil {
			return err
		}
		events.FillPercent = appendFill
		tb = tenantBuckets{events, rollups}
		r.tenants[tenantRef{ev.OrgID, ev.Mode}] = tb
	}
	if ev.ID == "" {
		ev.ID = NewID("use_")
	}
	if err := putJSON(tb.events, []byte(ev.ID), ev); err != nil {
		return err
	}
	hour := ev.At.UTC().Truncate(time.Hour)
	l := &r.last
	if l.rows[0] == nil || l.org != ev.OrgID || l.mode != ev.Mode || l.key != ev.KeyID || l.endpoint != ev.Endpoint || !l.hour.Equal(hour) {
		l.org, l.mode, l.key, l.endpoint, l.hour = ev.OrgID, ev.Mode, ev.KeyID, ev.Endpoint, hour
		i := 0
		for _, gran := range []string{Hourly, Daily} {
			start := bucketStart(gran, ev.At)
			for _, dv := range [][2]string{{DimAll, ""}, {DimEndpoint, ev.Endpoint}, {DimKey, ev.KeyID}} {
				ref := rollupRef{ev.OrgID, ev.Mode, string(rollupKey(gran, dv[0], start, dv[1]))}
				sum := r.sums[ref]
				if sum == nil {
					sum = new(UsageCounters)
					r.sums[ref] = sum
					r.order = append(r.order, ref)
				}
				l.rows[i] = sum
				i++
			}
		}
	}
	for _, sum := range l.rows {
		sum.Add(ev)
	}
	return nil
}

// apply adds the sums to the stored rows.
func (r *rollupBatch) apply() error {
	for _, ref := range r.order {
		var c UsageCounters
		rollups := r.tenants[tenantRef{ref.org, ref.mode}].rollups
		if _, err := getJSON(rollups, []byte(ref.key), &c); err != nil {
			return err
		}
		c.Merge(*r.sums[ref])
		if err := putJSON(rollups, []byte(ref.key), c); err != nil {
			return err
		}
	}
	return nil
}

// RecordUsage commits a batch of events (a group commit of read requests' events).
func (s *Store) RecordUsage(events []UsageEvent) error {
	if len(events) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		var r rollupBatch
		for i := range events {
			if err := r.add(tx, &events[i]); err != nil {
				if errors.Is(err, ErrOrgNotFound) {
					continue // the org was deleted since; its usage went with it
				}
				return err
			}
		}
		return r.apply()
	})
}

// RollupRow is one rollup counter row.
type RollupRow struct {
	Start    string // "2006-01-02T15" or "2006-01-02"
	Value    string // the endpoint or key id; "" for DimAll
	Counters UsageCounters
}

// Rollups returns the rows of one granularity and dimension whose start lies in
// [from, to), in time order.
func (s *Store) Rollups(orgID string, mode Mode, gran, dim string, from, to time.Time) ([]RollupRow, error) {
	var rows []RollupRow
	lo := rollupKey(gran, dim, bucketStart(gran, from), "")
	hi := string(rollupKey(gran, dim, bucketStart(gran, to), ""))
	err := s.db.View(func(tx *bolt.Tx) error {
		_, rollups, err := usageBuckets(tx, orgID, mode, false)
		if err != nil || rollups == nil {
			return err
		}
		c := rollups.Cursor()
		for k, v := c.Seek(lo); k != nil && string(k) < hi; k, v = c.Next() {
			parts := strings.SplitN(string(k), "|", 4)
			if len(parts) != 4 {
				continue
			}
			var row RollupRow
			if err := unmarshal(v, &row.Counters); err != nil {
				return err
			}
			row.Start, row.Value = parts[2], parts[3]
			rows = append(rows, row)
		}
		return nil
	})
	return rows, err
}

// UsageEvents calls fn for each stored event of the tenant in [from, to), oldest first.
func (s *Store) UsageEvents(orgID string, mode Mode, from, to time.Time, fn func(UsageEvent) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		events, _, err := usageBuckets(tx, orgID, mode, false)
		if err != nil || events == nil {
			return err
		}
		return events.ForEach(func(_, v []byte) error {
			var ev UsageEvent
			if err := unmarshal(v, &ev); err != nil {
				return err
			}
			if ev.At.Before(from) || !ev.At.Before(to) {
				return nil
			}
			return fn(ev)
		})
	})
}

// PurgeUsageEvents drops events older than cutoff in every tenant; rollups stay.
func (s *Store) PurgeUsageEvents(cutoff time.Time) (int, error) {
	n := 0
	// Event ids start with their creation time, so old ones are a prefix of the bucket.
	limit := NewIDAt("use_", cutoff)
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTenants).ForEachBucket(func(orgID []byte) error {
			for _, mode := range []Mode{ModeLive, ModeTest} {
				events, _, err := usageBuckets(tx, string(orgID), mode, false)
				if err != nil || events == nil {
					continue
				}
				c := events.Cursor()
				for k, _ := c.First(); k != nil && string(k) < limit; k, _ = c.First() {
					if err := c.Delete(); err != nil {
						return err
					}
					n++
				}
			}
			return nil
		})
	})
	return n, err
}

// storedCount reads the tenant's memories_stored gauge.
func storedCount(mb *bolt.Bucket) int64 {
	if st := mb.Bucket(bucketStats); st != nil {
		if raw := st.Get(keyStored); len(raw) == 8 {
			return int64(binary.BigEndian.Uint64(raw))
		}
	}
	return 0
}

// addStored moves the memories_stored gauge by delta, inside the write's transaction.
func addStored(mb *bolt.Bucket, delta int64) error {
	st, err := mb.CreateBucketIfNotExists(bucketStats)
	if err != nil {
		return err
	}
	n := storedCount(mb) + delta
	if n < 0 {
		n = 0
	}
	return st.Put(keyStored, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// MemoriesStored returns how many memories the tenant holds (expired ones count until
// the sweeper removes them).
func (s *Store) MemoriesStored(orgID string, mode Mode) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		mb, err := modeBucket(tx, orgID, mode)
		if err != nil {
			return err
		}
		n = storedCount(mb)
		return nil
	})
	return n, err
}

// StoredBytes returns the bytes of the org's memory data as stored (memories, their
// history and vectors, both modes, keys and values as written, so sealed when encryption
// is on): what the operator's storage cost is allocated by. Logs (usage events, audit)
// are left out; they are the operator's overhead, and they change with every request.
func (s *Store) StoredBytes(orgID string) (int64, error) {
	var n int64
	var sum func(b *bolt.Bucket) error
	sum = func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			n += int64(len(k) + len(v))
			if v == nil {
				if nested := b.Bucket(k); nested != nil {
					return sum(nested)
				}
			}
			return nil
		})
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		if _, err := tenant(tx, orgID); err != nil {
			return err
		}
		for _, mode := range []Mode{ModeLive, ModeTest} {
			mb, err := modeBucket(tx, orgID, mode)
			if err != nil {
				continue
			}
			for _, name := range [][]byte{bucketMemories, bucketHistory, bucketVectors} {
				if b := mb.Bucket(name); b != nil {
					if err := sum(b); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	return n, err
}
