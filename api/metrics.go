package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus series, in a registry of its own (no global
// state). Route labels are the mux's patterns, so their number is bounded.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// StatsSource is what /metrics reads from the collaborators below the API.
type StatsSource interface {
	// Gauges returns current values by metric name (without the memoryd_ prefix).
	Gauges() map[string]float64
}

func newMetrics(sources ...StatsSource) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "memoryd_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "memoryd_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"route"}),
	}
	m.reg.MustRegister(m.requests, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Each source's gauges are read at scrape time.
	names := map[string]bool{}
	for _, src := range sources {
		for name := range src.Gauges() {
			if names[name] {
				continue
			}
			names[name] = true
			src, name := src, name
			m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "memoryd_" + name, Help: gaugeHelp[name],
			}, func() float64 { return src.Gauges()[name] }))
		}
	}
	return m
}

// gaugeHelp documents the gauges the sources report.
var gaugeHelp = map[string]string{
	"index_tenants":           "Tenants (org and mode) whose indexes are loaded.",
	"index_memories":          "Memories in the loaded indexes.",
	"index_vectors":           "Vectors in the loaded indexes.",
	"index_stale_vectors":     "Memories whose stored vector is from another embedding model.",
	"jobs_queued":             "Background jobs waiting to run.",
	"retrieval_cache_hits":    "Retrievals answered from the response cache since start.",
	"retrieval_cache_misses":  "Retrievals computed since start.",
	"usage_events_pending":    "Read requests' usage events waiting for their group commit.",
	"bbolt_file_bytes":        "Size of the data file.",
	"bbolt_free_pages":        "Free pages in the data file.",
	"bbolt_pending_pages":     "Pages freed but not yet reusable.",
	"bbolt_read_transactions": "Open read transactions.",
	"bbolt_tx_total":          "Read transactions started since open.",
	"bbolt_writes_total":      "Page writes since open.",
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// serveMetrics answers /metrics, behind the operator token when configured so.
func (s *Server) serveMetrics() http.Handler {
	h := promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Metrics.RequireAdminToken {
			if s.cfg.Admin.Token == "" {
				fail(w, r, errNotFound("NOT_FOUND", "Route"))
				return
			}
			if raw, ok := bearer(r); !ok || !s.adminTokenOK(raw) {
				fail(w, r, errInvalidKey("Invalid admin token"))
				return
			}
		}
		info(r).status = http.StatusOK
		h.ServeHTTP(w, r)
	})
}
