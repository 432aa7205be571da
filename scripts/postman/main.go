// Command postman writes the API's Postman collection (format v2.1) from its OpenAPI
// document, so that the collection never says anything the document does not:
//
//	go run ./scripts/postman                 # writes docs/memoryd.postman_collection.json
//	go run ./scripts/postman -out FILE
//
// One folder per tag, in the document's tag order; one request per operation, in path
// order, with its parameters, headers, example body and example success answer. The
// collection authenticates with a bearer {{apiKey}} (the operator API with
// {{adminToken}}) against {{baseUrl}}.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"

	"go.yaml.in/yaml/v4"

	"memoryd/api"
)

func main() {
	in := flag.String("in", "api/openapi.yaml", "the OpenAPI document")
	out := flag.String("out", "docs/memoryd.postman_collection.json", "where to write the collection")
	flag.Parse()
	src, err := os.ReadFile(*in)
	if err == nil {
		var b []byte
		if b, err = generate(src); err == nil {
			err = os.WriteFile(*out, b, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "postman:", err)
		os.Exit(1)
	}
}

const schemaURL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"

type collection struct {
	Info     info       `json:"info"`
	Auth     *auth      `json:"auth,omitempty"`
	Variable []variable `json:"variable"`
	Item     []*folder  `json:"item"`
}

type info struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Version     string `json:"version,omitempty"`
	Schema      string `json:"schema"`
}

type auth struct {
	Type   string     `json:"type"`
	Bearer []variable `json:"bearer,omitempty"`
}

type variable struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Type        string `json:"type,omitempty"`
	Description string `json:"description,omitempty"`
	Disabled    bool   `json:"disabled,omitempty"`
}

type folder struct {
	Name        string  `json:"name"`
	Description string  `json:"description,omitempty"`
	Item        []*item `json:"item"`
}

type item struct {
	ID       string     `json:"id"` // the operationId
	Name     string     `json:"name"`
	Request  request    `json:"request"`
	Response []response `json:"response"`
}

type request struct {
	Method      string     `json:"method"`
	Auth        *auth      `json:"auth,omitempty"`
	Header      []variable `json:"header"`
	URL         url        `json:"url"`
	Body        *body      `json:"body,omitempty"`
	Description string     `json:"description,omitempty"`
}

type url struct {
	Raw      string     `json:"raw"`
	Host     []string   `json:"host"`
	Path     []string   `json:"path"`
	Query    []variable `json:"query,omitempty"`
	Variable []variable `json:"variable,omitempty"`
}

type body struct {
	Mode    string       `json:"mode"`
	Raw     string       `json:"raw"`
	Options *bodyOptions `json:"options,omitempty"`
}

type bodyOptions struct {
	Raw struct {
		Language string `json:"language"`
	} `json:"raw"`
}

type response struct {
	Name     string     `json:"name"`
	Status   string     `json:"status"`
	Code     int        `json:"code"`
	Language string     `json:"_postman_previewlanguage"`
	Header   []variable `json:"header"`
	Body     string     `json:"body"`
}

// generate turns the YAML document into the collection's JSON. It reads the YAML node
// tree rather than a Go map so that folders, requests and example fields keep the
// document's order.
func generate(src []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, err
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		return nil, fmt.Errorf("not one YAML document")
	}
	g := &generator{doc: root.Content[0]}
	c, err := g.collection()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // descriptions hold <key> and the like
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type generator struct{ doc *yaml.Node }

var methods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true, "patch": true, "trace": true}

func (g *generator) collection() (*collection, error) {
	infoNode := g.get(g.doc, "info")
	c := &collection{
		Info: info{
			Name:        str(g.get(infoNode, "title")),
			Description: str(g.get(infoNode, "description")),
			Version:     str(g.get(infoNode, "version")),
			Schema:      schemaURL,
		},
		Auth: bearer("apiKey"),
		Variable: []variable{
			{Key: "baseUrl", Value: g.serverURL(), Type: "string", Description: "Where memoryd listens."},
			{Key: "apiKey", Value: "", Type: "string", Description: "An API key: mem_live_… or mem_test_… (the first start prints the default org's admin key)."},
			{Key: "adminToken", Value: "", Type: "string", Description: "The operator's admin token (MEMORYD_ADMIN_TOKEN), for the Admin folder only."},
		},
	}
	folders := map[string]*folder{}
	for _, t := range seq(g.get(g.doc, "tags")) {
		f := &folder{Name: str(g.get(t, "name")), Description: str(g.get(t, "description")), Item: []*item{}}
		folders[f.Name] = f
		c.Item = append(c.Item, f)
	}
	for _, p := range pairs(g.get(g.doc, "paths")) {
		path, pathItem := p[0].Value, g.resolve(p[1])
		var shared []*yaml.Node
		for _, q := range pairs(pathItem) {
			if q[0].Value == "parameters" {
				shared = seq(q[1])
			}
		}
		for _, q := range pairs(pathItem) {
			if !methods[q[0].Value] {
				continue
			}
			it, tag, err := g.operation(strings.ToUpper(q[0].Value), path, q[1], shared)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", strings.ToUpper(q[0].Value), path, err)
			}
			f := folders[tag]
			if f == nil { // a tag the document does not declare: a folder all the same
				f = &folder{Name: tag, Item: []*item{}}
				folders[tag] = f
				c.Item = append(c.Item, f)
			}
			f.Item = append(f.Item, it)
		}
	}
	// Tags with no operations (the document describes webhooks under some) get no folder.
	kept := c.Item[:0]
	for _, f := range c.Item {
		if len(f.Item) > 0 {
			kept = append(kept, f)
		}
	}
	c.Item = kept
	return c, nil
}

func (g *generator) serverURL() string {
	if s := seq(g.get(g.doc, "servers")); len(s) > 0 {
		return strings.TrimSuffix(str(g.get(s[0], "url")), "/")
	}
	return "http://127.0.0.1:8080"
}

func (g *generator) operation(method, path string, op *yaml.Node, shared []*yaml.Node) (*item, string, error) {
	id := str(g.get(op, "operationId"))
	if id == "" {
		return nil, "", fmt.Errorf("no operationId")
	}
	tag := "Other"
	if tags := seq(g.get(op, "tags")); len(tags) > 0 {
		tag = str(tags[0])
	}
	name := str(g.get(op, "summary"))
	if name == "" {
		name = id
	}
	req := request{Method: method, Header: []variable{}, Description: str(g.get(op, "description"))}
	req.Auth = g.operationAuth(op)

	var segments []string
	for _, s := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			s = ":" + s[1:len(s)-1]
		}
		segments = append(segments, s)
	}
	u := url{Host: []string{"{{baseUrl}}"}, Path: segments}
	var enabledQuery []string
	for _, pn := range append(append([]*yaml.Node{}, shared...), seq(g.get(op, "parameters"))...) {
		p := g.resolve(pn)
		pname, in := str(g.get(p, "name")), str(g.get(p, "in"))
		required := str(g.get(p, "required")) == "true"
		v := variable{Key: pname, Value: g.exampleValue(p), Description: oneLine(str(g.get(p, "description")))}
		switch in {
		case "path":
			u.Variable = append(u.Variable, v)
		case "query":
			v.Disabled = !required
			if required {
				enabledQuery = append(enabledQuery, pname+"="+v.Value)
			}
			u.Query = append(u.Query, v)
		case "header":
			switch {
			case pname == "Idempotency-Key":
				v.Value = "{{$guid}}" // a new key each send, as the SDKs do
			case !required:
				v.Disabled = true
			}
			req.Header = append(req.Header, v)
		}
	}
	u.Raw = "{{baseUrl}}/" + strings.Join(segments, "/")
	if len(enabledQuery) > 0 {
		u.Raw += "?" + strings.Join(enabledQuery, "&")
	}
	req.URL = u

	if rb := g.resolve(g.get(op, "requestBody")); rb != nil {
		if media := g.get(g.get(rb, "content"), "application/json"); media != nil {
			raw, err := g.example(media)
			if err != nil {
				return nil, "", err
			}
			if raw == "" {
				raw = "{}"
			}
			req.Header = append([]variable{{Key: "Content-Type", Value: "application/json"}}, req.Header...)
			b := &body{Mode: "raw", Raw: raw, Options: &bodyOptions{}}
			b.Options.Raw.Language = "json"
			req.Body = b
		}
	}

	it := &item{ID: id, Name: name, Request: req, Response: []response{}}
	for _, r := range pairs(g.get(op, "responses")) {
		code := 0
		if _, err := fmt.Sscanf(r[0].Value, "%d", &code); err != nil || code < 200 || code > 299 {
			continue
		}
		resp := g.resolve(r[1])
		for _, m := range pairs(g.get(resp, "content")) {
			if m[0].Value != "application/json" {
				continue
			}
			raw, err := g.example(m[1])
			if err != nil {
				return nil, "", err
			}
			if raw == "" {
				continue
			}
			it.Response = append(it.Response, response{
				Name:     fmt.Sprintf("%d %s", code, oneLine(str(g.get(resp, "description")))),
				Status:   http.StatusText(code),
				Code:     code,
				Language: "json",
				Header:   []variable{{Key: "Content-Type", Value: "application/json"}},
				Body:     raw,
			})
		}
		break // the first success answer is the one worth showing
	}
	return it, tag, nil
}

// operationAuth is nil where the collection's bearer {{apiKey}} applies.
func (g *generator) operationAuth(op *yaml.Node) *auth {
	sec := g.get(op, "security")
	if sec == nil {
		return nil
	}
	reqs := seq(sec)
	if len(reqs) == 0 {
		return &auth{Type: "noauth"}
	}
	for _, p := range pairs(reqs[0]) {
		if p[0].Value == "adminToken" {
			return bearer("adminToken")
		}
	}
	return nil
}

func bearer(variableName string) *auth {
	return &auth{Type: "bearer", Bearer: []variable{{Key: "token", Value: "{{" + variableName + "}}", Type: "string"}}}
}

// example is a media type's example, or its first named one, as indented JSON; "" if
// the document gives none.
func (g *generator) example(media *yaml.Node) (string, error) {
	ex := g.get(media, "example")
	if ex == nil {
		if named := pairs(g.get(media, "examples")); len(named) > 0 {
			ex = g.get(g.resolve(named[0][1]), "value")
		}
	}
	if ex == nil {
		return "", nil
	}
	return indentedJSON(ex)
}

// exampleValue is a parameter's value for the collection: its example, else its
// schema's default, else empty.
func (g *generator) exampleValue(p *yaml.Node) string {
	if ex := g.get(p, "example"); ex != nil {
		return str(ex)
	}
	if d := g.get(g.resolve(g.get(p, "schema")), "default"); d != nil {
		return str(d)
	}
	return ""
}

func indentedJSON(n *yaml.Node) (string, error) {
	src, err := yaml.Marshal(n)
	if err != nil {
		return "", err
	}
	compact, err := api.YAMLToJSON(src)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, compact, "", "  "); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// get is a mapping's value for key, following a $ref on the mapping itself.
func (g *generator) get(m *yaml.Node, key string) *yaml.Node {
	m = g.resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// resolve follows local references (#/components/...) until it reaches a node without one.
func (g *generator) resolve(n *yaml.Node) *yaml.Node {
	for hops := 0; n != nil && n.Kind == yaml.MappingNode && hops < 16; hops++ {
		var ref string
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "$ref" {
				ref = n.Content[i+1].Value
			}
		}
		if !strings.HasPrefix(ref, "#/") {
			return n
		}
		target := g.doc
		for _, part := range strings.Split(ref[2:], "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			var next *yaml.Node
			for i := 0; target != nil && i+1 < len(target.Content); i += 2 {
				if target.Content[i].Value == part {
					next = target.Content[i+1]
				}
			}
			target = next
		}
		n = target
	}
	return n
}

func pairs(m *yaml.Node) [][2]*yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	out := make([][2]*yaml.Node, 0, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		out = append(out, [2]*yaml.Node{m.Content[i], m.Content[i+1]})
	}
	return out
}

func seq(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

func str(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
