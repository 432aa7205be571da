// Package api serves memoryd's HTTP API: the /v1 contract in ../shared/API.md, with its
// envelope, error table, auth, idempotency and limits.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"memoryd/billing"
	"memoryd/config"
	"memoryd/memory"
	"memoryd/meter"
	"memoryd/store"

	"golang.org/x/time/rate"
)

// Store is what the API needs of the store beyond the memory engine.
type Store interface {
	HashKey(plain string) string
	NewKey(orgID, name string, scopes []string, mode store.Mode, expires *time.Time) (store.APIKey, string, error)
	KeyByHash(hash string) (store.APIKey, error)
	CreateKey(k store.APIKey) error
	GetKey(orgID, keyID string) (store.APIKey, error)
	ListKeys(orgID string) ([]store.APIKey, error)
	UpdateKey(orgID, keyID string, fn func(*store.APIKey) error) (store.APIKey, error)
	RotateKey(orgID, oldID string, next store.APIKey, fn func(old *store.APIKey) error) (store.APIKey, error)
	TouchKeys(used map[[2]string]time.Time) error

	CreateOrgWithAdminKey(name, plan string) (store.Org, store.APIKey, string, error)
	GetOrg(id string) (store.Org, error)
	ListOrgs(after string, limit int) ([]store.Org, string, error)
	UpdateOrg(id string, fn func(*store.Org) error) (store.Org, error)
	DeleteOrg(id string) error

	GetIdempotency(orgID string, mode store.Mode, key string, ttl time.Duration) (store.IdempotencyRecord, bool, error)
	PutIdempotency(orgID string, mode store.Mode, key string, rec store.IdempotencyRecord) error
	PurgeIdempotency(ttl time.Duration) (int, error)

	MemoriesStored(orgID string, mode store.Mode) (int64, error)
	StoredBytes(orgID string) (int64, error)
	PurgeUsageEvents(cutoff time.Time) (int, error)
	Rollups(orgID string, mode store.Mode, gran, dim string, from, to time.Time) ([]store.RollupRow, error)

	ListInvoices(orgID, before string, limit int) ([]store.Invoice, string, error)
	GetInvoice(orgID, id string) (store.Invoice, error)
	InvoicesForPeriod(period string) ([]store.Invoice, error)
	ListAlerts(orgID string) ([]store.Alert, error)
	PutAlert(a store.Alert) error
	DeleteAlert(orgID, id string) error
	ListWebhooks(orgID string) ([]store.Webhook, error)
	GetWebhook(orgID, id string) (store.Webhook, error)
	ListDeliveries(orgID, webhookID, before string, limit int) ([]store.Delivery, string, error)

	RecordAudit(events []store.AuditEvent) error
	ListAudit(orgID, after string, limit int, ascending bool) ([]store.AuditEvent, string, error)
	PurgeAudit(cutoff time.Time) (int, error)
}

// Server holds the API's dependencies; its Handler serves every route.
type Server struct {
	cfg       config.Config
	store     Store
	engine    *memory.Engine
	meter     *meter.Meter
	billing   *billing.Service
	log       *slog.Logger
	now       func() time.Time
	touches   keyTouches
	keys      keyCache
	idemLocks keyedLocks
	audit     auditBuffer
	answers   answerBuffers
	handler   http.Handler
	metrics   *metrics
	sessions  sessions
	// operatorSignins limits operator password attempts.
	operatorSignins *rate.Limiter
	dashboard       http.Handler
	ready           atomic.Bool // indexes loaded
	stopping        atomic.Bool // shutdown begun
}

// SetReady marks the indexes loaded: /readyz answers 200 from now on.
func (s *Server) SetReady() { s.ready.Store(true) }

// SetShuttingDown makes /readyz answer 503, so a load balancer drains this server.
func (s *Server) SetShuttingDown() { s.stopping.Store(true) }

// Deps are the Server's collaborators, built in main.go.
type Deps struct {
	Config config.Config
	Store  Store
	Engine *memory.Engine
	Meter  *meter.Meter
	// Billing closes invoices and sends webhook events.
	Billing *billing.Service
	// Stats feed the gauges of /metrics.
	Stats []StatsSource
	Log   *slog.Logger
	Now   func() time.Time
	// Dashboard serves the web dashboard's pages (/ and /admin) and files (/ui/).
	Dashboard http.Handler
}

// New builds the server and its routes.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	s := &Server{cfg: d.Config, store: d.Store, engine: d.Engine, meter: d.Meter, billing: d.Billing, log: d.Log, now: d.Now,
		dashboard: d.Dashboard, operatorSignins: rate.NewLimiter(rate.Every(time.Minute/operatorSigninsPerMinute), 10)}
	s.metrics = newMetrics(d.Stats...)
	s.handler = s.observe(s.routes())
	return s
}

// Handler is the root http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, handler http.Handler) { mux.Handle(pattern, handler) }

	h("POST /v1/memories", s.withKey("write", s.createMemory))
	h("GET /v1/memories", s.withKey("read", s.listMemories))
	h("DELETE /v1/memories", s.withKey("delete", s.deleteMemories))
	h("GET /v1/memories/{id}", s.withKey("read", s.getMemory))
	h("PUT /v1/memories/{id}", s.withKey("write", s.updateMemory))
	h("DELETE /v1/memories/{id}", s.withKey("delete", s.deleteMemory))
	h("GET /v1/memories/{id}/history", s.withKey("read", s.memoryHistory))
	h("POST /v1/batch/memories", s.withKey("write", s.batchCreateMemories))
	h("POST /v1/batch/embeddings", s.withKey("write", s.batchEmbeddings))
	h("POST /v1/batch/extract", s.withKey("write", s.batchExtract))
	h("GET /v1/batch/{job_id}", s.withKey("read", s.getJob))
	h("DELETE /v1/batch/{job_id}", s.withKey("write", s.cancelJob))
	h("POST /v1/retrieve", s.withKey("read", s.retrieve))
	h("POST /v1/query", s.withKey("read", s.query))
	h("POST /v1/query/answer", s.withKey("read", s.queryAnswer))

	h("GET /v1/usage", s.withKey("read", s.getUsage))
	h("GET /v1/usage/history", s.withKey("read", s.usageHistory))

	h("GET /v1/account", s.withKey("read", s.getAccount))
	h("GET /v1/account/api-keys", s.withKey("admin", s.listKeys))
	h("POST /v1/account/api-keys", s.withKey("admin", s.createKey))
	h("DELETE /v1/account/api-keys/{key_id}", s.withKey("admin", s.revokeKey))
	h("POST /v1/account/api-keys/{key_id}/rotate", s.withKey("admin", s.rotateKey))
	h("GET /v1/account/audit", s.withKey("admin", s.getAudit))

	h("GET /v1/billing/invoices", s.withKey("admin", s.listInvoices))
	h("GET /v1/billing/invoices/{id}", s.withKey("admin", s.getInvoice))
	h("GET /v1/alerts", s.withKey("admin", s.listAlerts))
	h("POST /v1/alerts", s.withKey("admin", s.createAlert))
	h("DELETE /v1/alerts/{id}", s.withKey("admin", s.deleteAlert))
	h("GET /v1/webhooks", s.withKey("admin", s.listWebhooks))
	h("POST /v1/webhooks", s.withKey("admin", s.createWebhook))
	h("DELETE /v1/webhooks/{id}", s.withKey("admin", s.deleteWebhook))
	h("GET /v1/webhooks/{id}/deliveries", s.withKey("admin", s.listDeliveries))

	h("POST /v1/session", http.HandlerFunc(s.createSession))
	h("GET /v1/session", http.HandlerFunc(s.getSession))
	h("DELETE /v1/session", s.endSession(customerCookie))
	h("POST /v1/admin/session", http.HandlerFunc(s.createOperatorSession))
	h("GET /v1/admin/session", http.HandlerFunc(s.getOperatorSession))
	h("DELETE /v1/admin/session", s.endSession(operatorCookie))
	h("GET /v1/admin/analytics", s.withAdmin(s.adminAnalytics))

	h("POST /v1/admin/orgs", s.withAdmin(s.adminCreateOrg))
	h("GET /v1/admin/orgs", s.withAdmin(s.adminListOrgs))
	h("GET /v1/admin/orgs/{org_id}", s.withAdmin(s.adminGetOrg))
	h("PATCH /v1/admin/orgs/{org_id}", s.withAdmin(s.adminUpdateOrg))
	h("DELETE /v1/admin/orgs/{org_id}", s.withAdmin(s.adminDeleteOrg))
	h("GET /v1/admin/backup", s.withAdmin(s.adminBackup))
	h("GET /v1/admin/orgs/{org_id}/audit", s.withAdmin(s.adminGetAudit))
	h("POST /v1/admin/billing/close", s.withAdmin(s.adminCloseBilling))
	h("GET /v1/admin/billing/invoices", s.withAdmin(s.adminExportInvoices))
	h("GET /v1/admin/orgs/{org_id}/export", s.withAdmin(s.adminExportOrg))
	h(importPattern, s.withAdmin(s.adminImportOrg))

	h("POST /v1/stripe/webhook", s.withStripeSignature(s.stripeWebhook))

	h("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		respond(w, r, http.StatusOK, map[string]any{"status": "ok"})
	}))

	if s.cfg.Metrics.Enabled {
		h("GET /metrics", s.serveMetrics())
	}
	h("GET /readyz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case s.stopping.Load():
			fail(w, r, newError(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "The server is shutting down", nil))
		case !s.ready.Load():
			fail(w, r, newError(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "Indexes are still loading", nil))
		default:
			respond(w, r, http.StatusOK, map[string]any{"status": "ready"})
		}
	}))

	h("GET /openapi.json", http.HandlerFunc(s.getOpenAPI))
	h("GET /docs", http.HandlerFunc(s.getDocs))
	h("GET "+docsScriptPath, http.HandlerFunc(s.getDocsScript))

	if s.dashboard != nil {
		h("GET /{$}", s.dashboard)
		h("GET /admin", s.dashboard)
		h("GET /ui/", s.dashboard)
	}

	h("/", s.noRoute(mux))
	return mux
}

// noRoute answers paths no route serves: 405 where another method would match, else
// 404, both in the envelope (the mux's own answers are plain text).
func (s *Server) noRoute(mux *http.ServeMux) http.Handler {
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, m := range methods {
			if m == r.Method {
				continue
			}
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) > 0 {
			for _, m := range allowed {
				w.Header().Add("Allow", m)
			}
			fail(w, r, newError(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
				r.Method+" is not allowed on "+r.URL.Path, map[string]any{"allowed": allowed}))
			return
		}
		fail(w, r, errNotFound("NOT_FOUND", "Route "+r.Method+" "+r.URL.Path))
	})
}

// Run does the server's periodic work until ctx ends, then flushes what it holds.
func (s *Server) Run(ctx context.Context) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	purge := time.NewTicker(time.Hour)
	defer purge.Stop()
	for {
		select {
		case <-ctx.Done():
			s.Flush()
			return
		case <-tick.C:
			s.Flush()
		case <-sweep.C:
			s.sweepExpired()
		case <-purge.C:
			if _, err := s.store.PurgeIdempotency(idempotencyTTL); err != nil {
				s.log.Error("purge idempotency records", "err", err)
			}
			if _, err := s.store.PurgeUsageEvents(s.now().Add(-s.cfg.Meter.EventRetention.Duration)); err != nil {
				s.log.Error("purge usage events", "err", err)
			}
			if _, err := s.store.PurgeAudit(s.now().Add(-s.cfg.Audit.Retention.Duration)); err != nil {
				s.log.Error("purge audit events", "err", err)
			}
		}
	}
}

// sweepExpired removes memories whose expiry has passed (reads already hide them), so
// they stop counting as stored.
func (s *Server) sweepExpired() {
	n, err := s.engine.SweepExpired()
	if err != nil {
		s.log.Error("sweep expired memories", "err", err)
	}
	if n > 0 {
		s.log.Info("expired memories removed", "count", n)
	}
}

// Flush writes buffered key last-used times and audit events.
func (s *Server) Flush() {
	if err := s.store.TouchKeys(s.touches.take()); err != nil {
		s.log.Error("record key use", "err", err)
	}
	if err := s.flushAudit(); err != nil {
		s.log.Error("record audit events", "err", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
