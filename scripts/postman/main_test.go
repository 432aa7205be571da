package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

const (
	docPath        = "../../api/openapi.yaml"
	collectionPath = "../../docs/memoryd.postman_collection.json"
)

// The committed collection is what the generator makes from the document today.
func TestCollectionIsUpToDate(t *testing.T) {
	src, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := generate(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(collectionPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		fresh := t.TempDir() + "/memoryd.postman_collection.json"
		_ = os.WriteFile(fresh, want, 0o644)
		t.Fatalf("docs/memoryd.postman_collection.json is stale (fresh copy: %s); run `go run ./scripts/postman` and commit it", fresh)
	}
}

// Every operation of the document is one request, with its method and path, and the
// collection is the v2.1 shape Postman imports.
func TestCollectionHasEveryOperation(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	var want []string
	for path, pi := range doc.Paths.Map() {
		for method, op := range pi.Operations() {
			want = append(want, op.OperationID+" "+method+" "+postmanPath(path))
		}
	}
	slices.Sort(want)

	raw, err := os.ReadFile(collectionPath)
	if err != nil {
		t.Fatal(err)
	}
	var c collection
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if c.Info.Schema != schemaURL {
		t.Errorf("schema %q", c.Info.Schema)
	}
	if c.Auth == nil || c.Auth.Type != "bearer" || c.Auth.Bearer[0].Value != "{{apiKey}}" {
		t.Errorf("collection auth %+v, want bearer {{apiKey}}", c.Auth)
	}
	vars := map[string]bool{}
	for _, v := range c.Variable {
		vars[v.Key] = true
	}
	if !vars["baseUrl"] || !vars["apiKey"] {
		t.Errorf("variables %v lack baseUrl or apiKey", c.Variable)
	}
	var got []string
	for _, f := range c.Item {
		for _, it := range f.Item {
			got = append(got, it.ID+" "+it.Request.Method+" /"+strings.Join(it.Request.URL.Path, "/"))
			if !strings.HasPrefix(it.Request.URL.Raw, "{{baseUrl}}/") {
				t.Errorf("%s: url %q", it.ID, it.Request.URL.Raw)
			}
			if it.Request.Body != nil && !json.Valid([]byte(it.Request.Body.Raw)) {
				t.Errorf("%s: example body is not JSON", it.ID)
			}
			op := doc.Paths.Find(pathFromPostman(it.Request.URL.Path)).GetOperation(it.Request.Method)
			if op != nil && op.Tags[0] != f.Name {
				t.Errorf("%s is in folder %s, tagged %s", it.ID, f.Name, op.Tags[0])
			}
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("requests differ from the document's operations:\n got %v\nwant %v", got, want)
	}
}

func postmanPath(p string) string {
	return strings.NewReplacer("{", ":", "}", "").Replace(p)
}

func pathFromPostman(segments []string) string {
	out := make([]string, len(segments))
	for i, s := range segments {
		if strings.HasPrefix(s, ":") {
			s = "{" + s[1:] + "}"
		}
		out[i] = s
	}
	return "/" + strings.Join(out, "/")
}
