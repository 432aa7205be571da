package llm

import "testing"

func TestWordTableParses(t *testing.T) {
	wt, err := parseWordTable(wordVecsFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(wt.counts) != 30000 || wt.dim != 100 {
		t.Fatalf("table has %d words of %d dimensions, want 30000 of 100", len(wt.counts), wt.dim)
	}
	really, pottery := wt.lookup([]byte("really")), wt.lookup([]byte("pottery"))
	if really < 0 || pottery < 0 || wt.lookup([]byte("zzxqv")) >= 0 {
		t.Fatalf("lookups: really %d, pottery %d", really, pottery)
	}
	if wt.prob(really) <= 100*wt.prob(pottery) {
		t.Errorf("p(really) = %g is not far above p(pottery) = %g", wt.prob(really), wt.prob(pottery))
	}

	// Meaning: kids is nearer children than taxes.
	vec := func(word string) []float32 {
		v := make([]float32, wt.dim)
		wt.addVec(v, wt.lookup([]byte(word)), 1)
		return v
	}
	kids := vec("kids")
	if dot(kids, vec("children")) <= dot(kids, vec("taxes"))+0.2 {
		t.Errorf("kids·children %.2f is not clearly above kids·taxes %.2f", dot(kids, vec("children")), dot(kids, vec("taxes")))
	}
}

func TestWordTableRejectsDamage(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":     nil,
		"bad magic": append([]byte("MDWV0\n"), wordVecsFile[6:]...),
		"cut short": wordVecsFile[:len(wordVecsFile)/2],
		"trailing":  append(append([]byte(nil), wordVecsFile...), 0),
	} {
		if _, err := parseWordTable(b); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}
