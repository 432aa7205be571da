package store

import (
	"testing"
	"time"
)

// Audit events page newest first or oldest first, stay in their org, and the purge
// drops only those older than the cutoff.
func TestAuditLog(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	a, _, _, err := s.CreateOrgWithAdminKey("a", "pro")
	if err != nil {
		t.Fatal(err)
	}
	b, _, _, err := s.CreateOrgWithAdminKey("b", "pro")
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	events := []AuditEvent{{ID: NewIDAt("aud_", old), OrgID: a.ID, Endpoint: "GET /v1/memories", At: old}}
	for i := 0; i < 5; i++ {
		events = append(events, AuditEvent{OrgID: a.ID, Endpoint: "POST /v1/memories", Status: 201})
	}
	events = append(events, AuditEvent{OrgID: b.ID, Endpoint: "GET /v1/account"}, AuditEvent{OrgID: "org_gone"})
	if err := s.RecordAudit(events); err != nil {
		t.Fatal(err)
	}
	page, next, err := s.ListAudit(a.ID, "", 4, false)
	if err != nil || len(page) != 4 || next == "" || page[0].ID != events[5].ID {
		t.Fatalf("first page %d %q %v", len(page), next, err)
	}
	rest, next2, err := s.ListAudit(a.ID, next, 4, false)
	if err != nil || len(rest) != 2 || next2 != "" || rest[1].ID != events[0].ID {
		t.Fatalf("second page %+v %q %v", rest, next2, err)
	}
	asc, _, err := s.ListAudit(a.ID, events[0].ID, 100, true)
	if err != nil || len(asc) != 5 || asc[0].ID != events[1].ID {
		t.Fatalf("ascending after the first: %d %v", len(asc), err)
	}
	if bs, _, _ := s.ListAudit(b.ID, "", 100, false); len(bs) != 1 || bs[0].Endpoint != "GET /v1/account" {
		t.Fatalf("org b sees %+v", bs)
	}
	n, err := s.PurgeAudit(time.Now().Add(-24 * time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("purged %d, %v", n, err)
	}
	if all, _, _ := s.ListAudit(a.ID, "", 100, true); len(all) != 5 {
		t.Fatalf("%d events after the purge, want 5", len(all))
	}
}
