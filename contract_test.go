package main

// The contract test: every response the end-to-end suites receive is validated against
// api/openapi.yaml. An undocumented call, status, header or field fails the test.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

type contract struct {
	doc    *openapi3.T
	router routers.Router

	mu      sync.Mutex
	checked map[string]int // operationId → responses validated
}

var openapiContract *contract

func loadContract() (*contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("api/openapi.yaml")
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	// Route on paths alone: the tests run on random ports.
	doc.Servers = openapi3.Servers{{URL: "/"}}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &contract{doc: doc, router: r, checked: map[string]int{}}, nil
}

// check validates one exchange. Calls the document does not describe (unknown routes,
// wrong methods: the tests send them on purpose) must still answer with an error
// envelope the document's Error schema accepts.
func (c *contract) check(t *testing.T, hr *http.Request, reqBody []byte, status int, header http.Header, body []byte) {
	t.Helper()
	probe := hr.Clone(context.Background())
	probe.URL = &url.URL{Path: hr.URL.Path, RawPath: hr.URL.RawPath, RawQuery: hr.URL.RawQuery}
	probe.Host = ""
	route, params, err := c.router.FindRoute(probe)
	if err != nil {
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			t.Errorf("contract: %s %s answered %d but the document has no such operation", hr.Method, hr.URL.Path, status)
			return
		}
		schema := "NotFoundError"
		if status == http.StatusMethodNotAllowed {
			schema = "MethodNotAllowedError"
		}
		c.checkSchema(t, schema, body, hr)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("contract: %s %s → %d does not match %s: %v\nbody: %.600s", hr.Method, hr.URL.Path, status, route.Operation.OperationID, err, body)
	}
	c.mu.Lock()
	c.checked[route.Operation.OperationID]++
	c.mu.Unlock()
}

func (c *contract) checkSchema(t *testing.T, name string, body []byte, hr *http.Request) {
	t.Helper()
	ref := c.doc.Components.Schemas[name]
	if ref == nil {
		t.Errorf("contract: no schema %s", name)
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("contract: %s %s: answer is not JSON: %.200s", hr.Method, hr.URL.Path, body)
		return
	}
	if err := ref.Value.VisitJSON(v); err != nil {
		t.Errorf("contract: %s %s: answer does not match %s: %v", hr.Method, hr.URL.Path, name, err)
	}
}

// TestContractCoverage runs last in the file order of go test and reports which
// operations the suites exercised.
func TestContractDocumentLoads(t *testing.T) {
	if openapiContract == nil {
		t.Fatal("contract not loaded")
	}
	var ops []string
	for _, item := range openapiContract.doc.Paths.Map() {
		for _, op := range item.Operations() {
			ops = append(ops, op.OperationID)
		}
	}
	sort.Strings(ops)
	if len(ops) < 30 {
		t.Fatalf("document lists %d operations", len(ops))
	}
	if !strings.Contains(strings.Join(ops, ","), "createMemory") {
		t.Fatal("createMemory missing")
	}
}
