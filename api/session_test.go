package api

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"memoryd/config"
	"memoryd/memory"
	"memoryd/meter"
	"memoryd/store"
)

const (
	testOperatorPassword = "a long operator password"
	testAdminToken       = "admin-token-0123456789abcdef"
)

// call is one request with optional bearer, cookies and headers; it returns the status,
// the decoded envelope and the answer's cookies.
type call struct {
	method, url, bearer, body string
	cookies                   []*http.Cookie
	header                    map[string]string
}

func (c call) do(t *testing.T) (int, map[string]any, []*http.Cookie) {
	t.Helper()
	var rd *strings.Reader
	if c.body != "" {
		rd = strings.NewReader(c.body)
	} else {
		rd = strings.NewReader("")
	}
	r, _ := http.NewRequest(c.method, c.url, rd)
	if c.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for _, ck := range c.cookies {
		r.AddCookie(ck)
	}
	for k, v := range c.header {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&env)
	return resp.StatusCode, env, resp.Cookies()
}

func errField(env map[string]any) (code, field string) {
	e, _ := env["error"].(map[string]any)
	if e == nil {
		return "", ""
	}
	d, _ := e["details"].(map[string]any)
	f, _ := d["field"].(string)
	return e["code"].(string), f
}

func dataOf(env map[string]any) map[string]any {
	d, _ := env["data"].(map[string]any)
	return d
}

func sessionConfig(t *testing.T) config.Config {
	hash, err := bcrypt.GenerateFromPassword([]byte(testOperatorPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Admin.PasswordBcrypt = string(hash)
	cfg.Admin.Token = testAdminToken
	return cfg
}

func countMemories(t *testing.T, base, key string) int {
	t.Helper()
	status, env := get(t, base+"/v1/memories?limit=100", key)
	if status != 200 {
		t.Fatalf("list: %d %v", status, env)
	}
	return len(dataOf(env)["memories"].([]any))
}

// The session cookie acts as the key; writes need the CSRF token and the own origin;
// revoking the key or signing out ends the session.
func TestSessionCookieActsAsKey(t *testing.T) {
	ts, key, _ := newConfiguredServer(t, sessionConfig(t), func(s *store.Store) memory.Store { return s })
	status, env, cookies := call{method: "POST", url: ts.URL + "/v1/session", body: `{"api_key":"` + key + `"}`}.do(t)
	if status != 201 || len(cookies) != 1 {
		t.Fatalf("sign in: %d %v cookies %v", status, env, cookies)
	}
	ck := cookies[0]
	if ck.Name != "memoryd_session" || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.MaxAge <= 0 || strings.Contains(ck.Value, key) {
		t.Fatalf("cookie %+v", ck)
	}
	csrf, _ := dataOf(env)["csrf_token"].(string)
	if len(csrf) < 40 || dataOf(env)["signed_in"] != true {
		t.Fatalf("session answer %v", env)
	}
	jar := []*http.Cookie{{Name: ck.Name, Value: ck.Value}}

	if status, env, _ := (call{method: "GET", url: ts.URL + "/v1/account", cookies: jar}).do(t); status != 200 {
		t.Fatalf("account with cookie: %d %v", status, env)
	}
	write := func(header map[string]string) (int, map[string]any) {
		status, env, _ := call{method: "POST", url: ts.URL + "/v1/memories", body: `{"text":"likes tea"}`, cookies: jar, header: header}.do(t)
		return status, env
	}
	for _, tc := range []struct {
		name   string
		header map[string]string
		field  string
	}{
		{"no token", nil, "X-CSRF-Token"},
		{"wrong token", map[string]string{"X-CSRF-Token": strings.Repeat("x", len(csrf))}, "X-CSRF-Token"},
		{"other origin", map[string]string{"X-CSRF-Token": csrf, "Origin": "https://evil.example"}, "Origin"},
	} {
		status, env := write(tc.header)
		if code, field := errField(env); status != 400 || code != "INVALID_REQUEST" || field != tc.field {
			t.Errorf("%s: %d %v", tc.name, status, env)
		}
	}
	if n := countMemories(t, ts.URL, key); n != 0 {
		t.Fatalf("refused writes stored %d memories", n)
	}
	if status, env := write(map[string]string{"X-CSRF-Token": csrf, "Origin": ts.URL}); status != 201 {
		t.Fatalf("write with token: %d %v", status, env)
	}
	if n := countMemories(t, ts.URL, key); n != 1 {
		t.Fatalf("%d memories after one write", n)
	}

	// A second key's session ends when that key is revoked.
	status, env, _ = call{method: "POST", url: ts.URL + "/v1/account/api-keys", bearer: key, body: `{"name":"b","scopes":["read"]}`}.do(t)
	if status != 201 {
		t.Fatalf("create key: %d %v", status, env)
	}
	k2 := dataOf(env)["api_key"].(map[string]any)
	_, _, c2 := call{method: "POST", url: ts.URL + "/v1/session", body: `{"api_key":"` + k2["key"].(string) + `"}`}.do(t)
	jar2 := []*http.Cookie{{Name: c2[0].Name, Value: c2[0].Value}}
	if status, _, _ := (call{method: "GET", url: ts.URL + "/v1/usage", cookies: jar2}).do(t); status != 200 {
		t.Fatalf("second session: %d", status)
	}
	if status, env, _ := (call{method: "DELETE", url: ts.URL + "/v1/account/api-keys/" + k2["id"].(string), bearer: key}).do(t); status != 200 {
		t.Fatalf("revoke: %d %v", status, env)
	}
	if status, env, _ := (call{method: "GET", url: ts.URL + "/v1/usage", cookies: jar2}).do(t); status != 401 {
		t.Fatalf("session of a revoked key: %d %v", status, env)
	}
	if _, env, _ := (call{method: "GET", url: ts.URL + "/v1/session", cookies: jar2}).do(t); dataOf(env)["signed_in"] != false {
		t.Fatalf("session of a revoked key still signed in: %v", env)
	}

	// Sign-out needs the token, then the cookie is dead.
	if status, _, _ := (call{method: "DELETE", url: ts.URL + "/v1/session", cookies: jar}).do(t); status != 400 {
		t.Fatalf("sign out without token: %d", status)
	}
	status, env, cleared := call{method: "DELETE", url: ts.URL + "/v1/session", cookies: jar, header: map[string]string{"X-CSRF-Token": csrf}}.do(t)
	if status != 200 || len(cleared) != 1 || cleared[0].MaxAge >= 0 {
		t.Fatalf("sign out: %d %v %v", status, env, cleared)
	}
	if status, _, _ := (call{method: "GET", url: ts.URL + "/v1/account", cookies: jar}).do(t); status != 401 {
		t.Fatalf("cookie after sign-out: %d", status)
	}
	// The customer's cookie is no operator session.
	if status, _, _ := (call{method: "GET", url: ts.URL + "/v1/admin/orgs", cookies: []*http.Cookie{{Name: "memoryd_operator", Value: ck.Value}}}).do(t); status != 401 {
		t.Fatalf("customer cookie on the operator API: %d", status)
	}
}

func TestSessionSignInErrors(t *testing.T) {
	ts, key, _ := newConfiguredServer(t, sessionConfig(t), func(s *store.Store) memory.Store { return s })
	for _, tc := range []struct {
		name, body, ctype string
		status            int
		code              string
	}{
		{"missing key", `{}`, "", 400, "INVALID_REQUEST"},
		{"unknown field", `{"api_key":"` + key + `","remember":true}`, "", 400, "INVALID_REQUEST"},
		{"malformed key", `{"api_key":"mem_live_short"}`, "", 401, "INVALID_API_KEY"},
		{"unknown key", `{"api_key":"mem_live_` + strings.Repeat("A", 32) + `"}`, "", 401, "INVALID_API_KEY"},
		{"not JSON", `api_key=x`, "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"},
	} {
		h := map[string]string{}
		if tc.ctype != "" {
			h["Content-Type"] = tc.ctype
		}
		status, env, cookies := call{method: "POST", url: ts.URL + "/v1/session", body: tc.body, header: h}.do(t)
		if code, _ := errField(env); status != tc.status || code != tc.code || len(cookies) != 0 {
			t.Errorf("%s: %d %v cookies %v", tc.name, status, env, cookies)
		}
	}
	if _, env, _ := (call{method: "GET", url: ts.URL + "/v1/session"}).do(t); dataOf(env)["signed_in"] != false {
		t.Errorf("no cookie: %v", env)
	}
}

func TestOperatorSession(t *testing.T) {
	ts, _, _ := newConfiguredServer(t, sessionConfig(t), func(s *store.Store) memory.Store { return s })
	signIn := func(body string) (int, map[string]any, []*http.Cookie) {
		return call{method: "POST", url: ts.URL + "/v1/admin/session", body: body}.do(t)
	}
	for _, body := range []string{`{"password":"wrong"}`, `{"token":"wrong-token-0123456789"}`} {
		if status, env, _ := signIn(body); status != 401 {
			t.Errorf("%s: %d %v", body, status, env)
		}
	}
	if status, env, _ := signIn(`{"password":"x","token":"y"}`); status != 400 {
		t.Errorf("both: %d %v", status, env)
	}
	if status, _, c := signIn(`{"token":"` + testAdminToken + `"}`); status != 201 || len(c) != 1 {
		t.Errorf("token sign-in: %d", status)
	}
	status, env, cookies := signIn(`{"password":"` + testOperatorPassword + `"}`)
	if status != 201 || len(cookies) != 1 || cookies[0].Name != "memoryd_operator" || !cookies[0].HttpOnly {
		t.Fatalf("password sign-in: %d %v %v", status, env, cookies)
	}
	jar := []*http.Cookie{{Name: cookies[0].Name, Value: cookies[0].Value}}
	csrf := dataOf(env)["csrf_token"].(string)
	status, env, _ = call{method: "GET", url: ts.URL + "/v1/admin/orgs", cookies: jar}.do(t)
	if status != 200 {
		t.Fatalf("orgs with operator cookie: %d %v", status, env)
	}
	before := len(dataOf(env)["orgs"].([]any))
	if status, _, _ := (call{method: "POST", url: ts.URL + "/v1/admin/orgs", body: `{"name":"x"}`, cookies: jar}).do(t); status != 400 {
		t.Fatalf("operator write without token: %d", status)
	}
	_, env, _ = call{method: "GET", url: ts.URL + "/v1/admin/orgs", cookies: jar}.do(t)
	if n := len(dataOf(env)["orgs"].([]any)); n != before {
		t.Fatalf("refused write created an org: %d → %d", before, n)
	}
	if status, _, _ := (call{method: "POST", url: ts.URL + "/v1/admin/orgs", body: `{"name":"x"}`, cookies: jar, header: map[string]string{"X-CSRF-Token": csrf}}).do(t); status != 201 {
		t.Fatalf("operator write with token: %d", status)
	}
	// The operator's cookie is no customer session.
	if status, _, _ := (call{method: "GET", url: ts.URL + "/v1/account", cookies: []*http.Cookie{{Name: "memoryd_session", Value: jar[0].Value}}}).do(t); status != 401 {
		t.Fatalf("operator cookie on a customer route: %d", status)
	}
	if status, _, _ := (call{method: "DELETE", url: ts.URL + "/v1/admin/session", cookies: jar, header: map[string]string{"X-CSRF-Token": csrf}}).do(t); status != 200 {
		t.Fatalf("operator sign-out: %d", status)
	}
	if status, _, _ := (call{method: "GET", url: ts.URL + "/v1/admin/orgs", cookies: jar}).do(t); status != 401 {
		t.Fatalf("operator cookie after sign-out: %d", status)
	}

	// Neither token nor password: the operator API, sign-in included, does not exist.
	off, _, _ := newConfiguredServer(t, config.Default(), func(s *store.Store) memory.Store { return s })
	if status, env, _ := (call{method: "POST", url: off.URL + "/v1/admin/session", body: `{"password":""}`}).do(t); status != 404 {
		t.Fatalf("disabled operator sign-in: %d %v", status, env)
	}
}

// Operator sign-in attempts are limited across clients.
func TestOperatorSignInRateLimited(t *testing.T) {
	ts, _, _ := newConfiguredServer(t, sessionConfig(t), func(s *store.Store) memory.Store { return s })
	limited := false
	for range 15 {
		status, env, _ := call{method: "POST", url: ts.URL + "/v1/admin/session", body: `{"token":"wrong-token-0123456789"}`}.do(t)
		if status == 429 {
			if code, _ := errField(env); code != "RATE_LIMIT_EXCEEDED" {
				t.Fatalf("429 with %v", env)
			}
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("15 rapid wrong sign-ins were never limited")
	}
}

// The analytics price each org as /v1/usage does and allocate infrastructure by
// requests and stored bytes; margin is revenue minus cost.
func TestAdminAnalytics(t *testing.T) {
	cfg := sessionConfig(t)
	cfg.Costs.InfrastructureMonthlyUSD = 100
	cfg.Costs.RequestShare = 0.25
	ts, key, st := newConfiguredServer(t, cfg, func(s *store.Store) memory.Store { return s })
	_, _, key2, err := st.CreateOrgWithAdminKey("second", "starter")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if status, _, _ := (call{method: "POST", url: ts.URL + "/v1/memories", bearer: key, body: `{"text":"fact ` + string(rune('a'+i)) + `"}`}).do(t); status != 201 {
			t.Fatal("write failed")
		}
	}
	if status, _, _ := (call{method: "GET", url: ts.URL + "/v1/memories", bearer: key2}).do(t); status != 200 {
		t.Fatal("read failed")
	}
	usage := func(k string) map[string]any {
		_, env := get(t, ts.URL+"/v1/usage", k)
		return dataOf(env)
	}
	u1, u2 := usage(key), usage(key2)
	status, env, _ := call{method: "GET", url: ts.URL + "/v1/admin/analytics", bearer: testAdminToken}.do(t)
	if status != 200 {
		t.Fatalf("analytics: %d %v", status, env)
	}
	d := dataOf(env)
	orgs := d["orgs"].([]any)
	if len(orgs) != 2 {
		t.Fatalf("orgs %v", orgs)
	}
	num := func(m map[string]any, k string) float64 { return m[k].(float64) }
	var totalCalls, totalBytes float64
	for _, o := range orgs {
		totalCalls += num(o.(map[string]any), "api_calls")
		totalBytes += num(o.(map[string]any), "stored_bytes")
	}
	// Each /v1/usage call counted the calls before it, and itself afterwards.
	if want := num(u1["usage"].(map[string]any), "api_calls") + num(u2["usage"].(map[string]any), "api_calls") + 2; totalCalls != want {
		t.Errorf("analytics count %v calls, /v1/usage %v", totalCalls, want)
	}
	var revenue float64
	for _, o := range orgs {
		o := o.(map[string]any)
		infra := 100e6*0.25*num(o, "api_calls")/totalCalls + 100e6*0.75*num(o, "stored_bytes")/totalBytes
		wantInfra := math.Round(math.Round(infra)/1e4) / 100
		if num(o, "infrastructure_cost_usd") != wantInfra || num(o, "model_cost_usd") != 0 {
			t.Errorf("%s: infrastructure %v, want %v", o["name"], o["infrastructure_cost_usd"], wantInfra)
		}
		price := cfg.Plans[o["plan"].(string)].PriceUSD
		if num(o, "revenue_usd") != price {
			t.Errorf("%s: revenue %v, want the plan's %v", o["name"], o["revenue_usd"], price)
		}
		if got, want := num(o, "margin_usd"), math.Round((price*1e6-math.Round(infra))/1e4)/100; got != want {
			t.Errorf("%s: margin %v, want %v", o["name"], got, want)
		}
		revenue += price
	}
	if tot := d["totals"].(map[string]any); num(tot, "revenue_usd") != revenue || math.Abs(num(tot, "cost_usd")-100) > 0.011 {
		t.Errorf("totals %v", tot)
	}
	if eps := d["endpoints"].([]any); len(eps) == 0 || eps[0].(map[string]any)["endpoint"] == "" {
		t.Errorf("endpoints %v", eps)
	}

	// A month before the orgs existed has none; a future or malformed month is refused.
	last := meter.MonthStart(time.Now().UTC()).AddDate(0, -1, 0).Format("2006-01")
	_, env, _ = call{method: "GET", url: ts.URL + "/v1/admin/analytics?period=" + last, bearer: testAdminToken}.do(t)
	if n := len(dataOf(env)["orgs"].([]any)); n != 0 {
		t.Errorf("last month lists %d orgs created this month", n)
	}
	next := meter.MonthStart(time.Now().UTC()).AddDate(0, 1, 0).Format("2006-01")
	for _, p := range []string{next, "2026-13", "26-01"} {
		status, env, _ := call{method: "GET", url: ts.URL + "/v1/admin/analytics?period=" + p, bearer: testAdminToken}.do(t)
		if code, field := errField(env); status != 400 || code != "INVALID_REQUEST" || field != "period" {
			t.Errorf("period %s: %d %v", p, status, env)
		}
	}
	if status, _ := get(t, ts.URL+"/v1/admin/analytics", key); status != 401 {
		t.Errorf("an API key reads the analytics: %d", status)
	}
}
