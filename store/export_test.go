package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestUnwritable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&os.PathError{Op: "write", Path: "memoryd.db", Err: syscall.ENOSPC}, true},
		{fmt.Errorf("commit: %w", syscall.EIO), true},
		{syscall.EROFS, true},
		{ErrNotFound, false},
		{errors.New("disk full"), false},
		{nil, false},
	} {
		if got := Unwritable(c.err); got != c.want {
			t.Errorf("Unwritable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// Export and import round-trip an org's memories with their history; an id in use
// fails the whole import and writes nothing.
func TestExportImportRoundTrip(t *testing.T) {
	st, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src, _, _, err := st.CreateOrgWithAdminKey("src", "free")
	if err != nil {
		t.Fatal(err)
	}
	dst, _, _, _ := st.CreateOrgWithAdminKey("dst", "free")
	now := time.Now().UTC()
	mems := []Memory{
		{ID: NewID("mem_"), Text: "one", CreatedAt: now, UpdatedAt: now, Version: 1},
		{ID: NewID("mem_"), Text: "two", UserID: "u", CreatedAt: now, UpdatedAt: now, Version: 1},
	}
	if err := st.CreateMemories(src.ID, ModeLive, mems, Change{At: now, Source: "api"}); err != nil {
		t.Fatal(err)
	}
	var recs []ExportRecord
	if err := st.ExportOrg(src.ID, []Mode{ModeLive, ModeTest}, func(r ExportRecord) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Text != "one" || len(recs[0].History) != 1 || recs[1].Mode != ModeLive {
		t.Fatalf("exported %+v", recs)
	}
	if err := st.ImportMemories(dst.ID, recs, Change{At: now}); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.CountMemories(dst.ID, ModeLive); n != 2 {
		t.Fatalf("imported %d", n)
	}
	if n, _ := st.MemoriesStored(dst.ID, ModeLive); n != 2 {
		t.Fatalf("stored gauge %d after import", n)
	}
	third, _, _, _ := st.CreateOrgWithAdminKey("third", "free")
	err = st.ImportMemories(third.ID, append(recs, recs[0]), Change{At: now})
	var ie *ImportError
	if !errors.As(err, &ie) || !errors.Is(err, ErrIDTaken) || ie.Index != 2 {
		t.Fatalf("duplicate id: %v", err)
	}
	if n, _ := st.CountMemories(third.ID, ModeLive); n != 0 {
		t.Fatalf("a failed import left %d memories", n)
	}
}
