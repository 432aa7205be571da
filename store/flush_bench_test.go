package store

import (
	"testing"
	"time"
)

// The API group-commits a read's usage and audit events: at 4,000 retrievals a
// second the meter's one-second flush stores 4,000 usage events and the five-second
// audit flush 20,000 audit events, on the cores that serve the queries. These
// measure a flush of one second's worth, as the server sees them: one org, one key,
// one endpoint.
func benchFlushStore(b *testing.B) (*Store, Org, time.Time) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	s, org := openWithOrg(b, now)
	return s, org, now
}

func BenchmarkRecordUsage(b *testing.B) {
	s, org, now := benchFlushStore(b)
	events := make([]UsageEvent, 4000)
	b.ReportAllocs()
	for b.Loop() {
		for i := range events {
			events[i] = UsageEvent{OrgID: org.ID, Mode: ModeLive, KeyID: "key_0123456789abcdef", Endpoint: "POST /v1/retrieve",
				Status: 200, MemoriesRead: 10, Embeddings: 1, RequestID: "req_0123456789abcdef", DurationMS: 1.234, At: now.Add(time.Duration(i) * time.Millisecond)}
		}
		if err := s.RecordUsage(events); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
}

func BenchmarkRecordAudit(b *testing.B) {
	s, org, now := benchFlushStore(b)
	events := make([]AuditEvent, 4000)
	b.ReportAllocs()
	for b.Loop() {
		for i := range events {
			events[i] = AuditEvent{At: now.Add(time.Duration(i) * time.Millisecond), OrgID: org.ID, KeyID: "key_0123456789abcdef", Mode: ModeLive,
				Endpoint: "POST /v1/retrieve", IP: "127.0.0.1", UserAgent: "memoryd-bench", RequestID: "req_0123456789abcdef", Status: 200, DurationMS: 1.234}
		}
		if err := s.RecordAudit(events); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
}
