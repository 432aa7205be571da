package webui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestHandlerServesPagesWithPolicy(t *testing.T) {
	h := Handler()
	for _, tc := range []struct {
		path, ctype string
		status      int
	}{
		{"/", "text/html", 200},
		{"/admin", "text/html", 200},
		{"/ui/app.js", "text/javascript", 200},
		{"/ui/admin.js", "text/javascript", 200},
		{"/ui/common.js", "text/javascript", 200},
		{"/ui/style.css", "text/css", 200},
		{"/ui/vendor/uPlot.esm.js", "text/javascript", 200},
		{"/ui/vendor/uPlot.min.css", "text/css", 200},
		{"/ui/vendor/LICENSE", "", 200},
		{"/ui/index.html", "", 404}, // pages only at their own paths
		{"/ui/nope.js", "", 404},
		{"/ui/vendor", "", 404},
		{"/ui/../webui.go", "", 404},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if rec.Code != tc.status {
			t.Errorf("%s: %d, want %d", tc.path, rec.Code, tc.status)
			continue
		}
		if tc.status != 200 {
			continue
		}
		if got := rec.Header().Get("Content-Security-Policy"); got != CSP {
			t.Errorf("%s: policy %q", tc.path, got)
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), tc.ctype) {
			t.Errorf("%s: Content-Type %q", tc.path, rec.Header().Get("Content-Type"))
		}
	}
}

// The pages are self-contained: no inline script or style (the policy forbids them) and
// no address of another host in our own files (the vendored library is checked by the
// browser test, which records every request).
func TestStaticFilesSelfContained(t *testing.T) {
	inline := regexp.MustCompile(`(?i)<script(?:\s+type="module")?\s*>|<style|\sstyle=|\son[a-z]+=`)
	remote := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err := fs.WalkDir(files, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(path, "static/vendor/") {
			return err
		}
		raw, err := files.ReadFile(path)
		if err != nil {
			return err
		}
		text := string(raw)
		if strings.HasSuffix(path, ".html") && inline.MatchString(text) {
			t.Errorf("%s has inline script, style or handler: %q", path, inline.FindString(text))
		}
		if m := remote.FindString(strings.ReplaceAll(text, "http://www.w3.org/2000/svg", "")); m != "" {
			t.Errorf("%s names another host: %s", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var _ http.Handler = Handler()
