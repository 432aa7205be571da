package memory

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"memoryd/store"
)

// An org's memories leave as JSON lines (store.ExportRecord, one per line) and come
// back through Import, which embeds them with this server's embedder and indexes them,
// so retrieval finds them as if they had been written here.

// exportStore is the store's per-org export and import. It is not in Store: the engine
// serves every request without it, and only the operator's calls need it.
type exportStore interface {
	ExportOrg(orgID string, modes []store.Mode, fn func(store.ExportRecord) error) error
	ImportMemories(orgID string, recs []store.ExportRecord, ch store.Change) error
}

// ErrNoExport says the configured store cannot export or import orgs.
var ErrNoExport = errors.New("memory: the store does not support export and import")

// Limits an imported record must keep, as the API's create does.
const (
	maxTextBytes     = 32 << 10
	maxMetadataBytes = 16 << 10
	maxScopeBytes    = 128
	maxHistory       = 10_000
	importEmbedBatch = 256
)

// LineError names the line of an import that is not a valid record: Line counts from
// 1, Field is the JSON field at fault ("" for the whole line).
type LineError struct {
	Line  int
	Field string
	Msg   string
	Err   error // store.ErrIDTaken for an id in use
}

func (e *LineError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Msg)
}

func (e *LineError) Unwrap() error { return e.Err }

// Export writes the org's memories in the modes as JSON lines to w.
func (e *Engine) Export(orgID string, modes []store.Mode, w io.Writer) (int, error) {
	es, ok := e.store.(exportStore)
	if !ok {
		return 0, ErrNoExport
	}
	n := 0
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	err := es.ExportOrg(orgID, modes, func(r store.ExportRecord) error {
		if r.History == nil {
			r.History = []store.HistoryEvent{}
		}
		n++
		return enc.Encode(r)
	})
	return n, err
}

// ParseExport reads JSON lines of export records, strictly: unknown fields, a bad id,
// mode, text, metadata or history fail with a *LineError naming the line. Blank lines
// are skipped. At most maxRecords records (0: no limit).
func ParseExport(r io.Reader, maxRecords int) ([]store.ExportRecord, error) {
	var recs []store.ExportRecord
	sc := bufio.NewScanner(r)
	// A record holds at most 32 KiB of text and 16 KiB of metadata, and its history
	// repeats the text: lines can be long.
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		if maxRecords > 0 && len(recs) == maxRecords {
			return nil, &LineError{Line: line, Msg: fmt.Sprintf("more than %d records in one import", maxRecords)}
		}
		if !utf8.Valid(raw) {
			return nil, &LineError{Line: line, Msg: "not valid UTF-8"}
		}
		var rec store.ExportRecord
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			return nil, &LineError{Line: line, Msg: "not a valid export record: " + err.Error()}
		}
		if dec.More() {
			return nil, &LineError{Line: line, Msg: "more than one JSON value on the line"}
		}
		if field, msg := checkRecord(&rec); msg != "" {
			return nil, &LineError{Line: line, Field: field, Msg: msg}
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("memory: read import: %w", err)
	}
	return recs, nil
}

// checkRecord validates what the API's create would, plus what only an import carries.
func checkRecord(r *store.ExportRecord) (field, msg string) {
	switch {
	case r.Mode != store.ModeLive && r.Mode != store.ModeTest:
		return "mode", "mode must be live or test"
	case !store.ValidID(r.ID, "mem_"):
		return "id", "id must be a memory id (mem_ and 26 characters)"
	case r.Text == "" || len(r.Text) > maxTextBytes:
		return "text", "text must be 1 to 32768 bytes"
	case len(r.UserID) > maxScopeBytes, len(r.AgentID) > maxScopeBytes, len(r.SessionID) > maxScopeBytes:
		return "user_id", "user_id, agent_id and session_id must be at most 128 bytes"
	case r.Version < 1:
		return "version", "version must be 1 or more"
	case r.CreatedAt.IsZero() || r.UpdatedAt.IsZero():
		return "created_at", "created_at and updated_at are required"
	case len(r.History) > maxHistory:
		return "history", fmt.Sprintf("history holds more than %d events", maxHistory)
	}
	if len(r.Metadata) > 0 {
		md := bytes.TrimSpace(r.Metadata)
		if bytes.Equal(md, []byte("null")) {
			r.Metadata = nil
		} else if len(md) > maxMetadataBytes || md[0] != '{' {
			return "metadata", "metadata must be a JSON object of at most 16 KiB"
		}
	}
	for i, ev := range r.History {
		if ev.Event != "ADD" && ev.Event != "UPDATE" && ev.Event != "DELETE" {
			return fmt.Sprintf("history[%d].event", i), "event must be ADD, UPDATE or DELETE"
		}
		if ev.At.IsZero() {
			return fmt.Sprintf("history[%d].at", i), "at is required"
		}
		if strings.TrimSpace(ev.Source) == "" {
			r.History[i].Source = "import"
		}
	}
	return "", ""
}

// Import embeds the records' texts and stores them in one transaction (all or none),
// then indexes them. Ids are kept: an id in use fails the whole import with a
// *LineError (line = record index + 1) wrapping store.ErrIDTaken. It returns how many
// records were imported into each mode.
func (e *Engine) Import(ctx context.Context, orgID string, recs []store.ExportRecord) (map[store.Mode]int, error) {
	es, ok := e.store.(exportStore)
	if !ok {
		return nil, ErrNoExport
	}
	counts := map[store.Mode]int{}
	if len(recs) == 0 {
		return counts, nil
	}
	tenants := map[store.Mode]*tenantIndex{}
	for _, r := range recs {
		if tenants[r.Mode] != nil {
			continue
		}
		ti, err := e.tenant(Tenant{OrgID: orgID, Mode: r.Mode})
		if err != nil {
			return nil, mapErr(err)
		}
		tenants[r.Mode] = ti
	}
	for start := 0; start < len(recs); start += importEmbedBatch {
		batch := recs[start:min(start+importEmbedBatch, len(recs))]
		texts := make([]string, len(batch))
		for i := range batch {
			texts[i] = batch[i].Text
		}
		vecs, _, err := e.embed(ctx, texts)
		if err != nil {
			return nil, err
		}
		for i := range batch {
			batch[i].Vector, batch[i].VectorModel = vecs[i], e.embedder.Model()
		}
	}
	err := es.ImportMemories(orgID, recs, store.Change{At: e.now().UTC(), Source: "import"})
	var ie *store.ImportError
	if errors.As(err, &ie) {
		return nil, &LineError{Line: ie.Index + 1, Field: "id", Msg: ie.Err.Error(), Err: ie.Err}
	}
	if err != nil {
		return nil, err
	}
	for i := range recs {
		tenants[recs[i].Mode].put(&recs[i].Memory)
		counts[recs[i].Mode]++
	}
	return counts, nil
}

// dropTenant removes the cached answers of one tenant (see appendTenantKey).
func (c *responseCache) dropTenant(t Tenant) {
	prefix := string(appendTenantKey(nil, t))
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, el := range c.items {
		if strings.HasPrefix(key, prefix) {
			c.ll.Remove(el)
			delete(c.items, key)
		}
	}
}
