package api

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"testing"
	"time"
)

// The hand-written encoders write exactly what json.Marshal writes, over strings
// with every kind of character (HTML, controls, quotes, invalid UTF-8, U+2028),
// absent and present scopes and expiry, metadata compact or not, times in and out
// of UTC, and relevances small and large.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	pieces := []string{"a", "Zürich", "東京", "<b>&</b>", `"q"`, `\`, "\n", "\t", "\r", "\b", "\f", "\x00", "\x1f", "\x7f",
		"\u2028", "\u2029", "\xff", "\xe2\x82", "😀", " ", "'", "/", "é", "\u00a0", "\ufffd"}
	str := func() string {
		var b []byte
		for n := rng.Intn(12); n > 0; n-- {
			b = append(b, pieces[rng.Intn(len(pieces))]...)
		}
		return string(b)
	}
	opt := func() *string {
		if rng.Intn(2) == 0 {
			return nil
		}
		s := str()
		return &s
	}
	metas := []json.RawMessage{nil, json.RawMessage("{}"), json.RawMessage(`{"a": 1, "b": "<x>"}`), json.RawMessage(`{"n":[1,2.5e3,null,true],"s":"\u2028"}`)}
	zones := []*time.Location{time.UTC, time.FixedZone("x", 5*3600+1800), time.FixedZone("y", -7*3600)}
	floats := []float64{0, 1, 0.5, 0.1234, 1e-7, 3e-6, 1e21, 123456789, 0.9999}
	for i := 0; i < 5000; i++ {
		ct := time.Unix(rng.Int63n(4e9), rng.Int63n(1e9)*int64(rng.Intn(2))).In(zones[rng.Intn(3)])
		var exp *time.Time
		if rng.Intn(2) == 0 {
			e := ct.Add(time.Duration(rng.Int63n(1e15)))
			exp = &e
		}
		h := hitView{memoryView: memoryView{ID: str(), Text: str(), Metadata: metas[rng.Intn(len(metas))],
			UserID: opt(), AgentID: opt(), SessionID: opt(), CreatedAt: ct, UpdatedAt: ct.Add(time.Second),
			Version: rng.Intn(1000), ExpiresAt: exp}, Relevance: floats[rng.Intn(len(floats))]}
		if rng.Intn(4) == 0 {
			h.Relevance = rng.Float64()
		}
		want, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.appendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("hit %d:\n got %s\nwant %s", i, got, want)
		}
		meta := successMeta{RequestID: str(), ProcessingTimeMS: int64(i), Usage: Usage{TokensProcessed: rng.Int63n(1e6), MemoriesAccessed: rng.Int63n(200), ModelCalls: rng.Int63n(3)}}
		body := append(successStart(nil), `{"memories":[`...)
		body = append(h.appendJSON(body), "]}"...)
		env, err := json.Marshal(successEnvelope{Success: true, Data: map[string]any{"memories": []hitView{h}}, Meta: meta})
		if err != nil {
			t.Fatal(err)
		}
		if got := finishSuccess(body, meta); !bytes.Equal(got, env) {
			t.Fatalf("envelope %d:\n got %s\nwant %s", i, got, env)
		}
	}
}

// BenchmarkRetrieveAnswer: the body of a ten-memory retrieval, by reflection and by hand.
func BenchmarkRetrieveAnswer(b *testing.B) {
	now := time.Now().UTC()
	user := "u42"
	hits := make([]hitView, 10)
	for i := range hits {
		hits[i] = hitView{memoryView: memoryView{ID: "mem_01jd5k2m3n4p5q6r7s8t9v0w1x", Text: "the user prefers green tea in the morning and coffee after lunch, except on Sundays",
			Metadata: json.RawMessage("{}"), UserID: &user, CreatedAt: now, UpdatedAt: now, Version: 1}, Relevance: 0.8123}
	}
	meta := successMeta{RequestID: "req_01jd5k2m3n4p5q6r7s8t9v0w1x", ProcessingTimeMS: 1}
	b.Run("marshal", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(successEnvelope{Success: true, Data: map[string]any{"memories": hits}, Meta: meta})
		}
	})
	b.Run("append", func(b *testing.B) {
		for b.Loop() {
			buf := successStart(make([]byte, 0, 512+512*len(hits)))
			buf = append(buf, `{"memories":[`...)
			for i := range hits {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = hits[i].appendJSON(buf)
			}
			_ = finishSuccess(append(buf, "]}"...), meta)
		}
	})
}
