package main

// The contract test: every response the end-to-end suites receive is validated against
// api/openapi.yaml. An undocumented call, status, header or field fails the test.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

type contract struct {
	doc    *openapi3.T
	router routers.Router
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
	return &contract{doc: doc, router: r}, nil
}

// check validates one exchange of the end-to-end suites, failing the test on a problem.
func (c *contract) check(t *testing.T, hr *http.Request, reqBody []byte, status int, header http.Header, body []byte) {
	t.Helper()
	if err := c.problem(hr, status, header, body); err != nil {
		t.Error(err)
	}
}

// problem says how one exchange departs from the document, or nil. Calls the document
// does not describe (unknown routes, wrong methods: the tests send them on purpose) must
// still answer with an error envelope the document's Error schema accepts.
func (c *contract) problem(hr *http.Request, status int, header http.Header, body []byte) error {
	probe := hr.Clone(context.Background())
	probe.URL = &url.URL{Path: hr.URL.Path, RawPath: hr.URL.RawPath, RawQuery: hr.URL.RawQuery}
	probe.Host = ""
	route, params, err := c.router.FindRoute(probe)
	if err != nil {
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return fmt.Errorf("contract: %s %s answered %d but the document has no such operation", hr.Method, hr.URL.Path, status)
		}
		schema := "NotFoundError"
		if status == http.StatusMethodNotAllowed {
			schema = "MethodNotAllowedError"
		}
		return c.checkSchema(schema, body, hr)
	}
	if err := c.validate(probe, route, params, status, header, body); err != nil {
		return fmt.Errorf("contract: %s %s → %d does not match %s: %v\nbody: %.600s", hr.Method, hr.URL.Path, status, route.Operation.OperationID, err, body)
	}
	return nil
}

// validate checks one response against the operation's documented answer.
func (c *contract) validate(probe *http.Request, route *routers.Route, params map[string]string, status int, header http.Header, body []byte) error {
	in := &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	return openapi3filter.ValidateResponse(context.Background(), out)
}

func (c *contract) checkSchema(name string, body []byte, hr *http.Request) error {
	ref := c.doc.Components.Schemas[name]
	if ref == nil {
		return fmt.Errorf("contract: no schema %s", name)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("contract: %s %s: answer is not JSON: %.200s", hr.Method, hr.URL.Path, body)
	}
	if err := ref.Value.VisitJSON(v); err != nil {
		return fmt.Errorf("contract: %s %s: answer does not match %s: %v", hr.Method, hr.URL.Path, name, err)
	}
	return nil
}

// The document loads, validates and describes the core operations.
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

// The contract test has teeth, through the very check every end-to-end exchange goes
// through: a real answer passes; the same answer with a field a handler added but the
// document does not describe fails; the real answer fails against a copy of the document
// that lacks one of its fields; and a call missing from a copy of the document fails.
func TestContractRejectsUndocumentedFields(t *testing.T) {
	s := startServer(t, "")
	_, key := s.newOrg(t, "contract", "pro")
	m := s.createMemory(t, key, map[string]any{"text": "checked against the document"})
	r := s.do(t, req{method: "GET", path: "/v1/memories/" + m.ID, key: key})
	hr, _ := http.NewRequest("GET", s.base+"/v1/memories/"+m.ID, nil)

	if err := openapiContract.problem(hr, r.Status, r.Header, r.Raw); err != nil {
		t.Fatalf("the real answer fails: %v", err)
	}
	var env map[string]any
	if err := json.Unmarshal(r.Raw, &env); err != nil {
		t.Fatal(err)
	}
	env["data"].(map[string]any)["colour"] = "teal" // a handler adding a field
	extra, _ := json.Marshal(env)
	if err := openapiContract.problem(hr, r.Status, r.Header, extra); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Fatalf("an undocumented field passed: %v", err)
	}

	copyDoc, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	delete(copyDoc.doc.Components.Schemas["Memory"].Value.Properties, "session_id")
	if err := copyDoc.problem(hr, r.Status, r.Header, r.Raw); err == nil || !strings.Contains(err.Error(), "session_id") {
		t.Fatalf("a field missing from the document passed: %v", err)
	}

	// A call the document does not list: GET /v1/account, removed from a copy.
	acct := s.do(t, req{method: "GET", path: "/v1/account", key: key})
	ar, _ := http.NewRequest("GET", s.base+"/v1/account", nil)
	if err := openapiContract.problem(ar, acct.Status, acct.Header, acct.Raw); err != nil {
		t.Fatalf("the real account answer fails: %v", err)
	}
	noAccount, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	noAccount.doc.Paths.Delete("/v1/account")
	if noAccount.router, err = gorillamux.NewRouter(noAccount.doc); err != nil {
		t.Fatal(err)
	}
	if err := noAccount.problem(ar, acct.Status, acct.Header, acct.Raw); err == nil || !strings.Contains(err.Error(), "no such operation") {
		t.Fatalf("an undocumented call passed: %v", err)
	}
}

// The document is complete "with examples": every request body and every success answer
// of every operation shows one, in each of its media types (validated against the
// schemas when the document loads).
func TestEveryOperationHasExamples(t *testing.T) {
	hasExample := func(mt *openapi3.MediaType) bool {
		return mt.Example != nil || len(mt.Examples) > 0 || (mt.Schema != nil && mt.Schema.Value.Example != nil)
	}
	for path, item := range openapiContract.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody != nil {
				for ct, mt := range op.RequestBody.Value.Content {
					if !hasExample(mt) {
						t.Errorf("%s %s: request body %s has no example", method, path, ct)
					}
				}
			}
			for status, resp := range op.Responses.Map() {
				if !strings.HasPrefix(status, "2") {
					continue
				}
				for ct, mt := range resp.Value.Content {
					if !hasExample(mt) {
						t.Errorf("%s %s: %s answer %s has no example", method, path, status, ct)
					}
				}
			}
		}
	}
}

// Every route the server registers is a documented operation, and every documented
// operation is registered: read from the h("METHOD /path", …) calls of api/server.go,
// so a call no end-to-end test exercises cannot go undocumented either.
func TestEveryRouteIsDocumented(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "api/server.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The package's string constants, for patterns built from them.
	consts := map[string]string{}
	sources, _ := filepath.Glob("api/*.go")
	for _, name := range sources {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if vs, ok := n.(*ast.ValueSpec); ok {
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[name.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
			return true
		})
	}
	var eval func(ast.Expr) (string, bool)
	eval = func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		case *ast.Ident:
			s, ok := consts[e.Name]
			return s, ok
		case *ast.BinaryExpr:
			a, ok1 := eval(e.X)
			b, ok2 := eval(e.Y)
			return a + b, ok1 && ok2 && e.Op == token.ADD
		}
		return "", false
	}
	param := regexp.MustCompile(`\{[^}]*\}`)
	served := map[string]bool{}
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		if fn, ok := call.Fun.(*ast.Ident); !ok || fn.Name != "h" || len(call.Args) != 2 {
			return true
		}
		pattern, ok := eval(call.Args[0])
		if !ok {
			t.Errorf("api/server.go: a route pattern this test cannot read: %#v", call.Args[0])
			return true
		}
		// Not operations: the 404/405 envelope for every other path, the reference page's
		// script, and trees of static files (a pattern ending in "/", e.g. the dashboard's).
		if pattern == "/" || pattern == "GET "+consts["docsScriptPath"] || strings.HasSuffix(pattern, "/") {
			return true
		}
		pattern = strings.TrimSuffix(pattern, "{$}") // "GET /{$}" is exactly "GET /"
		served[param.ReplaceAllString(pattern, "{}")] = true
		return true
	})
	if len(served) < 30 {
		t.Fatalf("read only %d routes from api/server.go", len(served))
	}
	documented := map[string]bool{}
	for path, item := range openapiContract.doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+param.ReplaceAllString(path, "{}")] = true
		}
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("%s is served but not in api/openapi.yaml", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("%s is in api/openapi.yaml but not served", r)
		}
	}
}
