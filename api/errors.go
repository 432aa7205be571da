package api

import (
	"fmt"
	"net/http"

	"memoryd/store"
)

// Error is an error answer from the contract's table.
type Error struct {
	Status  int
	Code    string
	Message string
	Details map[string]any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func newError(status int, code, msg string, details map[string]any) *Error {
	if details == nil {
		details = map[string]any{}
	}
	return &Error{Status: status, Code: code, Message: msg, Details: details}
}

// invalid is a 400 naming the offending field by its JSON path.
func invalid(field, format string, args ...any) *Error {
	return newError(http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf(format, args...), map[string]any{"field": field})
}

func errNotFound(code, what string) *Error {
	return newError(http.StatusNotFound, code, what+" not found", nil)
}

var (
	errMemoryNotFound = errNotFound("MEMORY_NOT_FOUND", "Memory")
	errKeyNotFound    = errNotFound("KEY_NOT_FOUND", "API key")
	errInternal       = newError(http.StatusInternalServerError, "INTERNAL_ERROR", "The server failed to handle the request", nil)
)

func errInvalidKey(msg string) *Error {
	return newError(http.StatusUnauthorized, "INVALID_API_KEY", msg, nil)
}

func errScope(required string) *Error {
	return newError(http.StatusForbidden, "INSUFFICIENT_SCOPE",
		fmt.Sprintf("This API key lacks the %q scope", required), map[string]any{"required_scope": required})
}

// errStorageFull answers a write the disk refused (full, read-only or failing). bbolt
// rolled it back, reads keep working, and the same call succeeds once there is room.
var errStorageFull = newError(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE",
	"Storage is full or failing: the write was not saved; retry later", map[string]any{"retryable": true})

// errAbandoned answers a request whose client went away before it was served; it
// is not billed (no 5xx is) and changed nothing.
var errAbandoned = newError(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE",
	"The request was abandoned before it was served; retry", map[string]any{"retryable": true})

// storageErr maps the store's refused writes to errStorageFull, or returns nil.
func storageErr(err error) *Error {
	if store.Unwritable(err) {
		return errStorageFull
	}
	return nil
}
