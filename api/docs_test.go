package api

import (
	"strings"
	"testing"
)

func TestYAMLToJSON(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"keeps written order", "b: 1\na: 2\nc: 3\n", `{"b":1,"a":2,"c":3}`},
		{"scalars keep their resolved type", "s: text\nv: 1.0.0\ni: 42\nf: 0.5\nt: true\nn: null\nq: '200'\n",
			`{"s":"text","v":"1.0.0","i":42,"f":0.5,"t":true,"n":null,"q":"200"}`},
		{"numeric keys become strings", "'200':\n  ok: yes\n201: {}\n", `{"200":{"ok":"yes"},"201":{}}`},
		{"timestamps stay as written", "at: 2026-11-02T09:15:27Z\nday: 2026-11-02\n", `{"at":"2026-11-02T09:15:27Z","day":"2026-11-02"}`},
		{"sequences and nesting", "tags: [a, b]\nx:\n  - {k: v}\n", `{"tags":["a","b"],"x":[{"k":"v"}]}`},
		{"anchors and aliases", "a: &one {k: 1}\nb: *one\n", `{"a":{"k":1},"b":{"k":1}}`},
		{"text is escaped", "d: \"say \\\"hi\\\" <b>\"\n", `{"d":"say \"hi\" \u003cb\u003e"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := YAMLToJSON([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestYAMLToJSONRejects(t *testing.T) {
	for _, src := range []string{"a: [\n", "? [a, b]\n: c\n", "a: .inf\n"} {
		if out, err := YAMLToJSON([]byte(src)); err == nil {
			t.Errorf("%q converted to %s", src, out)
		}
	}
}

// The embedded document converts, and the page's policy allows exactly its inline script.
func TestOpenAPIJSONAndDocsPage(t *testing.T) {
	doc, err := openapiJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(doc), `{"openapi":"3.1.0"`) {
		t.Errorf("document starts %.40s", doc)
	}
	if !strings.Contains(string(docsPage), "<script>"+docsInit+"</script>") {
		t.Error("page does not hold the script its policy hashes")
	}
	if !strings.Contains(string(docsPage), `src="`+docsScriptPath+`"`) {
		t.Error("page does not load the bundle from its route")
	}
}
