package api

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	"memoryd/memory"
	"memoryd/store"
)

// maxImportRecords bounds one import call, beside the body limit: every record is
// embedded before the call's single transaction commits.
const maxImportRecords = 10_000

// ndjson is the media type of exports and of import bodies.
const ndjson = "application/x-ndjson"

// exportModes reads ?mode=live|test; without it an export holds both.
func exportModes(r *http.Request) ([]store.Mode, *Error) {
	switch m := r.URL.Query().Get("mode"); m {
	case "":
		return []store.Mode{store.ModeLive, store.ModeTest}, nil
	case string(store.ModeLive), string(store.ModeTest):
		return []store.Mode{store.Mode(m)}, nil
	default:
		return nil, invalid("mode", "mode must be live or test")
	}
}

// countingWriter counts what reached the client, to tell whether an error can still
// be answered with an envelope.
type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// adminExportOrg streams an org's memories with their history as JSON lines:
// GET /v1/admin/orgs/{org_id}/export[?mode=live|test].
func (s *Server) adminExportOrg(w http.ResponseWriter, r *http.Request) error {
	id, e := orgID(r)
	if e != nil {
		return e
	}
	modes, e := exportModes(r)
	if e != nil {
		return e
	}
	if _, err := s.store.GetOrg(id); err != nil {
		return orgErr(err)
	}
	// A large org takes longer to send than the write timeout allows an ordinary
	// answer; the client's own timeout still bounds it.
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", ndjson)
	h.Set("Content-Disposition", `attachment; filename="`+id+`.ndjson"`)
	info(r).status = http.StatusOK
	cw := &countingWriter{w: w}
	n, err := s.engine.Export(id, modes, cw)
	if err == nil {
		s.log.Info("org exported", "request_id", info(r).id, "org_id", id, "memories", n)
		return nil
	}
	if cw.n == 0 {
		h.Del("Content-Disposition")
		return orgErr(err)
	}
	// Part of the export is out: abort the connection so the client sees a truncated
	// download rather than a short file that looks whole.
	s.log.Error("export stream failed", "request_id", info(r).id, "org_id", id, "bytes_sent", cw.n, "err", err)
	panic(http.ErrAbortHandler)
}

// adminImportOrg adds the memories of an export to an org, ids kept, embedded and
// indexed here: POST /v1/admin/orgs/{org_id}/import with an application/x-ndjson body.
func (s *Server) adminImportOrg(w http.ResponseWriter, r *http.Request) error {
	id, e := orgID(r)
	if e != nil {
		return e
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != ndjson {
		return newError(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE",
			"An import must be sent as Content-Type: "+ndjson, map[string]any{"content_type": r.Header.Get("Content-Type")})
	}
	if _, err := s.store.GetOrg(id); err != nil {
		return orgErr(err)
	}
	recs, err := memory.ParseExport(bytes.NewReader(body(r)), maxImportRecords)
	if err != nil {
		return importErr(err)
	}
	if len(recs) == 0 {
		return invalid("", "The body holds no records: one JSON object per line, as the export writes them")
	}
	counts, err := s.engine.Import(r.Context(), id, recs)
	if err != nil {
		return orgErr(upstreamErr(importErr(err)))
	}
	s.log.Info("org imported", "request_id", info(r).id, "org_id", id, "memories", len(recs))
	respond(w, r, http.StatusCreated, map[string]any{
		"org_id": id, "imported": len(recs),
		"modes": map[string]int{"live": counts[store.ModeLive], "test": counts[store.ModeTest]},
	})
	return nil
}

// importErr names the line at fault as details.field lines[i].field (i from 0, like
// the batch call's memories[i]); the message counts lines from 1.
func importErr(err error) error {
	var le *memory.LineError
	if !errors.As(err, &le) {
		return err
	}
	field := fmt.Sprintf("lines[%d]", le.Line-1)
	if le.Field != "" {
		field += "." + le.Field
	}
	return invalid(field, "%s", le.Error())
}
