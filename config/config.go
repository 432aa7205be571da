// Package config loads memoryd's settings: built-in defaults, then a TOML file, then
// MEMORYD_<SECTION>_<KEY> environment variables, then command-line flags.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/crypto/bcrypt"
)

// Config is every setting of the server. Each field's toml tag is its key in the file
// and, upper-cased and joined with its section, its environment variable.
type Config struct {
	Server     Server          `toml:"server"`
	TLS        TLS             `toml:"tls"`
	CORS       CORS            `toml:"cors"`
	Storage    Storage         `toml:"storage"`
	Encryption Encryption      `toml:"encryption"`
	Audit      Audit           `toml:"audit"`
	Admin      Admin           `toml:"admin"`
	Auth       Auth            `toml:"auth"`
	Log        Log             `toml:"log"`
	Defaults   DefaultOrg      `toml:"defaults"`
	Meter      Meter           `toml:"meter"`
	Embedder   Embedder        `toml:"embedder"`
	LLM        LLM             `toml:"llm"`
	Jobs       Jobs            `toml:"jobs"`
	Metrics    Metrics         `toml:"metrics"`
	Billing    Billing         `toml:"billing"`
	SMTP       SMTP            `toml:"smtp"`
	Webhooks   Webhooks        `toml:"webhooks"`
	Costs      Costs           `toml:"costs"`
	Plans      map[string]Plan `toml:"plans"`
	// Models prices model calls for the internal cost of each request, in USD per
	// million tokens, keyed by model name.
	Models map[string]ModelPrice `toml:"models"`
}

// Meter tunes usage metering.
type Meter struct {
	// FlushInterval bounds how long a read request's usage event waits in memory before
	// it is committed; a crash loses at most this much of read events, never a write's.
	FlushInterval Duration `toml:"flush_interval"`
	// EventRetention is how long per-request usage events are kept; rollups are kept.
	EventRetention Duration `toml:"event_retention"`
}

// Metrics controls the Prometheus endpoint /metrics.
type Metrics struct {
	Enabled bool `toml:"enabled"`
	// RequireAdminToken puts /metrics behind the operator's admin token.
	RequireAdminToken bool `toml:"require_admin_token"`
}

// Billing closes monthly invoices and watches usage alerts.
type Billing struct {
	// AutoClose invoices every org for the previous month once CloseDelay has passed
	// after the month ended (late usage events of its last second are in by then).
	AutoClose  bool     `toml:"auto_close"`
	CloseDelay Duration `toml:"close_delay"`
	// AlertInterval is how often usage alerts and quotas are checked; a check reads
	// counters already in memory, so a few seconds is cheap.
	AlertInterval Duration `toml:"alert_interval"`
	// StripeSecretKey turns Stripe on: a customer per org, hourly meter events, and each
	// closed invoice sent to Stripe. Empty: Stripe is off and invoices stay local.
	StripeSecretKey string `toml:"stripe_secret_key"`
	// StripeWebhookSecret (whsec_…) verifies POST /v1/stripe/webhook; required with a key.
	StripeWebhookSecret string `toml:"stripe_webhook_secret"`
	// StripeBaseURL is Stripe's API (a stripe-mock in tests).
	StripeBaseURL string `toml:"stripe_base_url"`
	// StripeWebhookTolerance is how old a signed Stripe event may be; older is refused.
	StripeWebhookTolerance Duration `toml:"stripe_webhook_tolerance"`
	// StripeSyncInterval is how often customers, meter events and unsent invoices are
	// brought up to date with Stripe.
	StripeSyncInterval Duration `toml:"stripe_sync_interval"`
	// StripeMeterPrefix starts each meter event name: <prefix>api_calls, <prefix>tokens,
	// <prefix>embeddings.
	StripeMeterPrefix string `toml:"stripe_meter_prefix"`
}

// SMTP sends alert emails; with no host, alerts record that no email was sent.
type SMTP struct {
	Host     string `toml:"host"`
	Port     int    `toml:"port"`
	Username string `toml:"username"`
	Password string `toml:"password"`
	From     string `toml:"from"`
	// To receives alert emails: orgs carry no contact address yet.
	To string `toml:"to"`
	// StartTLS upgrades the connection before authenticating; required unless the host
	// is a local relay.
	StartTLS bool `toml:"starttls"`
}

// Webhooks tunes outgoing event deliveries.
type Webhooks struct {
	// Timeout bounds one attempt; an endpoint must answer 2xx within it.
	Timeout Duration `toml:"timeout"`
	// MaxAttempts is how many times an event is tried before it is marked failed.
	MaxAttempts int `toml:"max_attempts"`
	// RetryBase is the wait after the first failure; it doubles each attempt (with
	// jitter) up to RetryMax.
	RetryBase Duration `toml:"retry_base"`
	RetryMax  Duration `toml:"retry_max"`
}

// Embedder chooses how memories are embedded: the built-in local embedder (offline,
// the default) or any OpenAI-compatible /v1/embeddings endpoint.
type Embedder struct {
	Provider   string   `toml:"provider"` // "local" or "openai"
	BaseURL    string   `toml:"base_url"`
	APIKey     string   `toml:"api_key"`
	Model      string   `toml:"model"`
	Dimensions int      `toml:"dimensions"`
	BatchSize  int      `toml:"batch_size"`
	MaxRetries int      `toml:"max_retries"`
	Timeout    Duration `toml:"timeout"`
	// CacheEntries bounds the cache of embeddings by text (identical texts are embedded
	// once) and the retrieval response cache.
	CacheEntries int `toml:"cache_entries"`
}

// LLM is the optional chat model on any OpenAI-compatible /v1/chat/completions
// endpoint: extraction, update decisions, re-ranking and answers. Without a model,
// extraction uses rules and answers are 501 LLM_NOT_CONFIGURED.
type LLM struct {
	BaseURL string `toml:"base_url"`
	APIKey  string `toml:"api_key"`
	// Model serves every task whose own model is left empty; empty: no language model.
	Model           string `toml:"model"`
	ExtractionModel string `toml:"extraction_model"`
	UpdateModel     string `toml:"update_model"`
	AnswerModel     string `toml:"answer_model"`
	// RerankModel re-ranks /v1/query's candidates; empty: no re-ranking (it does not
	// fall back to Model, since it adds a model call to every query).
	RerankModel string `toml:"rerank_model"`
	// JSONMode sends response_format json_object; turn off for servers that reject it.
	JSONMode   bool     `toml:"json_mode"`
	MaxRetries int      `toml:"max_retries"`
	Timeout    Duration `toml:"timeout"`
}

// TaskModel returns the model of a task ("extraction", "update", "answer", "rerank").
func (l LLM) TaskModel(task string) string {
	switch task {
	case "extraction":
		return cmpOr(l.ExtractionModel, l.Model)
	case "update":
		return cmpOr(l.UpdateModel, l.Model)
	case "answer":
		return cmpOr(l.AnswerModel, l.Model)
	case "rerank":
		return l.RerankModel
	}
	return ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Jobs runs background jobs (extraction, re-embedding).
type Jobs struct {
	// Workers is how many jobs run at once.
	Workers int `toml:"workers"`
}

// ModelPrice is what a model costs the operator.
type ModelPrice struct {
	InputPer1M  float64 `toml:"input_per_1m"`
	OutputPer1M float64 `toml:"output_per_1m"`
}

// Server is the HTTP listener.
type Server struct {
	Listen          string   `toml:"listen"`
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	ReadTimeout     Duration `toml:"read_timeout"`
	WriteTimeout    Duration `toml:"write_timeout"`
	IdleTimeout     Duration `toml:"idle_timeout"`
	MaxBodyBytes    int64    `toml:"max_body_bytes"`
	// ReadHeaderTimeout drops a client that dribbles its headers (slowloris) and
	// MaxHeaderBytes bounds them.
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	MaxHeaderBytes    int      `toml:"max_header_bytes"`
}

// TLS serves HTTPS from a certificate and key file (PEM). TLS 1.2 is the minimum;
// clients that can get TLS 1.3.
type TLS struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// RedirectListen, when set, is a plain-HTTP listener that only redirects to HTTPS.
	RedirectListen string `toml:"redirect_listen"`
	// HSTSMaxAge is Strict-Transport-Security's max-age on HTTPS answers; 0 sends none.
	HSTSMaxAge Duration `toml:"hsts_max_age"`
}

// Enabled reports whether the server serves HTTPS.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// CORS lets browser apps on other origins call the API.
type CORS struct {
	// AllowedOrigins lists origins ("https://app.example.com") allowed to call the API
	// from a browser; empty allows none. "*" allows any origin, which is safe only
	// because the API authenticates with a header, never a cookie: no answer ever
	// carries Access-Control-Allow-Credentials.
	AllowedOrigins []string `toml:"allowed_origins"`
	// MaxAge is how long a browser may cache a preflight answer.
	MaxAge Duration `toml:"max_age"`
}

// Encryption turns on encryption at rest with a master key: base64 of 32 random bytes,
// in a file (MasterKeyFile) or the MEMORYD_ENCRYPTION_MASTER_KEY variable.
type Encryption struct {
	MasterKeyFile string `toml:"master_key_file"`
	MasterKey     string `toml:"master_key"`
}

// ErrMasterKey is returned for a master key that is not base64 of 32 bytes.
var ErrMasterKey = errors.New("config: the encryption master key must be base64 of 32 bytes (make one with: head -c 32 /dev/urandom | base64)")

// Key returns the master key, or nil when encryption is off.
func (e Encryption) Key() ([]byte, error) {
	text := e.MasterKey
	if e.MasterKeyFile != "" {
		raw, err := os.ReadFile(e.MasterKeyFile)
		if err != nil {
			return nil, fmt.Errorf("config: encryption.master_key_file: %w", err)
		}
		text = string(raw)
	}
	return DecodeMasterKey(text)
}

// DecodeMasterKey decodes a base64 master key; empty text is no key.
func DecodeMasterKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(key) != 32 {
		return nil, ErrMasterKey
	}
	return key, nil
}

// Audit keeps a log of every authenticated request.
type Audit struct {
	// Retention is how long audit events are kept; older ones are purged hourly.
	Retention Duration `toml:"retention"`
}

// Storage is where bbolt keeps its file.
type Storage struct {
	DataDir string `toml:"data_dir"`
}

// Admin guards the operator API.
type Admin struct {
	Token string `toml:"token"`
	// PasswordBcrypt is the bcrypt hash of the operator's dashboard password; the
	// dashboard at /admin also accepts the token.
	PasswordBcrypt string `toml:"password_bcrypt"`
	// SessionTTL is how long a dashboard sign-in (customer or operator) lasts.
	SessionTTL Duration `toml:"session_ttl"`
}

// Costs are the operator's costs beyond model calls, for the margin analytics.
type Costs struct {
	// InfrastructureMonthlyUSD is what the machines cost a month; it is allocated to orgs
	// by their share of requests and of stored bytes.
	InfrastructureMonthlyUSD float64 `toml:"infrastructure_monthly_usd"`
	// RequestShare is the part of the infrastructure cost allocated by requests (0 to 1);
	// the rest is allocated by stored bytes.
	RequestShare float64 `toml:"request_share"`
}

// Auth tunes API keys.
type Auth struct {
	// DefaultRotateGrace is the grace period of a rotated key when the request names none.
	DefaultRotateGrace Duration `toml:"default_rotate_grace"`
}

// Log sets the server's log output.
type Log struct {
	Format string `toml:"format"` // "text" or "json"
	Level  string `toml:"level"`  // "debug", "info", "warn", "error"
}

// DefaultOrg is the org created on first start with an empty data folder.
type DefaultOrg struct {
	OrgName string `toml:"org_name"`
	OrgPlan string `toml:"org_plan"`
}

// Plan holds a plan's limits and prices. Monthly quotas are keyed by metric
// (memories_stored, api_calls, tokens, embeddings); 0 means unlimited. A metric with an
// overage price is billed beyond its quota; one without is a hard cap.
type Plan struct {
	RequestsPerMinute int              `toml:"requests_per_minute"`
	RequestsPerDay    int              `toml:"requests_per_day"`
	Concurrent        int              `toml:"concurrent"`
	PriceUSD          float64          `toml:"price_usd"`
	Monthly           map[string]int64 `toml:"monthly"`
	Overage           Overage          `toml:"overage"`
}

// Overage prices usage beyond a plan's quota, in USD; 0 means none (a hard cap).
type Overage struct {
	APICallsPer1K float64 `toml:"api_calls_per_1k"`
	TokensPer1M   float64 `toml:"tokens_per_1m"`
}

// QuotaMetrics are the metrics a plan's monthly quota can cap.
var QuotaMetrics = []string{"memories_stored", "api_calls", "tokens", "embeddings"}

// PlanNames lists the plans in price order.
var PlanNames = []string{"free", "starter", "pro", "enterprise"}

// Duration is a time.Duration written as "30s" or "1h" in TOML and env vars.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Default returns the built-in settings: the server runs on these with no config file.
func Default() Config {
	return Config{
		Server: Server{
			Listen:          "127.0.0.1:8080",
			ShutdownTimeout: Duration{15 * time.Second},
			ReadTimeout:     Duration{30 * time.Second},
			WriteTimeout:    Duration{60 * time.Second},
			IdleTimeout:     Duration{120 * time.Second},
			MaxBodyBytes:    10 << 20,

			ReadHeaderTimeout: Duration{10 * time.Second},
			MaxHeaderBytes:    64 << 10,
		},
		TLS:      TLS{HSTSMaxAge: Duration{365 * 24 * time.Hour}},
		CORS:     CORS{AllowedOrigins: []string{}, MaxAge: Duration{10 * time.Minute}},
		Audit:    Audit{Retention: Duration{90 * 24 * time.Hour}},
		Storage:  Storage{DataDir: "./data"},
		Admin:    Admin{SessionTTL: Duration{12 * time.Hour}},
		Costs:    Costs{RequestShare: 0.5},
		Auth:     Auth{DefaultRotateGrace: Duration{time.Hour}},
		Log:      Log{Format: "text", Level: "info"},
		Defaults: DefaultOrg{OrgName: "default", OrgPlan: "enterprise"},
		Meter:    Meter{FlushInterval: Duration{time.Second}, EventRetention: Duration{90 * 24 * time.Hour}},
		Metrics:  Metrics{Enabled: true},
		Billing: Billing{AutoClose: true, CloseDelay: Duration{time.Hour}, AlertInterval: Duration{5 * time.Second},
			StripeBaseURL: "https://api.stripe.com", StripeWebhookTolerance: Duration{5 * time.Minute},
			StripeSyncInterval: Duration{time.Minute}, StripeMeterPrefix: "memoryd_"},
		SMTP: SMTP{Port: 587, StartTLS: true},
		Webhooks: Webhooks{Timeout: Duration{10 * time.Second}, MaxAttempts: 8,
			RetryBase: Duration{30 * time.Second}, RetryMax: Duration{6 * time.Hour}},
		Embedder: Embedder{Provider: "local", BaseURL: "https://api.openai.com/v1", Model: "text-embedding-3-small",
			Dimensions: 384, BatchSize: 100, MaxRetries: 3, Timeout: Duration{30 * time.Second}, CacheEntries: 10000},
		LLM:  LLM{BaseURL: "https://api.openai.com/v1", JSONMode: true, MaxRetries: 3, Timeout: Duration{60 * time.Second}},
		Jobs: Jobs{Workers: 2},
		Plans: map[string]Plan{
			"free": {RequestsPerMinute: 10, RequestsPerDay: 100, Concurrent: 2, Monthly: map[string]int64{
				"memories_stored": 100, "api_calls": 1_000, "tokens": 100_000, "embeddings": 1_000}},
			"starter": {RequestsPerMinute: 60, RequestsPerDay: 5_000, Concurrent: 5, PriceUSD: 49,
				Monthly: map[string]int64{
					"memories_stored": 10_000, "api_calls": 50_000, "tokens": 1_000_000, "embeddings": 50_000},
				Overage: Overage{APICallsPer1K: 0.50, TokensPer1M: 2.00}},
			"pro": {RequestsPerMinute: 300, RequestsPerDay: 50_000, Concurrent: 20, PriceUSD: 99,
				Monthly: map[string]int64{
					"memories_stored": 100_000, "api_calls": 500_000, "tokens": 10_000_000, "embeddings": 500_000},
				Overage: Overage{APICallsPer1K: 0.40, TokensPer1M: 1.50}},
			"enterprise": {RequestsPerMinute: 3_000, RequestsPerDay: 1_000_000, Concurrent: 100, PriceUSD: 499,
				Monthly: map[string]int64{
					"memories_stored": 0, "api_calls": 0, "tokens": 0, "embeddings": 0},
				Overage: Overage{APICallsPer1K: 0.20, TokensPer1M: 1.00}},
		},
		Models: map[string]ModelPrice{
			"gpt-4o-mini":            {InputPer1M: 0.15, OutputPer1M: 0.60},
			"gpt-4.1-nano":           {InputPer1M: 0.10, OutputPer1M: 0.40},
			"gpt-4.1-mini":           {InputPer1M: 0.40, OutputPer1M: 1.60},
			"text-embedding-3-small": {InputPer1M: 0.02},
			"text-embedding-3-large": {InputPer1M: 0.13},
		},
	}
}

// Load builds the configuration: defaults, then the file at path (if path is not empty),
// then the environment. It validates the result.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	if path != "" {
		md, err := toml.DecodeFile(path, &cfg)
		if err != nil {
			return cfg, fmt.Errorf("config: %s: %w", path, err)
		}
		if undec := md.Undecoded(); len(undec) > 0 {
			keys := make([]string, len(undec))
			for i, k := range undec {
				keys[i] = k.String()
			}
			return cfg, fmt.Errorf("config: %s: unknown keys: %s", path, strings.Join(keys, ", "))
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if c.Server.Listen == "" {
		return errors.New("config: server.listen is empty")
	}
	if c.Storage.DataDir == "" {
		return errors.New("config: storage.data_dir is empty")
	}
	if c.Server.MaxBodyBytes <= 0 {
		return errors.New("config: server.max_body_bytes must be positive")
	}
	if c.Server.ReadHeaderTimeout.Duration <= 0 {
		return errors.New("config: server.read_header_timeout must be positive")
	}
	if c.Server.MaxHeaderBytes < 4<<10 || c.Server.MaxHeaderBytes > 1<<20 {
		return errors.New("config: server.max_header_bytes must be from 4096 to 1048576")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("config: tls.cert_file and tls.key_file go together")
	}
	if c.TLS.RedirectListen != "" && !c.TLS.Enabled() {
		return errors.New("config: tls.redirect_listen needs tls.cert_file and tls.key_file")
	}
	if c.TLS.HSTSMaxAge.Duration < 0 {
		return errors.New("config: tls.hsts_max_age must not be negative")
	}
	for _, o := range c.CORS.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("config: cors.allowed_origins: %q is not an origin such as https://app.example.com", o)
		}
	}
	if c.CORS.MaxAge.Duration < 0 {
		return errors.New("config: cors.max_age must not be negative")
	}
	if c.Encryption.MasterKey != "" && c.Encryption.MasterKeyFile != "" {
		return errors.New("config: set encryption.master_key_file or MEMORYD_ENCRYPTION_MASTER_KEY, not both")
	}
	if c.Encryption.MasterKey != "" {
		if _, err := DecodeMasterKey(c.Encryption.MasterKey); err != nil {
			return err
		}
	}
	if c.Audit.Retention.Duration < time.Hour {
		return errors.New("config: audit.retention must be at least 1h")
	}
	if c.Admin.Token != "" && len(c.Admin.Token) < 16 {
		return errors.New("config: admin.token must be at least 16 characters")
	}
	if c.Admin.PasswordBcrypt != "" {
		if _, err := bcrypt.Cost([]byte(c.Admin.PasswordBcrypt)); err != nil {
			return errors.New("config: admin.password_bcrypt is not a bcrypt hash (make one with htpasswd -nbBC 12 '' PASSWORD)")
		}
	}
	if c.Admin.SessionTTL.Duration < time.Minute || c.Admin.SessionTTL.Duration > 30*24*time.Hour {
		return errors.New("config: admin.session_ttl must be from 1m to 720h")
	}
	if c.Costs.InfrastructureMonthlyUSD < 0 || c.Costs.RequestShare < 0 || c.Costs.RequestShare > 1 {
		return errors.New("config: costs.infrastructure_monthly_usd must not be negative and costs.request_share must be from 0 to 1")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("config: log.format %q is not text or json", c.Log.Format)
	}
	switch c.Embedder.Provider {
	case "local":
	case "openai":
		if c.Embedder.Model == "" || c.Embedder.BaseURL == "" {
			return errors.New("config: embedder.model and embedder.base_url are required for the openai provider")
		}
	default:
		return fmt.Errorf("config: embedder.provider %q is not local or openai", c.Embedder.Provider)
	}
	if c.Embedder.Dimensions < 8 || c.Embedder.Dimensions > 4096 {
		return errors.New("config: embedder.dimensions must be from 8 to 4096")
	}
	if c.LLM.BaseURL == "" && (c.LLM.Model != "" || c.LLM.ExtractionModel != "" || c.LLM.UpdateModel != "" || c.LLM.AnswerModel != "" || c.LLM.RerankModel != "") {
		return errors.New("config: llm.base_url is required when a model is set")
	}
	if c.LLM.Timeout.Duration <= 0 || c.LLM.MaxRetries < 0 {
		return errors.New("config: llm.timeout must be positive and llm.max_retries not negative")
	}
	if c.Jobs.Workers < 1 || c.Jobs.Workers > 64 {
		return errors.New("config: jobs.workers must be from 1 to 64")
	}
	if c.Meter.FlushInterval.Duration <= 0 || c.Meter.FlushInterval.Duration > time.Second {
		return errors.New("config: meter.flush_interval must be more than 0 and at most 1s")
	}
	if c.Billing.CloseDelay.Duration < 0 || c.Billing.AlertInterval.Duration <= 0 {
		return errors.New("config: billing.close_delay must not be negative and billing.alert_interval must be positive")
	}
	if c.Billing.StripeSecretKey != "" {
		if c.Billing.StripeWebhookSecret == "" {
			return errors.New("config: billing.stripe_secret_key needs billing.stripe_webhook_secret (Stripe's events settle invoices)")
		}
		if u, err := url.Parse(c.Billing.StripeBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return errors.New("config: billing.stripe_base_url must be an http or https URL")
		}
		if c.Billing.StripeWebhookTolerance.Duration <= 0 || c.Billing.StripeSyncInterval.Duration <= 0 || c.Billing.StripeMeterPrefix == "" {
			return errors.New("config: billing.stripe_webhook_tolerance and stripe_sync_interval must be positive, stripe_meter_prefix not empty")
		}
	}
	if c.SMTP.Host != "" && (c.SMTP.From == "" || c.SMTP.To == "" || c.SMTP.Port < 1 || c.SMTP.Port > 65535) {
		return errors.New("config: smtp.host needs smtp.from, smtp.to and a port from 1 to 65535")
	}
	if c.Webhooks.Timeout.Duration <= 0 || c.Webhooks.MaxAttempts < 1 || c.Webhooks.RetryBase.Duration <= 0 || c.Webhooks.RetryMax.Duration < c.Webhooks.RetryBase.Duration {
		return errors.New("config: webhooks: timeout and retry_base must be positive, max_attempts at least 1, retry_max at least retry_base")
	}
	for _, name := range PlanNames {
		p, ok := c.Plans[name]
		if !ok {
			return fmt.Errorf("config: plans.%s is missing", name)
		}
		if p.RequestsPerMinute < 1 || p.RequestsPerDay < 1 || p.Concurrent < 1 {
			return fmt.Errorf("config: plans.%s: requests_per_minute, requests_per_day and concurrent must be at least 1", name)
		}
		if p.PriceUSD < 0 || p.Overage.APICallsPer1K < 0 || p.Overage.TokensPer1M < 0 {
			return fmt.Errorf("config: plans.%s: prices must not be negative", name)
		}
		for metric, n := range p.Monthly {
			if !slices.Contains(QuotaMetrics, metric) {
				return fmt.Errorf("config: plans.%s.monthly.%s is not a metric (use %s)", name, metric, strings.Join(QuotaMetrics, ", "))
			}
			if n < 0 {
				return fmt.Errorf("config: plans.%s.monthly.%s must not be negative", name, metric)
			}
		}
	}
	if _, ok := c.Plans[c.Defaults.OrgPlan]; !ok {
		return fmt.Errorf("config: defaults.org_plan %q is not a plan", c.Defaults.OrgPlan)
	}
	return nil
}

// EnvKeys lists every environment variable that overrides a setting, for documentation
// and tests.
func EnvKeys() []string {
	var keys []string
	walkSettings(reflect.ValueOf(&Config{}).Elem(), "MEMORYD", func(name string, _ reflect.Value) {
		keys = append(keys, name)
	})
	sort.Strings(keys)
	return keys
}

// applyEnv sets each scalar setting named by a MEMORYD_<SECTION>_<KEY> variable.
// Plan limits use MEMORYD_PLANS_<PLAN>_<KEY>, e.g. MEMORYD_PLANS_FREE_REQUESTS_PER_MINUTE.
func applyEnv(cfg *Config, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "MEMORYD_") {
			env[k] = v
		}
	}
	var firstErr error
	walkSettings(reflect.ValueOf(cfg).Elem(), "MEMORYD", func(name string, field reflect.Value) {
		v, ok := env[name]
		if !ok || firstErr != nil {
			return
		}
		if err := setScalar(field, v); err != nil {
			firstErr = fmt.Errorf("config: %s: %w", name, err)
		}
	})
	if firstErr != nil {
		return firstErr
	}
	for name, plan := range cfg.Plans {
		p := plan
		prefix := "MEMORYD_PLANS_" + strings.ToUpper(name)
		walkSettings(reflect.ValueOf(&p).Elem(), prefix, func(key string, field reflect.Value) {
			if v, ok := env[key]; ok && firstErr == nil {
				if err := setScalar(field, v); err != nil {
					firstErr = fmt.Errorf("config: %s: %w", key, err)
				}
			}
		})
		for metric := range p.Monthly {
			key := prefix + "_MONTHLY_" + strings.ToUpper(metric)
			if v, ok := env[key]; ok && firstErr == nil {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					firstErr = fmt.Errorf("config: %s: %w", key, err)
				}
				p.Monthly[metric] = n
			}
		}
		cfg.Plans[name] = p
	}
	return firstErr
}

// walkSettings calls fn for each scalar field below v with its env variable name.
func walkSettings(v reflect.Value, prefix string, fn func(name string, field reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("toml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		fv := v.Field(i)
		switch {
		case f.Type == reflect.TypeOf(Duration{}):
			fn(name, fv)
		case f.Type.Kind() == reflect.Struct:
			walkSettings(fv, name, fn)
		case f.Type.Kind() == reflect.Map:
			// Maps are keyed by data (plan names, metrics) and handled by the caller.
		default:
			fn(name, fv)
		}
	}
}

func setScalar(field reflect.Value, s string) error {
	if d, ok := field.Addr().Interface().(*Duration); ok {
		return d.UnmarshalText([]byte(s))
	}
	switch field.Kind() {
	case reflect.String:
		field.SetString(s)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		field.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		field.SetBool(b)
	case reflect.Slice:
		// Lists are comma-separated in the environment.
		var items []string
		for _, it := range strings.Split(s, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		if items == nil {
			items = []string{}
		}
		field.Set(reflect.ValueOf(items))
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		field.SetFloat(f)
	default:
		return fmt.Errorf("unsupported setting type %s", field.Kind())
	}
	return nil
}
