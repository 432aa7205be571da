package main

// The dashboards in a real browser: Debian's chromium, headless, driven by chromedp
// against the memoryd binary. One browser serves every step; each step checks what the
// page shows against the API, and the whole run fails on any console error, any
// Content-Security-Policy violation, or any request to a host other than the server.

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"memoryd/config"
	"memoryd/memory/scriptedmodel"
)

// screenshotDir is where the browser test writes its screenshots (named in the README,
// ignored by git).
const screenshotDir = "screenshots"

const operatorPassword = "correct horse battery staple"

// chromiumPath is Debian's chromium, or $MEMORYD_CHROMIUM.
func chromiumPath() string {
	if p := os.Getenv("MEMORYD_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// browser is one headless chromium with one tab, and what the tab has seen.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu       sync.Mutex
	requests []string
	problems []string // console errors, exceptions, CSP violations
}

// cspProbe records Content-Security-Policy violations; the test injects it through the
// DevTools protocol, which the page's policy does not govern.
const cspProbe = `window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI));`

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path := chromiumPath()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no chromium at %s (apt-get install chromium; .ci/run does)", path)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, base: base}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	requests := chromedp.Events(ctx, network.RequestWillBeSent)
	console := chromedp.Console(ctx)
	go func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.requests = append(b.requests, ev.Request.URL)
			b.mu.Unlock()
		}
	}()
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("console %s (%s:%d)", m, m.URL, m.Line+1))
				b.mu.Unlock()
			}
		}
	}()
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
		t.Fatal(err)
	}
	return b
}

// do runs actions with a deadline, failing the test with what the page says.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		status, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.querySelector("#status, #signin-error") || {}).textContent || ""`))
		b.t.Fatalf("%s: %v (page status: %q)", what, err, status)
	}
}

func eval[T any](b *browser, expr string, opts ...chromedp.EvaluateOption) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition (evaluated over the protocol, not in the page's
// own scripts, so the policy's ban on eval does not apply).
func (b *browser) waitFor(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if eval[bool](b, "!!("+cond+")") {
			return
		}
		if time.Now().After(deadline) {
			status := eval[string](b, `(document.querySelector("#status, #signin-error") || {}).textContent || ""`)
			b.t.Fatalf("timed out waiting for %s (%s); page status %q", what, cond, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel))
}

// click presses the element sel finds.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// screenshot writes the page at desktop and phone widths, and checks the phone layout
// does not scroll sideways.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	b.checkKeyboard(name)
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	for _, size := range []struct {
		label         string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
		vp := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
		if size.mobile {
			vp = append(vp, chromedp.EmulateMobile, chromedp.EmulateTouch)
		}
		b.do("resize", chromedp.EmulateViewport(size.width, size.height, vp...), chromedp.Sleep(250*time.Millisecond))
		if size.mobile {
			if w := eval[int](b, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
				b.t.Errorf("%s at phone width scrolls sideways by %dpx", name, w)
			}
		}
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(screenshotDir, name+"-"+size.label+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.do("reset viewport", chromedp.EmulateViewport(1280, 900), chromedp.Sleep(150*time.Millisecond))
}

// checkKeyboard fails on a visible control that the keyboard cannot reach or that has
// no name for a screen reader.
func (b *browser) checkKeyboard(name string) {
	b.t.Helper()
	bad := eval[[]string](b, `[...document.querySelectorAll("input, select, button, a[href], summary")]
		.filter((e) => e.offsetParent !== null)
		.filter((e) => e.tabIndex < 0 || !((e.labels && e.labels.length) || e.getAttribute("aria-label") ||
			(["A", "BUTTON", "SUMMARY"].includes(e.tagName) && e.textContent.trim())))
		.map((e) => e.outerHTML.slice(0, 100))`)
	for _, e := range bad {
		b.t.Errorf("%s: control without keyboard access or name: %s", name, e)
	}
}

// checkClean fails on console errors and policy violations seen so far, and on any
// request to another host than the server.
func (b *browser) checkClean() {
	b.t.Helper()
	if v := eval[[]string](b, `window.__cspViolations || []`); len(v) > 0 {
		b.t.Errorf("Content-Security-Policy violations: %v", v)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("page problem: %s", p)
	}
	b.problems = nil
	for _, raw := range b.requests {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme+"://"+u.Host != b.base {
			b.t.Errorf("request to another host: %s", raw)
		}
	}
}

func usdText(micros int64) string {
	sign := ""
	if micros < 0 {
		sign, micros = "-", -micros
	}
	cents := int64(math.Round(float64(micros) / 10_000))
	return fmt.Sprintf("%s$%d.%02d", sign, cents/100, cents%100)
}

func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(operatorPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	const infraUSD = 40
	// The scripted stand-in model (unpriced: its calls cost nothing) answers one
	// question, so the operator's model panel has prefilter savings to show.
	model := scriptedmodel.Start(&scriptedmodel.Script{})
	defer model.Close()
	s := startServer(t, "", append(scriptedLLMEnv(model), "MEMORYD_ADMIN_PASSWORD_BCRYPT="+string(hash),
		"MEMORYD_COSTS_INFRASTRUCTURE_MONTHLY_USD="+strconv.Itoa(infraUSD), "MEMORYD_COSTS_REQUEST_SHARE=0.5")...)
	acme, acmeKey := s.newOrg(t, "Acme", "starter")
	beta, betaKey := s.newOrg(t, "Beta", "pro")
	worker := s.newKey(t, acmeKey, "live", "read", "write")
	texts := []string{"User prefers dark mode interfaces", "User works as a marine biologist in Lisbon",
		"User is allergic to peanuts", "User's daughter is called Ines", "User plays the cello on weekends"}
	mems := map[string]memoryJSON{}
	for _, text := range texts {
		mems[text] = s.createMemory(t, worker.Key, map[string]any{"text": text, "user_id": "u_1"})
	}
	s.ok(t, 200, req{method: "GET", path: "/v1/memories", key: worker.Key}, nil)
	s.ok(t, 200, req{method: "POST", path: "/v1/retrieve", key: worker.Key, body: map[string]any{"context": "music"}}, nil)
	workerCalls := 7
	for i := range 3 {
		s.createMemory(t, betaKey, map[string]any{"text": fmt.Sprintf("Beta fact number %d about shipping", i)})
	}

	b := newBrowser(t, s.base)

	t.Run("sign in", func(t *testing.T) {
		b.t = t
		b.do("open /", chromedp.Navigate(s.base+"/"), chromedp.WaitVisible(chromedp.ID("signin-form")))
		b.screenshot("signin")
		// Keyboard only: the page focuses the key field; Enter submits.
		if id := eval[string](b, `document.activeElement.id`); id != "signin-key" {
			t.Errorf("focus on load is %q, want the key field", id)
		}
		b.do("sign in", chromedp.SendKeys(chromedp.ID("signin-key"), acmeKey+"\r"), chromedp.WaitVisible(chromedp.ID("app")))
		if who := b.text("#who"); !strings.Contains(who, "Acme") || !strings.Contains(who, "starter") {
			t.Errorf("header shows %q", who)
		}
		// The key is nowhere in the page or its storage; the cookie is HttpOnly and Strict.
		if eval[bool](b, fmt.Sprintf(`document.documentElement.outerHTML.includes(%q) || document.getElementById("signin-key").value !== "" || localStorage.length + sessionStorage.length > 0 || document.cookie !== ""`, acmeKey)) {
			t.Error("the API key (or a readable cookie) stayed in the browser")
		}
		cookies, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{s.base + "/"}})
		if err != nil {
			t.Fatal(err)
		}
		var session *network.Cookie
		for _, c := range cookies.Cookies {
			if c.Name == "memoryd_session" {
				session = c
			}
		}
		if session == nil || !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict || strings.Contains(session.Value, acmeKey) {
			t.Fatalf("session cookie %+v", session)
		}
		// A write with the cookie but without the CSRF header is refused and changes nothing.
		before := s.countMemories(t, acmeKey)
		hr, _ := http.NewRequest("DELETE", s.base+"/v1/memories/"+mems[texts[1]].ID, nil)
		hr.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 || s.countMemories(t, acmeKey) != before {
			t.Errorf("cookie write without CSRF token: %d, memories %d→%d", resp.StatusCode, before, s.countMemories(t, acmeKey))
		}
		b.checkClean()
	})

	t.Run("usage reflects requests", func(t *testing.T) {
		b.t = t
		row := fmt.Sprintf(`#by-key tr[data-group=%q] td`, worker.ID)
		b.waitFor("worker key row", `document.querySelector('`+row+`')`)
		if got := b.text(row); got != strconv.Itoa(workerCalls) {
			t.Errorf("by-key requests of the worker key: %q, want %d", got, workerCalls)
		}
		hourRows := `document.querySelectorAll("#usage-table tbody tr[data-start]")`
		b.waitFor("chart data", hourRows+`.length > 0`)
		// Summed over the table's hours, so that the test's requests are all counted even
		// when an hour ends between them and the page's load.
		const allHours = `[...document.querySelectorAll("#usage-table tbody tr[data-start] td[data-field=requests]")]
			.reduce((sum, td) => sum + parseInt(td.textContent.replace(/,/g, "")), 0)`
		hourNow := eval[int](b, `parseInt(document.querySelector("#usage-table tbody tr[data-start] td").textContent.replace(/,/g, ""))`)
		total := eval[int](b, allHours)
		if total < workerCalls {
			t.Errorf("the usage table's requests %d < %d made by the test", total, workerCalls)
		}
		if eval[int](b, `document.querySelectorAll("#chart-requests canvas, #chart-tokens canvas, #chart-memories canvas").length`) != 3 {
			t.Error("the three usage charts were not drawn")
		}
		// The requests chart was drawn from the same buckets: its latest hour is this hour.
		if label, want := eval[string](b, `document.getElementById("chart-requests").getAttribute("aria-label")`), fmt.Sprintf("%d in the latest period", hourNow); !strings.Contains(label, want) {
			t.Errorf("requests chart says %q, want %q", label, want)
		}
		// Four more requests show up on refresh, in the chart's data and by key.
		for range 4 {
			s.ok(t, 200, req{method: "GET", path: "/v1/memories?limit=1", key: worker.Key}, nil)
		}
		b.click("#refresh")
		b.waitFor("refreshed counts", fmt.Sprintf(`(document.querySelector('%s') || {}).textContent === "%d"`, row, workerCalls+4))
		after := eval[int](b, `parseInt(document.querySelector("#usage-table tbody tr[data-start] td").textContent.replace(/,/g, ""))`)
		if totalAfter := eval[int](b, allHours); totalAfter < total+4 {
			t.Errorf("the usage table's requests went %d → %d after 4 more", total, totalAfter)
		}
		if label, want := eval[string](b, `document.getElementById("chart-requests").getAttribute("aria-label")`), fmt.Sprintf("%d in the latest period", after); !strings.Contains(label, want) {
			t.Errorf("requests chart after refresh says %q, want %q", label, want)
		}
		if !strings.Contains(b.text("#by-endpoint"), "POST /v1/memories") {
			t.Errorf("usage by endpoint lacks POST /v1/memories: %s", b.text("#by-endpoint"))
		}
		if !strings.HasPrefix(b.text("#projected strong"), "$") {
			t.Errorf("projected cost shows %q", b.text("#projected strong"))
		}
		// Exports download with the session cookie.
		csv := eval[string](b, `fetch(document.getElementById("export-csv").href).then((r) => r.text())`, chromedp.EvalAwaitPromise)
		if !strings.HasPrefix(csv, "start,api_calls,") {
			t.Errorf("CSV export starts %.60q", csv)
		}
		b.screenshot("usage")
		b.checkClean()
	})

	t.Run("create, rotate and revoke a key", func(t *testing.T) {
		b.t = t
		b.click(`a[href="#keys"]`)
		b.waitFor("keys table", `document.querySelector("#keys-table tr[data-key]")`)
		b.do("create key", chromedp.SendKeys(chromedp.ID("key-name"), "from-dashboard"),
			chromedp.Click(chromedp.CSS(`#key-form input[value=write]`)),
			chromedp.Click(chromedp.CSS(`#key-form button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("new-key")))
		plain := b.text("#new-key-value")
		if !strings.HasPrefix(plain, "mem_live_") {
			t.Fatalf("new key shown as %q", plain)
		}
		var acct struct {
			APIKey keyJSON `json:"api_key"`
		}
		s.ok(t, 200, req{method: "GET", path: "/v1/account", key: plain}, &acct)
		if strings.Join(acct.APIKey.Scopes, ",") != "read,write" {
			t.Errorf("created key scopes %v", acct.APIKey.Scopes)
		}
		b.screenshot("keys-created")
		b.click("#new-key-done")
		if b.text("#new-key-value") != "" {
			t.Error("the new key is still in the page after Done")
		}
		// Rotate: the new key is shown once and works; the old one keeps working until
		// its grace period ends.
		rotate := fmt.Sprintf(`#keys-table tr[data-key=%q] button.secondary`, acct.APIKey.ID)
		b.click(rotate)
		b.click(rotate) // confirm
		b.do("rotated key shown", chromedp.WaitVisible(chromedp.ID("new-key")))
		rotated := b.text("#new-key-value")
		var next struct {
			APIKey keyJSON `json:"api_key"`
		}
		s.ok(t, 200, req{method: "GET", path: "/v1/account", key: rotated}, &next)
		if rotated == plain || next.APIKey.ID == acct.APIKey.ID || next.APIKey.Prefix != rotated[:12] {
			t.Fatalf("rotation showed %q (key %s)", rotated, next.APIKey.ID)
		}
		b.click("#new-key-done")
		b.waitFor("old key expiring", fmt.Sprintf(`(document.querySelector('#keys-table tr[data-key=%q] [data-field=status]') || {}).textContent.startsWith("expires")`, acct.APIKey.ID))
		s.ok(t, 200, req{method: "GET", path: "/v1/account", key: plain}, nil)

		revoke := fmt.Sprintf(`#keys-table tr[data-key=%q] button.danger`, next.APIKey.ID)
		b.click(revoke)
		b.click(revoke) // confirm
		b.waitFor("revoked status", fmt.Sprintf(`(document.querySelector('#keys-table tr[data-key=%q] [data-field=status]') || {}).textContent === "revoked"`, next.APIKey.ID))
		s.fails(t, 401, "INVALID_API_KEY", req{method: "GET", path: "/v1/account", key: rotated})
		b.screenshot("keys")
		b.checkClean()
	})

	t.Run("set an alert", func(t *testing.T) {
		b.t = t
		b.click(`a[href="#alerts"]`)
		b.waitFor("alerts table", `document.querySelector("#alerts-table tbody tr")`)
		b.do("alert form", chromedp.SetValue(chromedp.ID("alert-metric"), "api_calls"), chromedp.SetValue(chromedp.ID("alert-type"), "absolute"),
			chromedp.SetValue(chromedp.ID("alert-threshold"), "500"), chromedp.Click(chromedp.CSS(`#alert-form button[type=submit]`)))
		b.waitFor("alert row", `document.querySelector("#alerts-table tr[data-alert]")`)
		var alerts struct {
			Alerts []struct {
				ID            string   `json:"id"`
				Metric        string   `json:"metric"`
				Threshold     float64  `json:"threshold"`
				ThresholdType string   `json:"threshold_type"`
				Notify        []string `json:"notify"`
			} `json:"alerts"`
		}
		s.ok(t, 200, req{method: "GET", path: "/v1/alerts", key: acmeKey}, &alerts)
		if len(alerts.Alerts) != 1 || alerts.Alerts[0].Metric != "api_calls" || alerts.Alerts[0].Threshold != 500 ||
			alerts.Alerts[0].ThresholdType != "absolute" || strings.Join(alerts.Alerts[0].Notify, ",") != "email" {
			t.Errorf("alerts after the form: %+v", alerts.Alerts)
		}
		b.screenshot("alerts")
		b.checkClean()
	})

	t.Run("search and delete a memory", func(t *testing.T) {
		b.t = t
		target := mems[texts[0]]
		b.click(`a[href="#memories"]`)
		b.waitFor("memory list", `document.querySelector("#memory-list li[data-id]")`)
		b.do("search", chromedp.SendKeys(chromedp.ID("search-q"), "dark mode interfaces\r"))
		b.waitFor("search result", fmt.Sprintf(`document.querySelector("#memory-list li[data-id]") && document.querySelector("#memory-list li[data-id]").dataset.id === %q`, target.ID))
		b.click(fmt.Sprintf(`#memory-list li[data-id=%q] button`, target.ID))
		b.do("memory detail", chromedp.WaitVisible(chromedp.ID("memory-detail")))
		if got := b.text("#memory-fields"); !strings.Contains(got, target.Text) || !strings.Contains(got, target.ID) {
			t.Errorf("detail shows %q", got)
		}
		if got := b.text("#memory-history"); !strings.Contains(got, "ADD") {
			t.Errorf("history shows %q", got)
		}
		b.screenshot("memories")
		b.click("#memory-delete")
		b.click("#memory-delete") // confirm
		b.waitFor("deleted", fmt.Sprintf(`!document.querySelector('#memory-list li[data-id=%q]') && document.getElementById("memory-detail").hidden`, target.ID))
		s.fails(t, 404, "MEMORY_NOT_FOUND", req{method: "GET", path: "/v1/memories/" + target.ID, key: acmeKey})
		if n := s.countMemories(t, acmeKey); n != len(texts)-1 {
			t.Errorf("%d memories left, want %d", n, len(texts)-1)
		}
		b.checkClean()
	})

	t.Run("webhooks and invoices pages", func(t *testing.T) {
		b.t = t
		b.click(`a[href="#webhooks"]`)
		b.waitFor("webhooks table", `document.querySelector("#webhooks-table tbody tr")`)
		b.do("webhook form", chromedp.SendKeys(chromedp.ID("webhook-url"), "https://hooks.example.com/memoryd"),
			chromedp.Click(chromedp.CSS(`#webhook-events input[value="billing.invoice_created"]`)),
			chromedp.Click(chromedp.CSS(`#webhook-form button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("new-secret")))
		if secret := b.text("#new-secret-value"); !strings.HasPrefix(secret, "whsec_") {
			t.Errorf("webhook secret shown as %q", secret)
		}
		b.click("#new-secret-done")
		b.waitFor("webhook row", `document.querySelector("#webhooks-table tr[data-webhook]")`)
		b.screenshot("webhooks")
		b.click(`a[href="#invoices"]`)
		b.waitFor("invoices table", `document.querySelector("#invoices-table tbody tr")`)
		b.screenshot("invoices")
		b.checkClean()
	})

	t.Run("sign out", func(t *testing.T) {
		b.t = t
		cookies, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{s.base + "/"}})
		if err != nil {
			t.Fatal(err)
		}
		b.click("#signout")
		b.do("signed out", chromedp.WaitVisible(chromedp.ID("signin-form")))
		// The old cookie no longer signs anyone in.
		for _, c := range cookies.Cookies {
			if c.Name != "memoryd_session" {
				continue
			}
			hr, _ := http.NewRequest("GET", s.base+"/v1/usage", nil)
			hr.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("signed-out cookie still answers %d", resp.StatusCode)
			}
		}
		b.checkClean()
	})

	t.Run("operator sees margins", func(t *testing.T) {
		b.t = t
		// One answer from the best of Acme's memories in u_1: the others were kept from the model.
		s.ok(t, 200, req{method: "POST", path: "/v1/query/answer", key: acmeKey,
			body: map[string]any{"context": "Which instrument does the user play?", "user_id": "u_1", "max_memories": 1}}, nil)
		// Each org's live API calls this month: /v1/usage counts those before it, and
		// itself afterwards.
		defaultKey := s.firstKey
		calls := map[string]int64{}
		plans := map[string]string{acme.ID: "starter", beta.ID: "pro"}
		var acct struct {
			Org orgJSON `json:"org"`
		}
		s.ok(t, 200, req{method: "GET", path: "/v1/account", key: defaultKey}, &acct)
		plans[acct.Org.ID] = acct.Org.Plan
		for id, key := range map[string]string{acme.ID: acmeKey, beta.ID: betaKey, acct.Org.ID: defaultKey} {
			var u struct {
				Usage struct {
					APICalls int64 `json:"api_calls"`
				} `json:"usage"`
			}
			s.ok(t, 200, req{method: "GET", path: "/v1/usage", key: key}, &u)
			calls[id] = u.Usage.APICalls + 1
		}
		// Stored bytes are the store's measure: read them from the analytics.
		var an struct {
			Orgs []struct {
				OrgID       string  `json:"org_id"`
				StoredBytes int64   `json:"stored_bytes"`
				MarginUSD   float64 `json:"margin_usd"`
			} `json:"orgs"`
			Models struct {
				PrefilterTokensSaved int64 `json:"prefilter_tokens_saved"`
			} `json:"models"`
		}
		s.ok(t, 200, req{method: "GET", path: "/v1/admin/analytics", key: testAdminToken}, &an)
		bytes := map[string]int64{}
		var totalCalls, totalBytes int64
		for _, o := range an.Orgs {
			bytes[o.OrgID] = o.StoredBytes
			totalBytes += o.StoredBytes
			totalCalls += calls[o.OrgID]
		}
		if len(an.Orgs) != 3 || bytes[acme.ID] == 0 {
			t.Fatalf("analytics orgs %+v", an.Orgs)
		}
		// Revenue: the plan's price (usage is far below every quota, so no overage).
		// Cost: no model is configured, so only infrastructure, half by requests and
		// half by stored bytes.
		cfg := config.Default()
		infra := float64(infraUSD * 1_000_000)
		revenue := int64(math.Round(cfg.Plans["starter"].PriceUSD * 1e6))
		cost := int64(math.Round(infra/2*float64(calls[acme.ID])/float64(totalCalls) + infra/2*float64(bytes[acme.ID])/float64(totalBytes)))
		want := usdText(revenue - cost)
		t.Logf("Acme: %d of %d calls, %d of %d bytes: revenue %s − cost %s = margin %s",
			calls[acme.ID], totalCalls, bytes[acme.ID], totalBytes, usdText(revenue), usdText(cost), want)

		b.do("open /admin", chromedp.Navigate(s.base+"/admin"), chromedp.WaitVisible(chromedp.ID("signin-form")))
		b.screenshot("admin-signin")
		b.do("operator sign in", chromedp.SendKeys(chromedp.ID("signin-secret"), operatorPassword+"\r"), chromedp.WaitVisible(chromedp.ID("app")))
		cell := fmt.Sprintf(`#orgs-table tr[data-org=%q] [data-field=margin]`, acme.ID)
		b.waitFor("Acme's margin", `document.querySelector('`+cell+`')`)
		if got := b.text(cell); got != want {
			t.Errorf("Acme's margin shows %q, the test computes %s", got, want)
		}
		b.waitFor("revenue chart", `document.querySelector("#chart-margin canvas")`)
		b.screenshot("admin-margins")
		// The operator moves Beta to another plan from the table (a cookie write with the
		// session's CSRF token).
		planSel := fmt.Sprintf(`#orgs-table tr[data-org=%q] select[data-field=plan]`, beta.ID)
		eval[chromedp.Void](b, fmt.Sprintf(`(() => { const s = document.querySelector('%s'); s.value = "enterprise"; s.dispatchEvent(new Event("change")); })()`, planSel))
		b.waitFor("Beta's new revenue", fmt.Sprintf(`(document.querySelector('#orgs-table tr[data-org=%q] td:nth-of-type(3)') || {}).textContent === "$499.00"`, beta.ID))
		var betaOrg orgJSON
		s.ok(t, 200, req{method: "GET", path: "/v1/admin/orgs/" + beta.ID, key: testAdminToken}, &betaOrg)
		if betaOrg.Plan != "enterprise" {
			t.Errorf("Beta's plan after the change: %s", betaOrg.Plan)
		}
		b.click(`a[href="#operations"]`)
		b.waitFor("endpoints", `document.querySelector("#endpoints-table tbody tr code")`)
		if !strings.Contains(b.text("#endpoints-table"), "POST /v1/memories") {
			t.Errorf("cost per operation lacks POST /v1/memories")
		}
		b.screenshot("admin-operations")
		b.click(`a[href="#storage"]`)
		b.waitFor("storage", fmt.Sprintf(`document.querySelector('#storage-table tr[data-org=%q]')`, beta.ID))
		// The model panel shows the analytics' prefilter savings, labelled an estimate:
		// the answer model got 1 of Acme's 4 memories left in u_1, so 3 of its size were saved.
		reqs := model.Requests()
		sent := scriptedmodel.Numbered(reqs[len(reqs)-1].System())
		if len(reqs) != 1 || len(sent) != 1 {
			t.Fatalf("%d model requests, the answer's with %q", len(reqs), sent)
		}
		if want := int64(math.Round(float64((len(texts)-1-1)*len(sent[0])) / 4)); an.Models.PrefilterTokensSaved != want {
			t.Errorf("analytics report %d prefilter tokens saved, the test computes %d", an.Models.PrefilterTokensSaved, want)
		}
		t.Logf("the answer model got %q of 4 memories: %d prefilter tokens saved", sent[0], an.Models.PrefilterTokensSaved)
		saved := `#models [data-field=prefilter-saved]`
		if got, want := b.text(saved+" strong"), strconv.FormatInt(an.Models.PrefilterTokensSaved, 10); strings.ReplaceAll(got, ",", "") != want {
			t.Errorf("prefilter tokens saved shows %q, the analytics %s", got, want)
		}
		if label := b.text(saved + " .label"); !strings.Contains(label, "estimate") {
			t.Errorf("prefilter savings labelled %q, not as an estimate", label)
		}
		b.screenshot("admin-storage")
		b.click("#signout")
		b.do("operator signed out", chromedp.WaitVisible(chromedp.ID("signin-form")))
		// A wrong password is refused.
		b.do("wrong password", chromedp.SendKeys(chromedp.ID("signin-secret"), "not the password\r"))
		b.waitFor("refusal", `document.getElementById("signin-error").textContent !== ""`)
		b.mu.Lock()
		// The refused sign-in's 401 is the one expected error in the browser's log.
		var kept []string
		for _, p := range b.problems {
			if !strings.Contains(p, "status of 401") {
				kept = append(kept, p)
			}
		}
		b.problems = kept
		b.mu.Unlock()
		b.checkClean()
	})

	b.mu.Lock()
	n := len(b.requests)
	b.mu.Unlock()
	if n < 20 {
		t.Errorf("only %d requests recorded: the network log is not working", n)
	}
	t.Logf("%d browser requests, all to %s; screenshots in %s/", n, s.base, screenshotDir)
}
