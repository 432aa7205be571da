// Package stripetest runs stripe-mock, Stripe's own stand-in (a `go tool` of this
// module), for tests: bound to 127.0.0.1 on both its HTTP and HTTPS ports, behind a
// recorder that keeps every request memoryd sends and can fail chosen ones.
// stripe-mock answers from Stripe's OpenAPI document and validates parameters, but
// keeps no state and sends no webhooks: tests sign the events Stripe would send.
package stripetest

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"
)

// Call is one request memoryd made to Stripe, as stripe-mock received it.
type Call struct {
	Method, Path   string
	Form           url.Values
	IdempotencyKey string
	Status         int // what the client got back
}

// Mock is a running stripe-mock with a recording front.
type Mock struct {
	// URL is the recorder's base URL, to configure as Stripe's base URL.
	URL string
	// HTTPAddr and HTTPSAddr are stripe-mock's own listeners.
	HTTPAddr, HTTPSAddr string

	mu    sync.Mutex
	calls []Call
	fail  func(Call) bool
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// build compiles stripe-mock at the version go.mod names, once per test process; the
// Go build cache makes later builds quick.
func build() (string, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "stripe-mock")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "stripe-mock")
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(gobin); err != nil {
			gobin = "go"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, gobin, "build", "-o", binary, "github.com/stripe/stripe-mock").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build stripe-mock: %v\n%s", err, out)
		}
	})
	return binary, buildErr
}

var listening = regexp.MustCompile(`Listening for (HTTPS?) at address: (\S+)`)

// Start runs stripe-mock for the test and waits until it answers; it stops with the
// test.
func Start(t testing.TB) *Mock {
	t.Helper()
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	// Port 0 on loopback: the system picks free ports, and stripe-mock prints them.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	m := &Mock{}
	addrs := make(chan [2]string, 2)
	var logMu sync.Mutex
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			logMu.Lock()
			log.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if g := listening.FindStringSubmatch(sc.Text()); g != nil {
				addrs <- [2]string{g[1], g[2]}
			}
		}
	}()
	// Generous: a loaded 2-core machine may take a while to start it.
	deadline := time.After(60 * time.Second)
	for m.HTTPAddr == "" || m.HTTPSAddr == "" {
		select {
		case a := <-addrs:
			if a[0] == "HTTP" {
				m.HTTPAddr = a[1]
			} else {
				m.HTTPSAddr = a[1]
			}
		case <-exited:
			logMu.Lock()
			defer logMu.Unlock()
			t.Fatalf("stripe-mock exited:\n%s", log.String())
		case <-deadline:
			t.Fatal("stripe-mock did not say where it listens within 60s")
		}
	}
	for _, a := range []string{m.HTTPAddr, m.HTTPSAddr} {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Fatalf("stripe-mock listens on %s, not on loopback only", a)
		}
	}
	target := &url.URL{Scheme: "http", Host: m.HTTPAddr}
	waitReady(t, target.String())
	waitReady(t, "https://"+m.HTTPSAddr) // its own self-signed certificate

	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(raw))
		c := Call{Method: r.Method, Path: r.URL.Path, Form: form, IdempotencyKey: r.Header.Get("Idempotency-Key")}
		m.mu.Lock()
		failIt := m.fail != nil && m.fail(c)
		m.mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		if failIt {
			// A refusal Stripe's client does not retry by itself, so the caller's own
			// retry is what the test sees.
			rec.Header().Set("Content-Type", "application/json")
			rec.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(rec, `{"error":{"type":"invalid_request_error","message":"failed by the test"}}`)
		} else {
			r.Body = io.NopCloser(strings.NewReader(string(raw)))
			r.ContentLength = int64(len(raw))
			proxy.ServeHTTP(rec, r)
		}
		c.Status = rec.status
		m.mu.Lock()
		m.calls = append(m.calls, c)
		m.mu.Unlock()
	}))
	t.Cleanup(front.Close)
	m.URL = front.URL
	return m
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// readyClient accepts stripe-mock's self-signed certificate, for the readiness check only.
var readyClient = &http.Client{Timeout: 5 * time.Second,
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

// waitReady polls stripe-mock until it answers an authenticated list call.
func waitReady(t testing.TB, base string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/customers", nil)
		req.Header.Set("Authorization", "Bearer sk_test_123")
		resp, err := readyClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripe-mock at %s not ready within 60s: %v", base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Calls returns the requests made so far whose path starts with prefix.
func (m *Mock) Calls(prefix string) []Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Call
	for _, c := range m.calls {
		if strings.HasPrefix(c.Path, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// FailWhen makes the recorder refuse (400) each request for which f is true, without
// passing it to stripe-mock; nil stops failing.
func (m *Mock) FailWhen(f func(Call) bool) {
	m.mu.Lock()
	m.fail = f
	m.mu.Unlock()
}

// SignedEvent is a Stripe event of type typ about object, signed with secret as
// Stripe signs it at time at: the body and its Stripe-Signature header.
func SignedEvent(t testing.TB, secret, id, typ string, object map[string]any, at time.Time) ([]byte, string) {
	t.Helper()
	payload, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": typ, "api_version": stripe.APIVersion, "created": at.Unix(),
		"livemode": false, "data": map[string]any{"object": object},
	})
	if err != nil {
		t.Fatal(err)
	}
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at})
	return sp.Payload, sp.Header
}
