package store

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// Usage and audit events are written a request each, thousands a second in the
// flushes that group-commit them, and encoding/json's reflection was 40% of a
// flush's CPU (BenchmarkRecordUsage). So the two event types write their own JSON,
// byte for byte what encoding/json writes for them (TestEventJSONMatchesEncoding):
// the stored records, and everything that reads them, are unchanged.

// jsonAppender is a record that appends its own JSON encoding to b.
type jsonAppender interface {
	appendJSON(b []byte) ([]byte, error)
}

// marshalRecord encodes a record for storage.
func marshalRecord(v any) ([]byte, error) {
	if a, ok := v.(jsonAppender); ok {
		return a.appendJSON(make([]byte, 0, 384))
	}
	return json.Marshal(v)
}

// appendJSONString appends s as encoding/json quotes it: a string of plain
// printable ASCII as it is, any other through encoding/json itself (which escapes
// quotes, backslashes, controls, <, > and &, and mends invalid UTF-8).
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			raw, _ := json.Marshal(s) // a string always encodes
			return append(b, raw...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONFloat appends f as encoding/json does: plain decimals, or through
// encoding/json for the exponent forms and the values it refuses.
func appendJSONFloat(b []byte, f float64) ([]byte, error) {
	if abs := math.Abs(f); math.IsNaN(f) || math.IsInf(f, 0) || abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		raw, err := json.Marshal(f)
		return append(b, raw...), err
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64), nil
}

func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	raw, err := t.MarshalJSON()
	return append(b, raw...), err
}

func (ev *UsageEvent) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, ev.ID)
	b = append(b, `,"org_id":`...)
	b = appendJSONString(b, ev.OrgID)
	b = append(b, `,"mode":`...)
	b = appendJSONString(b, string(ev.Mode))
	b = append(b, `,"key_id":`...)
	b = appendJSONString(b, ev.KeyID)
	b = append(b, `,"endpoint":`...)
	b = appendJSONString(b, ev.Endpoint)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(ev.Status), 10)
	for _, f := range [...]struct {
		name string
		v    int64
	}{{`,"tokens_in":`, ev.TokensIn}, {`,"tokens_out":`, ev.TokensOut}, {`,"memories_read":`, ev.MemoriesRead},
		{`,"memories_written":`, ev.MemoriesWritten}, {`,"embeddings":`, ev.Embeddings}, {`,"model_calls":`, ev.ModelCalls},
		{`,"cost_micros":`, ev.CostMicros}} {
		b = append(b, f.name...)
		b = strconv.AppendInt(b, f.v, 10)
	}
	if ev.PrefilterTokensSaved != 0 {
		b = append(b, `,"prefilter_tokens_saved":`...)
		b = strconv.AppendInt(b, ev.PrefilterTokensSaved, 10)
	}
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, ev.RequestID)
	b = append(b, `,"duration_ms":`...)
	b, err := appendJSONFloat(b, ev.DurationMS)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"at":`...)
	if b, err = appendJSONTime(b, ev.At); err != nil {
		return nil, err
	}
	if ev.Job {
		b = append(b, `,"job":true`...)
	}
	return append(b, '}'), nil
}

func (ev *AuditEvent) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, ev.ID)
	b = append(b, `,"at":`...)
	b, err := appendJSONTime(b, ev.At)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"org_id":`...)
	b = appendJSONString(b, ev.OrgID)
	b = append(b, `,"key_id":`...)
	b = appendJSONString(b, ev.KeyID)
	if ev.Mode != "" {
		b = append(b, `,"mode":`...)
		b = appendJSONString(b, string(ev.Mode))
	}
	for _, f := range [...]struct{ name, v string }{{`,"endpoint":`, ev.Endpoint}, {`,"ip":`, ev.IP},
		{`,"user_agent":`, ev.UserAgent}, {`,"request_id":`, ev.RequestID}} {
		b = append(b, f.name...)
		b = appendJSONString(b, f.v)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(ev.Status), 10)
	b = append(b, `,"duration_ms":`...)
	if b, err = appendJSONFloat(b, ev.DurationMS); err != nil {
		return nil, err
	}
	b = append(b, `,"tokens":`...)
	b = strconv.AppendInt(b, ev.Tokens, 10)
	return append(b, '}'), nil
}
