package llm

import (
	"context"
	"errors"
	"testing"
)

func TestEmbedQueryWeighsWordsByCorpusRarity(t *testing.T) {
	e := NewLocal(0)
	docs := []string{
		"Caroline: I started a pottery class",
		"Caroline: my mentor helped me",
		"Caroline: we had a picnic",
		"Caroline: the weather was lovely",
		"Caroline: Caroline Caroline said hello to Caroline",
	}
	corpus := e.NewTermStats()
	for _, d := range docs {
		corpus.Add(d)
	}
	ctx := context.Background()
	docVecs, err := e.Embed(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	query := "What did Caroline say about pottery?"

	// Unweighted, the name that is in every memory drags the memory that
	// repeats it up; weighed by the corpus, the rare word decides.
	plain, _ := e.EmbedQuery(ctx, query, nil)
	weighted, err := e.EmbedQuery(ctx, query, corpus)
	if err != nil {
		t.Fatal(err)
	}
	assertUnitLength(t, weighted)
	if dot(weighted, docVecs[0]) <= dot(weighted, docVecs[4]) {
		t.Errorf("weighted query prefers the memory that only repeats the name")
	}
	plainMargin := dot(plain, docVecs[0]) - dot(plain, docVecs[4])
	weightedMargin := dot(weighted, docVecs[0]) - dot(weighted, docVecs[4])
	if weightedMargin <= plainMargin {
		t.Errorf("weighing by the corpus did not widen the rare word's lead: %.3f, unweighted %.3f", weightedMargin, plainMargin)
	}

	// Removing every document returns the statistics to empty, and a query
	// then embeds as a document does.
	for _, d := range docs {
		corpus.Remove(d)
	}
	if corpus.Docs() != 0 || len(corpus.df) != 0 {
		t.Fatalf("after removing all: %d docs, %d stems", corpus.Docs(), len(corpus.df))
	}
	again, _ := e.EmbedQuery(ctx, query, corpus)
	for i := range again {
		if again[i] != plain[i] {
			t.Fatal("a query against an empty corpus embeds unlike a document")
		}
	}
}

func TestTermStatsSnapshot(t *testing.T) {
	e := NewLocal(0)
	ts := e.NewTermStats()
	for _, d := range []string{"pottery class on Monday", "a pottery kiln", "the dog barked"} {
		ts.Add(d)
	}
	snap, err := ts.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	loaded := e.NewTermStats()
	if err := loaded.UnmarshalBinary(snap); err != nil {
		t.Fatal(err)
	}
	again, _ := loaded.MarshalBinary()
	if loaded.Docs() != 3 || string(again) != string(snap) {
		t.Fatalf("loaded %d docs, snapshot equal: %v", loaded.Docs(), string(again) == string(snap))
	}
	ctx := context.Background()
	a, _ := e.EmbedQuery(ctx, "pottery dog", ts)
	b, _ := e.EmbedQuery(ctx, "pottery dog", loaded)
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("a query embeds differently against loaded statistics")
		}
	}

	for name, bad := range map[string][]byte{
		"empty":       nil,
		"cut short":   snap[:len(snap)-3],
		"other model": append([]byte(termStatsMagic+"\x08local-v0"), snap[len(termStatsMagic)+1+len(LocalModel):]...),
	} {
		if err := e.NewTermStats().UnmarshalBinary(bad); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: error %v, want ErrBadSnapshot", name, err)
		}
	}
}
