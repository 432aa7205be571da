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
