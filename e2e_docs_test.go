package main

// The served API reference: /openapi.json is the embedded YAML document as JSON, and
// /docs renders it with scripts the binary serves itself.

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

func init() {
	// The reference page is HTML; the contract checks it as a string.
	openapi3filter.RegisterBodyDecoder("text/html",
		func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(body)
			return string(b), err
		})
}

func TestOpenAPIDocumentServed(t *testing.T) {
	s := startServer(t, "")
	r := s.do(t, req{method: "GET", path: "/openapi.json"})
	if r.Status != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d %.300s", r.Status, r.Raw)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	doc, err := openapi3.NewLoader().LoadFromData(r.Raw)
	if err != nil {
		t.Fatalf("served document does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("served document is not valid OpenAPI: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	// The contract test's copy was loaded from api/openapi.yaml.
	want := operations(openapiContract.doc)
	if got := operations(doc); !slices.Equal(got, want) {
		t.Errorf("served operations differ from api/openapi.yaml:\n got %v\nwant %v", got, want)
	}
	if len(doc.Webhooks) != len(openapiContract.doc.Webhooks) {
		t.Errorf("served %d webhooks, the YAML has %d", len(doc.Webhooks), len(openapiContract.doc.Webhooks))
	}
	// Written order is kept (Redoc lists operations in it): the first path comes first.
	if i, j := strings.Index(string(r.Raw), `"/v1/memories"`), strings.Index(string(r.Raw), `"/healthz"`); i < 0 || j < i {
		t.Errorf("paths are not in the document's order")
	}
	// No key needed, and no envelope.
	if strings.Contains(string(r.Raw[:min(len(r.Raw), 200)]), `"success"`) {
		t.Errorf("document is wrapped in the envelope")
	}
}

// operations lists "METHOD path operationId" for every operation of a document.
func operations(doc *openapi3.T) []string {
	var ops []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, method+" "+path+" "+op.OperationID)
		}
	}
	slices.Sort(ops)
	return ops
}

var (
	scriptSrc = regexp.MustCompile(`<script[^>]*\ssrc="([^"]*)"`)
	linkHref  = regexp.MustCompile(`<link[^>]*\shref="([^"]*)"`)
	anyURL    = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
)

func TestDocsPageIsSelfContained(t *testing.T) {
	s := startServer(t, "")
	r := s.do(t, req{method: "GET", path: "/docs"})
	if r.Status != http.StatusOK {
		t.Fatalf("GET /docs: %d %.300s", r.Status, r.Raw)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type %q", ct)
	}
	page := string(r.Raw)
	if u := anyURL.FindString(page); u != "" {
		t.Errorf("page names another host: %s", u)
	}
	for _, m := range linkHref.FindAllStringSubmatch(page, -1) {
		t.Errorf("page loads a stylesheet or font: %s", m[1])
	}
	if !strings.Contains(page, `Redoc.init("/openapi.json"`) {
		t.Errorf("page does not render /openapi.json")
	}
	srcs := scriptSrc.FindAllStringSubmatch(page, -1)
	if len(srcs) == 0 {
		t.Fatal("page has no script")
	}
	for _, m := range srcs {
		src := m[1]
		if !strings.HasPrefix(src, "/") || strings.HasPrefix(src, "//") {
			t.Errorf("script %q is not served by memoryd", src)
			continue
		}
		// Static files of the page, not API operations: fetched outside the contract check.
		resp, err := httpClient.Get(s.base + src)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") || len(js) < 100_000 {
			t.Errorf("GET %s: %d %s, %d bytes", src, resp.StatusCode, resp.Header.Get("Content-Type"), len(js))
		}
		if strings.Contains(string(js), "fonts.googleapis") {
			t.Errorf("%s loads Google fonts", src)
		}
		// A second fetch with the ETag is answered from the browser's cache.
		again, _ := http.NewRequest("GET", s.base+src, nil)
		again.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		resp2, err := httpClient.Do(again)
		if err != nil {
			t.Fatal(err)
		}
		resp2.Body.Close()
		if resp2.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", src, resp2.StatusCode)
		}
	}
	// The page's policy runs only its own scripts and connects only back to memoryd.
	csp := r.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self' 'sha256-", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if anyURL.MatchString(csp) {
		t.Errorf("Content-Security-Policy allows another host: %q", csp)
	}
}

// The shell examples in docs/ marked <!-- run --> work as printed. Each page runs in one
// shell from the repository root (so a page's later examples can use the ids its earlier
// ones saved) against its own fresh server, with MEMORYD_KEY set to the first-start key,
// MEMORYD_ADMIN_TOKEN to the operator token and MEMORYD_BASE_URL to the server. Run with
// -v to see what they print. (The Python and JavaScript examples are run by the SDKs'
// own suites: sdk/python/tests/test_examples.py, sdk/js/test/examples.test.js.)
func TestDocsExamples(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq", "python3", "node"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed")
		}
	}
	pages, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	guides, _ := filepath.Glob("docs/*/*.md")
	pages = append(pages, guides...)
	block := regexp.MustCompile("(?s)<!-- run -->\\s*```sh\\n(.*?)```")
	ran := 0
	for _, page := range pages {
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		blocks := block.FindAllSubmatch(text, -1)
		if len(blocks) == 0 {
			continue
		}
		t.Run(page, func(t *testing.T) {
			var script strings.Builder
			script.WriteString("set -euo pipefail\n")
			for _, b := range blocks {
				script.Write(b[1])
				script.WriteString("\n")
			}
			s := startServer(t, "")
			if s.firstKey == "" {
				t.Fatal("no first-start key")
			}
			cmd := exec.Command("bash", "-c", strings.ReplaceAll(script.String(), "http://127.0.0.1:8080", s.base))
			cmd.Env = append(os.Environ(), "MEMORYD_KEY="+s.firstKey, "MEMORYD_ADMIN_TOKEN="+testAdminToken,
				"MEMORYD_BASE_URL="+s.base, "MEMORYD_API_KEY=")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("examples of %s failed: %v\n%s", page, err, out)
			}
			t.Logf("%s:\n%s", page, out)
		})
		ran += len(blocks)
	}
	if ran < 10 {
		t.Fatalf("only %d runnable examples in docs/", ran)
	}
}
