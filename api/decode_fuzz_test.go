package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzBody has the shapes request bodies use: nested structs, slices, maps, raw
// metadata, times and nullable fields.
type fuzzBody struct {
	Text      string            `json:"text"`
	Metadata  json.RawMessage   `json:"metadata"`
	UserID    *string           `json:"user_id"`
	ExpiresAt Nullable[string]  `json:"expires_at"`
	Max       int               `json:"max_memories"`
	Threshold float64           `json:"relevance_threshold"`
	At        *time.Time        `json:"created_after"`
	Items     []fuzzItem        `json:"memories"`
	Labels    map[string]string `json:"labels"`
	Flag      bool              `json:"flag"`
}

type fuzzItem struct {
	Text     string         `json:"text"`
	Metadata map[string]any `json:"metadata"`
}

// decodeStrict never panics, and whatever it accepts is valid UTF-8 JSON within the
// depth and array limits; whatever it refuses gets an INVALID_REQUEST with a message.
func FuzzDecodeStrict(f *testing.F) {
	for _, seed := range []string{
		`{"text":"hello","metadata":{"a":[1,2,{"b":null}]},"user_id":"u1"}`,
		`{"memories":[{"text":"x","metadata":{"k":"v"}}],"labels":{"a":"b"}}`,
		`{"expires_at":null,"created_after":"2026-01-02T15:04:05Z","max_memories":5,"relevance_threshold":0.5}`,
		`{"text":"\u0000\ud800","flag":true}`,
		strings.Repeat(`{"metadata":`, 40) + "1" + strings.Repeat("}", 40),
		`{"memories":[` + strings.Repeat(`{},`, 1000) + `{}]}`,
		"{\"text\":\"\xff\"}",
		`{"text":"a"} {}`,
		`[]`, `null`, ``, `{"colour":1}`, `{"max_memories":1e400}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var dst fuzzBody
		e := decodeStrict(body, &dst)
		if e != nil {
			if e.Code != "INVALID_REQUEST" || e.Message == "" {
				t.Fatalf("refusal %+v", e)
			}
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("accepted invalid UTF-8 %q", body)
		}
		if len(dst.Items) > maxArrayItems {
			t.Fatalf("accepted %d items", len(dst.Items))
		}
	})
}

// Arrays over the limit are refused with the JSON path, in typed fields and in
// free-form metadata alike.
func TestArrayLimit(t *testing.T) {
	big := "[" + strings.Repeat("1,", maxArrayItems) + "1]"
	for _, c := range []struct{ body, field string }{
		{`{"memories":[{"text":"x","metadata":{"tags":` + big + `}}]}`, "memories[0].metadata.tags"},
		{`{"metadata":{"deep":{"list":` + big + `}}}`, "metadata.deep.list"},
	} {
		var dst fuzzBody
		e := decodeStrict([]byte(c.body), &dst)
		if e == nil || e.Details["field"] != c.field {
			t.Fatalf("%s…: got %+v, want field %s", c.body[:30], e, c.field)
		}
	}
	ok := `{"metadata":{"list":[` + strings.Repeat("1,", maxArrayItems-1) + `1]}}`
	var dst fuzzBody
	if e := decodeStrict([]byte(ok), &dst); e != nil {
		t.Fatalf("%d items refused: %+v", maxArrayItems, e)
	}
}
