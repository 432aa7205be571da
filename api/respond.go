package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// reqInfo travels in the request context: what the envelope, the usage event and the
// log line need.
type reqInfo struct {
	id      string
	start   time.Time
	status  int
	orgID   string
	keyID   string
	work    work
	errCode string
	// committed is set once the request's usage event was written with its write.
	committed bool
	// principal is the caller, once authenticated; body is the request body, once
	// read (see readBody). They travel here rather than as context values, each of
	// which would copy the request.
	principal *principal
	body      []byte
}

// work is what a request did, counted where it happens; meta.usage and the usage
// event are both made from it.
type work struct {
	memoriesRead    int64
	memoriesWritten int64
	tokensIn        int64
	tokensOut       int64
	embeddings      int64
	modelCalls      int64
	costMicros      int64
	// prefilterTokensSaved is an operator metric: not in meta.usage, never billed.
	prefilterTokensSaved int64
}

// Usage is the per-request work reported in meta.usage.
type Usage struct {
	TokensProcessed  int64 `json:"tokens_processed"`
	MemoriesAccessed int64 `json:"memories_accessed"`
	ModelCalls       int64 `json:"model_calls"`
}

func (w work) usage() Usage {
	return Usage{TokensProcessed: w.tokensIn + w.tokensOut, MemoriesAccessed: w.memoriesRead + w.memoriesWritten, ModelCalls: w.modelCalls}
}

type ctxKey int

const infoKey ctxKey = 0

func info(r *http.Request) *reqInfo {
	if ri, ok := r.Context().Value(infoKey).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{start: time.Now()}
}

func withValue(r *http.Request, k ctxKey, v any) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), k, v))
}

// successEnvelope is the shape of every success answer, as successStart and
// finishSuccess write it byte for byte (TestAppendJSONMatchesMarshal compares them).
type successEnvelope struct {
	Success bool        `json:"success"`
	Data    any         `json:"data"`
	Meta    successMeta `json:"meta"`
}

type successMeta struct {
	RequestID        string `json:"request_id"`
	ProcessingTimeMS int64  `json:"processing_time_ms"`
	Usage            Usage  `json:"usage"`
}

type errorEnvelope struct {
	Success bool      `json:"success"`
	Error   errorBody `json:"error"`
	Meta    errorMeta `json:"meta"`
}

type errorBody struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

type errorMeta struct {
	RequestID string `json:"request_id"`
}

// encodeFailed is the answer when a response cannot be encoded.
const encodeFailed = `{"success":false,"error":{"code":"INTERNAL_ERROR","message":"The server failed to handle the request","details":{}},"meta":{}}`

func writeRaw(w http.ResponseWriter, status int, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		slog.Error("encode response", "err", err)
		status, raw = http.StatusInternalServerError, []byte(encodeFailed)
	}
	writeJSON(w, status, raw)
}

// writeJSON writes raw and a newline, with their length. It returns raw with the
// newline, for a caller that recycles the buffer once written.
func writeJSON(w http.ResponseWriter, status int, raw []byte) []byte {
	raw = append(raw, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
	w.WriteHeader(status)
	_, _ = w.Write(raw)
	return raw
}

// respondEncoded writes a success envelope: body was begun by successStart and holds
// the data, encoded as json.Marshal would; the meta is added here. It returns the
// buffer written (body, grown), which a caller may recycle: a writer never keeps it.
func respondEncoded(w http.ResponseWriter, r *http.Request, status int, body []byte) []byte {
	ri := info(r)
	ri.status = status
	return writeJSON(w, status, finishSuccess(body, successMeta{RequestID: ri.id, ProcessingTimeMS: time.Since(ri.start).Milliseconds(), Usage: ri.work.usage()}))
}

// answerBuffers recycles the buffers answers are encoded into, so a busy endpoint does
// not allocate one per request. A buffer is only lent for the writing of one answer.
type answerBuffers struct{ pool sync.Pool }

// maxRecycledAnswer bounds the buffers kept: a rare huge answer is not pinned.
const maxRecycledAnswer = 64 << 10

func (a *answerBuffers) get() *[]byte {
	if b, ok := a.pool.Get().(*[]byte); ok {
		return b
	}
	return new([]byte)
}

func (a *answerBuffers) put(b *[]byte) {
	if cap(*b) <= maxRecycledAnswer {
		*b = (*b)[:0]
		a.pool.Put(b)
	}
}

// respond writes a success envelope around data.
func respond(w http.ResponseWriter, r *http.Request, status int, data any) {
	raw, err := json.Marshal(data)
	if err != nil {
		slog.Error("encode response", "err", err)
		info(r).status = status
		writeJSON(w, http.StatusInternalServerError, []byte(encodeFailed))
		return
	}
	respondEncoded(w, r, status, append(successStart(make([]byte, 0, len(raw)+256)), raw...))
}

// fail writes an error envelope.
func fail(w http.ResponseWriter, r *http.Request, e *Error) {
	ri := info(r)
	ri.status = e.Status
	ri.errCode = e.Code
	writeRaw(w, e.Status, errorEnvelope{
		Error: errorBody{Code: e.Code, Message: e.Message, Details: e.Details},
		Meta:  errorMeta{RequestID: ri.id},
	})
}

// failErr answers an unexpected error as a 500 and logs it without internals leaking.
func failErr(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := err.(*Error); ok {
		fail(w, r, e)
		return
	}
	if e := storageErr(err); e != nil {
		slog.Error("write refused by the disk", "request_id", info(r).id, "err", err)
		fail(w, r, e)
		return
	}
	if r.Context().Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// The client left (or the server is stopping) while the request waited,
		// e.g. for a search worker: nobody is failing, and nothing was done.
		slog.Info("request abandoned", "request_id", info(r).id, "err", err)
		fail(w, r, errAbandoned)
		return
	}
	slog.Error("request failed", "request_id", info(r).id, "err", err)
	fail(w, r, errInternal)
}
