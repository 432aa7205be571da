package llm

import (
	"context"
	"math"
	"strconv"
	"testing"
)

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func assertUnitLength(t *testing.T, v []float32) {
	t.Helper()
	if n := math.Sqrt(float64(dot(v, v))); math.Abs(n-1) > 1e-5 {
		t.Fatalf("vector has length %v, want 1", n)
	}
}

func TestLocalIsDeterministicAndNormalised(t *testing.T) {
	texts := []string{
		"[1:56 pm on 8 May, 2023] Caroline: I went to a LGBTQ support group yesterday.",
		"User prefers dark mode interfaces",
		"Ünïcödé wörds: naïve café, 東京 and emoji 🎉",
		"zebra",
		"running runs ran runner",
	}
	ctx := context.Background()
	first, err := NewLocal(0).Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	e := NewLocal(0)
	again, err := e.Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		if len(first[i]) != DefaultLocalDim {
			t.Fatalf("vector %d has %d dimensions, want %d", i, len(first[i]), DefaultLocalDim)
		}
		for j := range first[i] {
			if first[i][j] != again[i][j] {
				t.Fatalf("text %q embeds differently on a second embedder", texts[i])
			}
		}
		assertUnitLength(t, first[i])
		// A text embeds the same alone as in a batch.
		one := make([]float32, e.Dim())
		e.EmbedOne(texts[i], one)
		for j := range one {
			if one[j] != first[i][j] {
				t.Fatalf("text %q embeds differently alone", texts[i])
			}
		}
	}
}

// TestLocalVectorsArePinned guards the promise that a stored vector stays
// valid: any change to the features moves these values, and must come with
// a new LocalModel (and new values here), so that stored vectors are
// detected as stale instead of silently mixing with new ones.
func TestLocalVectorsArePinned(t *testing.T) {
	if LocalModel != "local-v1" {
		t.Fatalf("LocalModel is %s: pin its vectors here", LocalModel)
	}
	type cell struct {
		index int
		value float32
	}
	tests := []struct {
		text string
		want []cell // every component beyond ±0.15
	}{
		{"User prefers dark mode interfaces",
			[]cell{{16, -0.208630}, {77, -0.227240}, {150, 0.226394}, {204, -0.227231}, {263, 0.226980}, {315, 0.189467}, {318, 0.216553}, {322, 0.157097}}},
		{"[8 May, 2023] Caroline: I went to a support group yesterday.",
			[]cell{{103, 0.163620}, {152, -0.180934}, {216, -0.418363}, {369, -0.194969}}},
	}
	e := NewLocal(0)
	for _, tt := range tests {
		v := make([]float32, e.Dim())
		e.EmbedOne(tt.text, v)
		var got []cell
		for i, x := range v {
			if x > 0.15 || x < -0.15 {
				got = append(got, cell{i, x})
			}
		}
		if len(got) != len(tt.want) {
			t.Fatalf("%q: large components %v, want %v", tt.text, got, tt.want)
		}
		for i := range got {
			if got[i].index != tt.want[i].index || math.Abs(float64(got[i].value-tt.want[i].value)) > 1e-5 {
				t.Fatalf("%q: large components %v, want %v", tt.text, got, tt.want)
			}
		}
	}
}

func TestLocalTextWithoutContentIsZero(t *testing.T) {
	vecs, err := NewLocal(64).Embed(context.Background(), []string{"", "   ", "it is what it is", "?!"})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vecs {
		if dot(v, v) != 0 {
			t.Errorf("text %d: got a non-zero vector for a text without content words", i)
		}
	}
}

func TestLocalRelatedTextsScoreHigher(t *testing.T) {
	tests := []struct {
		query, related, unrelated string
	}{
		{"When did Caroline go to the support group?",
			"Caroline: I went to a LGBTQ support group yesterday and it was so powerful.",
			"Melanie: I painted a sunrise over the lake last year."},
		{"What did Melanie paint?",
			"Melanie: I painted a sunrise over the lake last year.",
			"Caroline: I went to a LGBTQ support group yesterday."},
		{"Which sports does the user play?",
			"The user plays basketball and football on weekends",
			"The user prefers dark mode in every editor"},
		// Morphology and a typo: only character n-grams connect these.
		{"photography hobby",
			"She is a keen photographer",
			"She is a keen gardener"},
		{"recieved a promotion",
			"I received a promotion at work",
			"I cooked pasta for dinner"},
		// Word meaning: no word in common.
		{"What pets does Melanie have?",
			"Melanie: we got another cat named Bailey",
			"Melanie: we bought another car named Bailey"},
		{"How many children does she have?",
			"She said her kids love the beach",
			"She said her boss loves the beach"},
		{"adopting a dog",
			"We adopted two dogs from the shelter",
			"We bought a new car"},
	}
	e := NewLocal(0)
	for _, tt := range tests {
		vecs, err := e.Embed(context.Background(), []string{tt.query, tt.related, tt.unrelated})
		if err != nil {
			t.Fatal(err)
		}
		related, unrelated := dot(vecs[0], vecs[1]), dot(vecs[0], vecs[2])
		if related <= unrelated+0.05 {
			t.Errorf("%q: related %.3f, unrelated %.3f; want related clearly higher", tt.query, related, unrelated)
		}
	}
}

func TestLocalEmbedHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewLocal(0).Embed(ctx, []string{"x"}); err == nil {
		t.Error("Embed on a canceled context succeeded")
	}
}

func TestLocalUsageCountsWords(t *testing.T) {
	_, usage, err := NewLocal(0).EmbedWithUsage(context.Background(), []string{"one two three", "it's four"})
	if err != nil {
		t.Fatal(err)
	}
	if usage.PromptTokens != 6 || usage.Requests != 0 {
		t.Errorf("usage = %+v, want 6 words and no requests", usage)
	}
}

func TestStemWord(t *testing.T) {
	tests := map[string]string{
		"painted": "paint", "painting": "paint", "paints": "paint",
		"stories": "story", "tried": "try", "classes": "class",
		"running": "run", "making": "make", "loved": "love", "hiking": "hike",
		"planned": "plan", "calling": "call", "agreed": "agreed",
		"this": "this", "bus": "bus", "thing": "thing", "sing": "sing",
		"going": "go", "really": "real", "café": "café", "kids": "kid",
	}
	for word, want := range tests {
		if got := string(stemWord([]byte(word), nil)); got != want {
			t.Errorf("stemWord(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestCheckModel(t *testing.T) {
	local := IDOf(NewLocal(0))
	if err := CheckModel(EmbedderID{}, local); err != nil {
		t.Errorf("nothing stored: %v", err)
	}
	if err := CheckModel(local, local); err != nil {
		t.Errorf("same embedder: %v", err)
	}
	stored := EmbedderID{Name: "openai", Model: "text-embedding-3-small", Dim: 1536}
	if err := CheckModel(stored, local); err == nil {
		t.Error("a changed model was not reported")
	}
}

func BenchmarkLocalEmbed(b *testing.B) {
	// Short memories of the length a chat turn has, in batches as the
	// batch endpoint sends them.
	texts := make([]string, 1000)
	for i := range texts {
		texts[i] = "[8 May, 2023] Caroline: I went to the LGBTQ support group number " +
			strconv.Itoa(i) + " yesterday and it was so powerful, we talked for hours."
	}
	e := NewLocal(0)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.Embed(ctx, texts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(texts))/b.Elapsed().Seconds(), "texts/s")
}
