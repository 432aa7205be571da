package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func masterKeyB64(t *testing.T) string {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

// runFails runs the binary expecting it to exit with an error, and returns its output.
func runFails(t *testing.T, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("memoryd %v succeeded; output:\n%s", args, out)
	}
	return string(out)
}

// With a master key no memory text reaches the bbolt file; a wrong key or none is
// refused at start with a clear error; rekey rotates the key.
func TestEncryptionAtRestE2E(t *testing.T) {
	const phrase = "Quetzalcoatl-7731 is my grandmother's maiden name"
	key := masterKeyB64(t)
	env := "MEMORYD_ENCRYPTION_MASTER_KEY=" + key
	s := startServer(t, "", env)
	if !strings.Contains(s.stderr.String(), "encryption at rest: on") {
		t.Fatalf("start does not say encryption is on:\n%s", s.stderr.String())
	}
	_, admin := s.newOrg(t, "enc", "pro")
	m := s.createMemory(t, admin, map[string]any{"text": phrase, "metadata": map[string]any{"secret": phrase}})
	s.ok(t, 201, req{method: "POST", path: "/v1/batch/memories", key: admin, header: map[string]string{"Idempotency-Key": "enc-1"},
		body: map[string]any{"memories": []any{map[string]any{"text": phrase + " (batch)"}}}}, nil)
	s.ok(t, 200, req{method: "PUT", path: "/v1/memories/" + m.ID, key: admin, body: map[string]any{"text": phrase + " (updated)"}}, nil)
	s.stop()

	raw, err := os.ReadFile(filepath.Join(s.data, "memoryd.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("Quetzalcoatl")) {
		t.Fatal("the bbolt file holds memory text in the clear")
	}

	out := runFails(t, []string{"MEMORYD_ENCRYPTION_MASTER_KEY=" + masterKeyB64(t)}, "serve", "--listen", "127.0.0.1:0", "--data", s.data)
	if !strings.Contains(out, "master key does not unlock") {
		t.Fatalf("wrong key: %s", out)
	}
	out = runFails(t, []string{"MEMORYD_ENCRYPTION_MASTER_KEY="}, "serve", "--listen", "127.0.0.1:0", "--data", s.data)
	if !strings.Contains(out, "data folder is encrypted") {
		t.Fatalf("no key: %s", out)
	}

	newKey := masterKeyB64(t)
	cmd := exec.Command(binPath, "rekey", "--data", s.data)
	cmd.Env = append(os.Environ(), env, "MEMORYD_NEW_MASTER_KEY="+newKey)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rekey: %v\n%s", err, out)
	}
	runFails(t, []string{env}, "serve", "--listen", "127.0.0.1:0", "--data", s.data)
	s2 := startServer(t, s.data, "MEMORYD_ENCRYPTION_MASTER_KEY="+newKey)
	var got memoryJSON
	s2.ok(t, 200, req{method: "GET", path: "/v1/memories/" + m.ID, key: admin}, &got)
	if got.Text != phrase+" (updated)" || got.Metadata["secret"] != phrase {
		t.Fatalf("read back %+v", got)
	}
	var found struct {
		Memories []memoryJSON `json:"memories"`
	}
	s2.ok(t, 200, req{method: "POST", path: "/v1/retrieve", key: admin, body: map[string]any{"context": "grandmother maiden name"}}, &found)
	if len(found.Memories) == 0 {
		t.Fatal("retrieval finds nothing after a restart of an encrypted store")
	}
}

// The server says so at start when it runs without encryption.
func TestUnencryptedStartWarns(t *testing.T) {
	s := startServer(t, "")
	if !strings.Contains(s.stderr.String(), "encryption at rest: OFF") {
		t.Fatalf("no warning:\n%s", s.stderr.String())
	}
}

// The audit log records each authenticated request with its caller, and never a key,
// a memory's text or a body; org admins and the operator read it, as pages or JSONL.
func TestAuditLogE2E(t *testing.T) {
	s := startServer(t, "")
	org, admin := s.newOrg(t, "audited", "pro")
	_, other := s.newOrg(t, "other", "pro")
	reader := s.newKey(t, admin, "live", "read")
	m := s.createMemory(t, admin, map[string]any{"text": "a very private sentence"})
	s.ok(t, 200, req{method: "GET", path: "/v1/memories/" + m.ID, key: reader.Key, header: map[string]string{"User-Agent": "attack-suite/1.0", "X-Request-ID": "audit-probe-1"}}, nil)
	s.fails(t, 403, "INSUFFICIENT_SCOPE", req{method: "DELETE", path: "/v1/memories/" + m.ID, key: reader.Key})
	s.fails(t, 403, "INSUFFICIENT_SCOPE", req{method: "GET", path: "/v1/account/audit", key: reader.Key})

	type event struct {
		ID, KeyID, Endpoint, IP, UserAgent, RequestID string
		Status                                        int
		OrgID                                         string `json:"org_id"`
	}
	var page struct {
		Events     []map[string]any `json:"events"`
		NextCursor *string          `json:"next_cursor"`
	}
	r := s.ok(t, 200, req{method: "GET", path: "/v1/account/audit?limit=100", key: admin}, &page)
	var probe map[string]any
	statuses := map[string]bool{}
	for _, ev := range page.Events {
		if ev["org_id"] != org.ID {
			t.Fatalf("event of another org: %v", ev)
		}
		if ev["request_id"] == "audit-probe-1" {
			probe = ev
		}
		statuses[ev["endpoint"].(string)+" "+jsonNumber(ev["status"])] = true
	}
	if probe == nil || probe["key_id"] != reader.ID || probe["endpoint"] != "GET /v1/memories/{id}" || probe["ip"] != "127.0.0.1" ||
		probe["user_agent"] != "attack-suite/1.0" || jsonNumber(probe["status"]) != "200" {
		t.Fatalf("probe event %v", probe)
	}
	for _, want := range []string{"POST /v1/memories 201", "DELETE /v1/memories/{id} 403", "GET /v1/account/audit 403"} {
		if !statuses[want] {
			t.Fatalf("no %q event in %v", want, statuses)
		}
	}
	if strings.Contains(string(r.Raw), "private sentence") || strings.Contains(string(r.Raw), admin) || strings.Contains(string(r.Raw), reader.Key) {
		t.Fatalf("audit log leaks a key or text: %s", r.Raw)
	}

	// Paging newest first.
	var p1 struct {
		Events     []map[string]any `json:"events"`
		NextCursor *string          `json:"next_cursor"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/account/audit?limit=2", key: admin}, &p1)
	if len(p1.Events) != 2 || p1.NextCursor == nil || p1.Events[0]["id"].(string) < p1.Events[1]["id"].(string) {
		t.Fatalf("first page %v", p1)
	}

	// JSONL export, oldest first, and the operator's copy.
	for _, q := range []req{
		{method: "GET", path: "/v1/account/audit?format=jsonl", key: admin},
		{method: "GET", path: "/v1/admin/orgs/" + org.ID + "/audit?format=jsonl", key: testAdminToken},
	} {
		r := s.do(t, q)
		if r.Status != 200 || r.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("%s: %d %s", q.path, r.Status, r.Header.Get("Content-Type"))
		}
		sc := bufio.NewScanner(bytes.NewReader(r.Raw))
		n, last := 0, ""
		for sc.Scan() {
			var ev event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			if ev.ID <= last {
				t.Fatalf("export not oldest first at %s", ev.ID)
			}
			last = ev.ID
			n++
		}
		if n < len(page.Events) || bytes.Contains(r.Raw, []byte("private sentence")) {
			t.Fatalf("%s: %d lines (page had %d)", q.path, n, len(page.Events))
		}
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/admin/orgs/" + org.ID + "/audit?limit=5", key: testAdminToken}, nil)
	s.fails(t, 400, "INVALID_REQUEST", req{method: "GET", path: "/v1/account/audit?format=xml", key: admin})
	s.fails(t, 401, "INVALID_API_KEY", req{method: "GET", path: "/v1/admin/orgs/" + org.ID + "/audit", key: admin})

	// The other org's log holds only its own calls.
	var theirs struct {
		Events []map[string]any `json:"events"`
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/account/audit?limit=100", key: other}, &theirs)
	for _, ev := range theirs.Events {
		if ev["org_id"] == org.ID {
			t.Fatalf("other org sees %v", ev)
		}
	}

	// Buffered events survive a graceful restart.
	s.stop()
	s2 := startServer(t, s.data)
	var again struct {
		Events []map[string]any `json:"events"`
	}
	s2.ok(t, 200, req{method: "GET", path: "/v1/account/audit?limit=100", key: admin}, &again)
	if len(again.Events) < len(page.Events)+2 {
		t.Fatalf("%d events after restart, had %d", len(again.Events), len(page.Events))
	}
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// CORS: an allowed origin gets its preflight and exposed headers, never credentials;
// any other origin gets no CORS headers at all.
func TestCORS(t *testing.T) {
	s := startServer(t, "", "MEMORYD_CORS_ALLOWED_ORIGINS=https://app.example")
	preflight := func(origin string) *http.Response {
		hr, _ := http.NewRequest("OPTIONS", s.base+"/v1/memories", nil)
		hr.Header.Set("Origin", origin)
		hr.Header.Set("Access-Control-Request-Method", "POST")
		hr.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := httpClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := preflight("https://app.example")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("allowed preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := preflight("https://evil.example"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("disallowed origin got %v", resp.Header)
	}
	r := s.do(t, req{method: "GET", path: "/v1/memories", key: s.firstKey, header: map[string]string{"Origin": "https://app.example"}})
	if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "X-Request-ID") ||
		r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("allowed origin: %v", r.Header)
	}
	r = s.do(t, req{method: "GET", path: "/v1/memories", key: s.firstKey, header: map[string]string{"Origin": "https://evil.example"}})
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("disallowed origin: %v", r.Header)
	}
}

// A client that dribbles its headers is cut off after read_header_timeout; headers
// over max_header_bytes get 431.
func TestSlowAndLargeHeaders(t *testing.T) {
	s := startServer(t, "", "MEMORYD_SERVER_READ_HEADER_TIMEOUT=1s", "MEMORYD_SERVER_MAX_HEADER_BYTES=8192")
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := conn.Read(buf); err != nil {
			break
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("slow client held the connection for %v", d)
	}

	hr, _ := http.NewRequest("GET", s.base+"/healthz", nil)
	hr.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err := httpClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("big headers: %d", resp.StatusCode)
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns their paths and
// a pool trusting the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "memoryd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// Over TLS the server speaks TLS 1.3, sends HSTS, refuses TLS 1.1, and its plain-HTTP
// listener only redirects to HTTPS.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	cmd := exec.Command(binPath, "serve", "--listen", "127.0.0.1:0", "--data", t.TempDir())
	cmd.Env = append(os.Environ(), "MEMORYD_TLS_CERT_FILE="+certFile, "MEMORYD_TLS_KEY_FILE="+keyFile,
		"MEMORYD_TLS_REDIRECT_LISTEN=127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	httpsRe := regexp.MustCompile(`listening on (https://\S+)`)
	redirRe := regexp.MustCompile(`redirecting (http://\S+) to https`)
	var base, redirect string
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(20 * time.Second)
	for base == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("memoryd exited; stderr:\n%s", stderr.String())
			}
			if m := httpsRe.FindStringSubmatch(l); m != nil {
				base = m[1]
			}
			if m := redirRe.FindStringSubmatch(l); m != nil {
				redirect = m[1]
			}
		case <-deadline:
			t.Fatalf("memoryd did not start; stderr:\n%s", stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()

	client := func(minV, maxV uint16) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: minV, MaxVersion: maxV}}}
	}
	resp, err := client(tls.VersionTLS13, 0).Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
		t.Fatalf("not TLS 1.3: %+v", resp.TLS)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=31536000") {
		t.Fatalf("HSTS %q", hsts)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("no security headers over TLS: %v", resp.Header)
	}
	// TLS 1.2 is still served (the minimum); TLS 1.1 is refused in the handshake.
	resp, err = client(tls.VersionTLS12, tls.VersionTLS12).Get(base + "/healthz")
	if err != nil {
		t.Fatalf("TLS 1.2: %v", err)
	}
	resp.Body.Close()
	if _, err := client(tls.VersionTLS10, tls.VersionTLS11).Get(base + "/healthz"); err == nil {
		t.Fatal("a TLS 1.1 client was served")
	}
	// Plain HTTP on the TLS port gets nothing useful either.
	if resp, err := httpClient.Get(strings.Replace(base, "https://", "http://", 1) + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served on the TLS port")
		}
	}

	if redirect == "" {
		t.Fatal("no redirect listener announced")
	}
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(redirect + "/v1/memories?limit=5")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != base+"/v1/memories?limit=5" {
		t.Fatalf("redirect: %d %q, want 308 to %s", resp.StatusCode, resp.Header.Get("Location"), base)
	}
}
