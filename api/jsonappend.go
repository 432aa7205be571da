package api

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// The answers of /v1/retrieve are written by hand: reflection over ten memories,
// their times and metadata was the largest cost of a retrieval outside the search.
// Each appender writes exactly what json.Marshal writes for the same value
// (TestAppendJSONMatchesMarshal checks them byte for byte).

// appendJSONString appends s as encoding/json quotes it: HTML-safe, control
// characters escaped, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONTime appends t as time.Time.MarshalJSON writes it.
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONFloat appends f as encoding/json writes a float64.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 becomes 1e-7, as encoding/json writes it.
		if n := len(b) - start; n >= 4 && b[len(b)-4] == 'e' && b[len(b)-3] == '-' && b[len(b)-2] == '0' {
			b[len(b)-2] = b[len(b)-1]
			b = b[:len(b)-1]
		}
	}
	return b
}

func appendJSONOptString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendJSONString(b, *s)
}

// appendJSON appends the memory as json.Marshal writes a memoryView.
func (m *memoryView) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, m.ID)
	b = append(b, `,"text":`...)
	b = appendJSONString(b, m.Text)
	b = append(b, `,"metadata":`...)
	switch {
	case m.Metadata == nil:
		b = append(b, "null"...)
	case string(m.Metadata) == "{}":
		b = append(b, "{}"...)
	default:
		// Stored metadata is valid JSON; Marshal compacts and HTML-escapes it.
		raw, err := json.Marshal(m.Metadata)
		if err != nil {
			raw = []byte("{}")
		}
		b = append(b, raw...)
	}
	b = append(b, `,"user_id":`...)
	b = appendJSONOptString(b, m.UserID)
	b = append(b, `,"agent_id":`...)
	b = appendJSONOptString(b, m.AgentID)
	b = append(b, `,"session_id":`...)
	b = appendJSONOptString(b, m.SessionID)
	b = append(b, `,"created_at":`...)
	b = appendJSONTime(b, m.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendJSONTime(b, m.UpdatedAt)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(m.Version), 10)
	b = append(b, `,"expires_at":`...)
	if m.ExpiresAt == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONTime(b, *m.ExpiresAt)
	}
	return append(b, '}')
}

// appendJSON appends the hit as json.Marshal writes a hitView.
func (h *hitView) appendJSON(b []byte) []byte {
	b = h.memoryView.appendJSON(b)
	b = append(b[:len(b)-1], `,"relevance":`...)
	b = appendJSONFloat(b, h.Relevance)
	return append(b, '}')
}

// successStart begins a success envelope in b; the data follows, then finishSuccess.
func successStart(b []byte) []byte { return append(b, `{"success":true,"data":`...) }

// finishSuccess ends the envelope successStart began, once the data is in b: the
// whole is json.Marshal of a success envelope around that data.
func finishSuccess(b []byte, meta successMeta) []byte {
	b = append(b, `,"meta":{"request_id":`...)
	b = appendJSONString(b, meta.RequestID)
	b = append(b, `,"processing_time_ms":`...)
	b = strconv.AppendInt(b, meta.ProcessingTimeMS, 10)
	b = append(b, `,"usage":{"tokens_processed":`...)
	b = strconv.AppendInt(b, meta.Usage.TokensProcessed, 10)
	b = append(b, `,"memories_accessed":`...)
	b = strconv.AppendInt(b, meta.Usage.MemoriesAccessed, 10)
	b = append(b, `,"model_calls":`...)
	b = strconv.AppendInt(b, meta.Usage.ModelCalls, 10)
	return append(b, "}}}"...)
}
