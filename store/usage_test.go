package store

import (
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Prefilter savings sum into the rollups like the other counters, and a row written
// before the counter existed reads it as 0 and keeps its other counts.
func TestRollupsSumPrefilterSavings(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	org, _, _, err := s.CreateOrgWithAdminKey("o", "pro")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)
	old := map[string]int64{"api_calls": 3, "model_calls": 2, "tokens_in": 900}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		_, rollups, err := usageBuckets(tx, org.ID, ModeLive, true)
		if err != nil {
			return err
		}
		return putJSON(rollups, rollupKey(Daily, DimAll, bucketStart(Daily, at), ""), old)
	}); err != nil {
		t.Fatal(err)
	}
	read := func() UsageCounters {
		t.Helper()
		rows, err := s.Rollups(org.ID, ModeLive, Daily, DimAll, at, at.AddDate(0, 0, 1))
		if err != nil || len(rows) != 1 {
			t.Fatalf("rows %+v, %v", rows, err)
		}
		return rows[0].Counters
	}
	if c := read(); c.PrefilterTokensSaved != 0 || c.APICalls != 3 || c.ModelCalls != 2 {
		t.Fatalf("old row reads %+v", c)
	}
	if err := s.RecordUsage([]UsageEvent{
		{OrgID: org.ID, Mode: ModeLive, At: at, ModelCalls: 1, PrefilterTokensSaved: 770},
		{OrgID: org.ID, Mode: ModeLive, At: at.Add(time.Hour), ModelCalls: 2, PrefilterTokensSaved: 24},
		{OrgID: org.ID, Mode: ModeLive, At: at.Add(2 * time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	if c := read(); c.PrefilterTokensSaved != 794 || c.APICalls != 6 || c.ModelCalls != 5 || c.TokensIn != 900 {
		t.Fatalf("after three events: %+v", c)
	}
}

// A batch sums each event into its own rows however events of different tenants,
// keys, endpoints, hours and days interleave in it: its rollups equal those of the
// same events stored one at a time, and the events themselves are all kept.
func TestRecordUsageBatchMatchesOneByOne(t *testing.T) {
	at := time.Date(2026, 12, 4, 22, 58, 0, 0, time.UTC) // two minutes before an hour and a day end
	batch, one := make([]UsageEvent, 0, 300), make([]UsageEvent, 0, 300)
	open := func() (*Store, [2]string) {
		s, _ := openTemp(t)
		t.Cleanup(func() { s.Close() })
		var orgs [2]string
		for i := range orgs {
			org, _, _, err := s.CreateOrgWithAdminKey("o", "pro")
			if err != nil {
				t.Fatal(err)
			}
			orgs[i] = org.ID
		}
		return s, orgs
	}
	sb, orgsB := open()
	so, orgsO := open()
	keys, endpoints := []string{"key_a", "key_b"}, []string{"POST /v1/retrieve", "GET /v1/memories"}
	for i := range 300 {
		ev := UsageEvent{Mode: []Mode{ModeLive, ModeTest}[i/7%2], KeyID: keys[i/3%2], Endpoint: endpoints[i/5%2],
			MemoriesRead: int64(i), TokensIn: int64(i * i), Job: i%11 == 0, At: at.Add(time.Duration(i) * time.Second)}
		ev.OrgID = orgsB[i/13%2]
		batch = append(batch, ev)
		ev.OrgID = orgsO[i/13%2]
		one = append(one, ev)
	}
	if err := sb.RecordUsage(batch); err != nil {
		t.Fatal(err)
	}
	for i := range one {
		if err := so.RecordUsage(one[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	for o := range 2 {
		for _, mode := range []Mode{ModeLive, ModeTest} {
			for _, gran := range []string{Hourly, Daily} {
				for _, dim := range []string{DimAll, DimEndpoint, DimKey} {
					got, err := sb.Rollups(orgsB[o], mode, gran, dim, at.Add(-48*time.Hour), at.Add(48*time.Hour))
					if err != nil {
						t.Fatal(err)
					}
					want, err := so.Rollups(orgsO[o], mode, gran, dim, at.Add(-48*time.Hour), at.Add(48*time.Hour))
					if err != nil {
						t.Fatal(err)
					}
					if len(got) == 0 || len(got) != len(want) {
						t.Fatalf("org %d %s %s %s: %d rows batched, %d one by one", o, mode, gran, dim, len(got), len(want))
					}
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("org %d %s %s %s row %d: batched %+v, one by one %+v", o, mode, gran, dim, i, got[i], want[i])
						}
					}
				}
			}
			n := 0
			if err := sb.UsageEvents(orgsB[o], mode, at.Add(-time.Hour), at.Add(time.Hour), func(UsageEvent) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			m := 0
			if err := so.UsageEvents(orgsO[o], mode, at.Add(-time.Hour), at.Add(time.Hour), func(UsageEvent) error { m++; return nil }); err != nil {
				t.Fatal(err)
			}
			if n == 0 || n != m {
				t.Fatalf("org %d %s: %d events batched, %d one by one", o, mode, n, m)
			}
		}
	}
}
