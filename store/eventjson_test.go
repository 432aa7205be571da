package store

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// The events' own encoders write what encoding/json writes, for every field
// (filled by reflection, so a field added later and not encoded fails here), for
// strings with quotes, controls, HTML characters, non-ASCII and invalid UTF-8, for
// floats of every size, and with the omitempty fields both empty and set.
func TestEventJSONMatchesEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	strs := []string{"", "plain", "POST /v1/memories/{id}", `q"uote`, `back\slash`, "tab\there", "<script>&", "café ☕",
		"bad \xff utf8", "line\u2028sep", "\x00nul", "req_01JX" + string(rune(0x7f))}
	floats := []float64{0, 1.234, 0.5, 1e-7, -3.2e-9, 1e21, 123456789.125, 1e20, 0.000001, math.SmallestNonzeroFloat64}
	fill := func(v reflect.Value) {
		for i := range v.NumField() {
			f := v.Field(i)
			switch f.Kind() {
			case reflect.String:
				f.SetString(strs[rng.IntN(len(strs))])
			case reflect.Int, reflect.Int64:
				f.SetInt([]int64{0, 1, -7, 200, math.MaxInt64, math.MinInt64}[rng.IntN(6)])
			case reflect.Float64:
				f.SetFloat(floats[rng.IntN(len(floats))])
			case reflect.Bool:
				f.SetBool(rng.IntN(2) == 0)
			case reflect.Struct: // time.Time
				at := time.Date(2026, 12, 4, 23, 7, 1, rng.IntN(1e9), time.UTC)
				if rng.IntN(3) == 0 {
					at = at.In(time.FixedZone("x", 5*3600+1800))
				}
				f.Set(reflect.ValueOf(at))
			default:
				t.Fatalf("field %s of kind %s: teach this test to fill it", v.Type().Field(i).Name, f.Kind())
			}
		}
	}
	check := func(v any, a jsonAppender) {
		t.Helper()
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.appendJSON(nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("own encoder:\n%s (%v)\nencoding/json:\n%s", got, err, want)
		}
	}
	for range 2000 {
		var u UsageEvent
		fill(reflect.ValueOf(&u).Elem())
		check(u, &u)
		var a AuditEvent
		fill(reflect.ValueOf(&a).Elem())
		check(a, &a)
	}
	// What encoding/json refuses, the encoders refuse too.
	bad := UsageEvent{DurationMS: math.NaN()}
	if _, err := bad.appendJSON(nil); err == nil {
		t.Fatal("a NaN duration encoded")
	}
	late := AuditEvent{At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := late.appendJSON(nil); err == nil {
		t.Fatal("a year past 9999 encoded")
	}
}
