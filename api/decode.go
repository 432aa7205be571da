package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting so a hostile body cannot exhaust the stack.
const maxJSONDepth = 32

// maxArrayItems bounds every array in a body, metadata included: no call takes more
// than a batch of 1000, and a body of millions of tiny items would cost far more to
// walk and store than its size suggests.
const maxArrayItems = 1000

func tooManyItems(path string, n int) *Error {
	return invalid(path, "%s holds %d items; the limit is %d", fieldName(path), n, maxArrayItems)
}

// Nullable is a field that distinguishes absent, null and a value, for PATCH-like bodies
// where null means "clear".
type Nullable[T any] struct {
	Set   bool // the field was present
	Valid bool // it was not null
	V     T
}

// UnmarshalJSON records presence and nullness.
func (n *Nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(b) == "null" {
		n.Valid = false
		return nil
	}
	n.Valid = true
	return json.Unmarshal(b, &n.V)
}

func (n Nullable[T]) elemType() reflect.Type { return reflect.TypeOf(n.V) }

type nullableField interface{ elemType() reflect.Type }

var (
	timeType    = reflect.TypeOf(time.Time{})
	rawType     = reflect.TypeOf(json.RawMessage(nil))
	nullableIfc = reflect.TypeOf((*nullableField)(nil)).Elem()
)

// decodeStrict decodes body into dst, rejecting invalid UTF-8, unknown fields, wrong
// types and excessive depth with an INVALID_REQUEST naming the JSON path.
func decodeStrict(body []byte, dst any) *Error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if !utf8.Valid(body) {
		return invalid("", "Request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return invalid("", "Request body is not valid JSON: %s", jsonErrText(err))
	}
	if dec.More() {
		return invalid("", "Request body has data after the JSON value")
	}
	if e := checkValue(raw, reflect.TypeOf(dst).Elem(), "", 0); e != nil {
		return e
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return invalid("", "Request body does not match the expected shape: %s", jsonErrText(err))
	}
	return nil
}

func jsonErrText(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

func joinPath(base, field string) string {
	if base == "" {
		return field
	}
	return base + "." + field
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// checkValue walks a decoded JSON value against the Go type it will fill.
func checkValue(v any, t reflect.Type, path string, depth int) *Error {
	if depth > maxJSONDepth {
		return invalid(path, "JSON nesting deeper than %d levels", maxJSONDepth)
	}
	if reflect.PointerTo(t).Implements(nullableIfc) {
		if v == nil {
			return nil
		}
		return checkValue(v, reflect.New(t).Interface().(nullableField).elemType(), path, depth)
	}
	if t.Kind() == reflect.Pointer {
		if v == nil {
			return nil
		}
		return checkValue(v, t.Elem(), path, depth)
	}
	if t == rawType || t.Kind() == reflect.Interface {
		return checkDepth(v, path, depth)
	}
	if v == nil {
		// null for a non-pointer leaves the zero value, as encoding/json does; required
		// fields are checked by the handler's validation.
		return nil
	}
	wrongType := func(want string) *Error {
		return invalid(path, "%s must be %s, not %s", fieldName(path), want, describe(v))
	}
	switch {
	case t == timeType:
		s, ok := v.(string)
		if !ok {
			return wrongType("an RFC 3339 time string")
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return invalid(path, "%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", fieldName(path))
		}
	case t.Kind() == reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return wrongType("an object")
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				return invalid(joinPath(path, k), "Unknown field %q", joinPath(path, k))
			}
			if e := checkValue(obj[k], ft, joinPath(path, k), depth+1); e != nil {
				return e
			}
		}
	case t.Kind() == reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return wrongType("an array")
		}
		if len(arr) > maxArrayItems {
			return tooManyItems(path, len(arr))
		}
		for i, el := range arr {
			if e := checkValue(el, t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1); e != nil {
				return e
			}
		}
	case t.Kind() == reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return wrongType("an object")
		}
		for k, el := range obj {
			if e := checkValue(el, t.Elem(), joinPath(path, k), depth+1); e != nil {
				return e
			}
		}
	case t.Kind() == reflect.String:
		if _, ok := v.(string); !ok {
			return wrongType("a string")
		}
	case t.Kind() == reflect.Bool:
		if _, ok := v.(bool); !ok {
			return wrongType("a boolean")
		}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			return wrongType("an integer")
		}
		if _, err := strconv.ParseInt(string(n), 10, 64); err != nil {
			return wrongType("an integer")
		}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			return wrongType("a number")
		}
	}
	return nil
}

// checkDepth bounds free-form values (metadata) by depth too.
func checkDepth(v any, path string, depth int) *Error {
	if depth > maxJSONDepth {
		return invalid(path, "JSON nesting deeper than %d levels", maxJSONDepth)
	}
	switch x := v.(type) {
	case map[string]any:
		for k, el := range x {
			if e := checkDepth(el, joinPath(path, k), depth+1); e != nil {
				return e
			}
		}
	case []any:
		if len(x) > maxArrayItems {
			return tooManyItems(path, len(x))
		}
		for i, el := range x {
			if e := checkDepth(el, fmt.Sprintf("%s[%d]", path, i), depth+1); e != nil {
				return e
			}
		}
	}
	return nil
}

func fieldName(path string) string {
	if path == "" {
		return "The request body"
	}
	return path
}

// fieldsByType caches jsonFields: a body type's fields never change, and every
// request of its endpoint would otherwise map them again. Like encoding/json's
// own cache of types, it holds facts of the program, not state.
var fieldsByType sync.Map // reflect.Type → map[string]reflect.Type

// jsonFields maps each JSON name of struct t to its field type. The map is shared:
// never change it.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldsByType.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := make(map[string]reflect.Type, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldsByType.Store(t, m)
	return m
}

func compactJSON(raw []byte) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
