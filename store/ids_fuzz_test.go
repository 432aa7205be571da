package store

import (
	"strings"
	"testing"
	"time"
)

// ValidID never panics and accepts exactly prefix + 26 id characters; every id NewID
// and NewIDAt make is valid, and nothing with a path separator, quote, NUL or a
// character outside the alphabet ever is.
func FuzzValidID(f *testing.F) {
	for _, seed := range []string{
		NewID("mem_"), NewIDAt("mem_", time.Unix(0, 0)), "mem_", "", "mem_../../etc/passwd",
		"mem_1' OR '1'='1", `mem_{"$ne":null}`, "mem_" + strings.Repeat("z", 26), "mem_" + strings.Repeat("Z", 26),
		"mem_0000000000000000000000000\x00", "key_00000000000000000000000000", "mem_ü000000000000000000000000",
	} {
		f.Add(seed, "mem_")
	}
	f.Fuzz(func(t *testing.T, s, prefix string) {
		ok := ValidID(s, prefix)
		if !ok {
			return
		}
		rest := strings.TrimPrefix(s, prefix)
		if !strings.HasPrefix(s, prefix) || len(rest) != 26 {
			t.Fatalf("accepted %q for prefix %q", s, prefix)
		}
		if strings.ContainsAny(rest, "/\\.'\"\x00{}$ ILOU") {
			t.Fatalf("accepted %q", s)
		}
		for _, c := range rest {
			if !strings.ContainsRune(idAlphabet, c) {
				t.Fatalf("accepted %q with %q", s, c)
			}
		}
	})
}

func TestNewIDsAreValid(t *testing.T) {
	for i := 0; i < 1000; i++ {
		if id := NewID("mem_"); !ValidID(id, "mem_") {
			t.Fatalf("NewID made invalid %q", id)
		}
	}
	if id := NewIDAt("aud_", time.Now()); !ValidID(id, "aud_") {
		t.Fatalf("NewIDAt made invalid %q", id)
	}
}
