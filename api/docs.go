package api

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.yaml.in/yaml/v4"
)

// The OpenAPI document is embedded as written, so /openapi.json always describes the
// binary that serves it.
//
//go:embed openapi.yaml
var openapiYAML []byte

// The API reference page is Redoc's standalone bundle, vendored from npm (redoc 2.5.4,
// bundles/redoc.standalone.js, MIT, see docs/LICENSE): the page works offline and makes
// no request to any other host (the bundle's one remote image, Redocly's logo in the
// menu footer, is refused by the page's Content-Security-Policy).
//
//go:embed docs/redoc.standalone.js
var redocJS []byte

// redocETag names the bundle's content for conditional requests.
var redocETag = func() string {
	sum := sha256.Sum256(redocJS)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}()

// docsScriptPath is where the page loads the bundle from; it carries the Redoc version so
// that a browser's cached copy never outlives an upgrade.
const docsScriptPath = "/docs/redoc-2.5.4.standalone.js"

// docsInit starts Redoc on the document. It is inline (allowed by its hash in the page's
// Content-Security-Policy) and uses system fonts: Redoc's default theme names Google
// fonts that a page with no network could not load.
const docsInit = `Redoc.init("/openapi.json", {
  expandResponses: "200,201,202",
  jsonSampleExpandLevel: 3,
  theme: {
    typography: {
      fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
      headings: { fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" },
      code: { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" }
    }
  }
}, document.getElementById("redoc"));`

var docsPage = []byte(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>memoryd API reference</title>
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<div id="redoc"></div>
<script src="` + docsScriptPath + `"></script>
<script>` + docsInit + `</script>
</body>
</html>
`)

// docsCSP lets the page run its own two scripts and nothing else. Redoc injects its
// styles inline, draws icons from data: URIs and runs its search in a worker made from a
// blob; it fetches only /openapi.json.
var docsCSP = func() string {
	sum := sha256.Sum256([]byte(docsInit))
	return "default-src 'none'; script-src 'self' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; " +
		"worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}()

// openapiJSON converts the embedded YAML once, on first use, keeping the document's key
// order (Redoc lists operations in path order).
var openapiJSON = sync.OnceValues(func() ([]byte, error) { return YAMLToJSON(openapiYAML) })

func (s *Server) getOpenAPI(w http.ResponseWriter, r *http.Request) {
	doc, err := openapiJSON()
	if err != nil {
		s.log.Error("convert api/openapi.yaml", "err", err)
		fail(w, r, errInternal)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
}

func (s *Server) getDocs(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", docsCSP)
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(docsPage)
}

// getDocsScript serves the vendored bundle; its path is versioned, so it may be cached
// for a long time.
func (s *Server) getDocsScript(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", redocETag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(redocJS))
}

// YAMLToJSON converts a YAML document to JSON, keeping mappings in their written order
// (a Go map would sort them). scripts/postman uses it for the collection's examples.
func YAMLToJSON(src []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := writeJSONNode(&buf, &root); err != nil {
		return nil, err
	}
	if !json.Valid(buf.Bytes()) {
		return nil, fmt.Errorf("openapi: conversion produced invalid JSON")
	}
	return buf.Bytes(), nil
}

func writeJSONNode(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("openapi: line %d: want one document", n.Line)
		}
		return writeJSONNode(buf, n.Content[0])
	case yaml.AliasNode:
		return writeJSONNode(buf, n.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("openapi: line %d: mapping key is not a scalar", k.Line)
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			key, _ := json.Marshal(k.Value)
			buf.Write(key)
			buf.WriteByte(':')
			if err := writeJSONNode(buf, v); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSONNode(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		return writeJSONScalar(buf, n)
	default:
		return fmt.Errorf("openapi: line %d: unexpected YAML node", n.Line)
	}
	return nil
}

// writeJSONScalar writes a scalar as the type YAML resolved it to: 1.0.0 stays a string,
// 200 a number (JSON has no integer keys, and responses' status codes are keys anyway).
func writeJSONScalar(buf *bytes.Buffer, n *yaml.Node) error {
	var v any
	switch n.ShortTag() {
	case "!!str", "!!binary", "!!timestamp":
		v = n.Value
	default:
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("openapi: line %d: %w", n.Line, err)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("openapi: line %d: %w", n.Line, err)
	}
	buf.Write(b)
	return nil
}
