// Package billing turns metered usage into money and notices: monthly invoices from
// the daily rollups, usage alerts, and signed outgoing webhooks with their retries.
// It depends only on config, store and meter.
package billing

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v82"

	"memoryd/config"
	"memoryd/meter"
	"memoryd/store"
)

// Errors callers check with errors.Is.
var (
	ErrBadPeriod     = errors.New("billing: period must be a month written YYYY-MM")
	ErrPeriodOpen    = errors.New("billing: the month has not ended yet")
	ErrBadTransition = errors.New("billing: the invoice cannot move to that status")
)

// Store is what billing needs of the store.
type Store interface {
	GetOrg(id string) (store.Org, error)
	ListOrgs(after string, limit int) ([]store.Org, string, error)
	Rollups(orgID string, mode store.Mode, gran, dim string, from, to time.Time) ([]store.RollupRow, error)
	MemoriesStored(orgID string, mode store.Mode) (int64, error)

	PutInvoiceOnce(inv store.Invoice) (store.Invoice, bool, error)
	UpdateInvoice(orgID, id string, fn func(*store.Invoice) error) (store.Invoice, error)
	BillingOrgs() ([]string, error)

	ListAlerts(orgID string) ([]store.Alert, error)
	UpdateAlert(orgID, id string, fn func(*store.Alert) error) (store.Alert, error)
	MarkFired(orgID, key string) (bool, error)

	PutWebhook(w store.Webhook) error
	AllWebhooks() ([]store.Webhook, error)
	GetWebhook(orgID, id string) (store.Webhook, error)
	DeleteWebhook(orgID, id string) error
	PutDelivery(d store.Delivery) error
	PendingDeliveries() ([]store.Delivery, error)

	GetInvoice(orgID, id string) (store.Invoice, error)
	InvoicesForPeriod(period string) ([]store.Invoice, error)
	StripeCustomer(orgID string) (string, error)
	SetStripeCustomer(orgID, customerID string) error
	MeterCursor(orgID string) (time.Time, error)
	SetMeterCursor(orgID string, t time.Time) error
	StripeEventApplied(id string) (bool, error)
	MarkStripeEventApplied(id string) error
}

// Service closes billing periods, checks alerts and delivers webhooks.
type Service struct {
	cfg    config.Config
	st     Store
	meter  *meter.Meter
	log    *slog.Logger
	now    func() time.Time
	client *http.Client
	mailer Mailer
	stripe *stripe.Client // nil: Stripe is off

	stripeMu      sync.Mutex // one Stripe event applied at a time, so a replay racing its first delivery waits for it
	invoiceSyncMu sync.Mutex // one invoice sent to Stripe at a time
	customerMu    sync.Mutex // one Stripe customer created at a time

	mu   sync.RWMutex
	subs map[string][]store.Webhook // org → endpoints, for a cheap "anyone listening?"

	inflightMu sync.Mutex
	inflight   map[string]bool // deliveries being attempted
	wake       chan struct{}
	stripeWake chan struct{} // an org was created: sync Stripe now
}

// Options tune New; zero values take defaults.
type Options struct {
	Log    *slog.Logger
	Now    func() time.Time
	Mailer Mailer // nil: SMTP per config
}

// New returns the service; LoadWebhooks must run before events are emitted.
func New(cfg config.Config, st Store, m *meter.Meter, opt Options) *Service {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Mailer == nil {
		opt.Mailer = NewSMTPMailer(cfg.SMTP)
	}
	return &Service{
		cfg: cfg, st: st, meter: m, log: opt.Log, now: opt.Now, mailer: opt.Mailer, stripe: newStripe(cfg.Billing, opt.Log),
		client: &http.Client{
			Timeout: cfg.Webhooks.Timeout.Duration,
			// A redirect could lead a signed event somewhere the customer did not name.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		subs: map[string][]store.Webhook{}, inflight: map[string]bool{}, wake: make(chan struct{}, 1), stripeWake: make(chan struct{}, 1),
	}
}

// Run does billing's periodic work until ctx ends: webhook deliveries, alert checks,
// closing the previous month once it has ended, and with Stripe on, its sync.
func (s *Service) Run(ctx context.Context) {
	poll := min(max(s.cfg.Webhooks.RetryBase.Duration/4, 20*time.Millisecond), time.Second)
	deliver := time.NewTicker(poll)
	defer deliver.Stop()
	alerts := time.NewTicker(s.cfg.Billing.AlertInterval.Duration)
	defer alerts.Stop()
	closer := time.NewTicker(time.Minute)
	defer closer.Stop()
	var sending sync.WaitGroup
	defer sending.Wait()
	if s.stripe != nil {
		// Stripe calls may be slow: they run apart from the delivery loop, one sync at
		// a time. A wake during a sync brings another right after it.
		sending.Add(1)
		go func() {
			defer sending.Done()
			t := time.NewTicker(s.cfg.Billing.StripeSyncInterval.Duration)
			defer t.Stop()
			for {
				_ = s.SyncStripe(ctx)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				case <-s.stripeWake:
				}
			}
		}()
	}
	closed := ""
	s.closeDue(&closed)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			s.deliverDue(ctx, &sending)
		case <-deliver.C:
			s.deliverDue(ctx, &sending)
		case <-alerts.C:
			s.CheckAlerts()
		case <-closer.C:
			s.closeDue(&closed)
		}
	}
}

// closeDue closes the previous month once CloseDelay has passed since it ended.
func (s *Service) closeDue(closed *string) {
	if !s.cfg.Billing.AutoClose {
		return
	}
	now := s.now().UTC()
	start := meter.MonthStart(now)
	prev := start.AddDate(0, -1, 0).Format("2006-01")
	if *closed == prev || now.Before(start.Add(s.cfg.Billing.CloseDelay.Duration)) {
		return
	}
	invs, err := s.Close(prev)
	if err != nil {
		s.log.Error("close billing period", "period", prev, "err", err)
		return
	}
	*closed = prev
	s.log.Info("billing period closed", "period", prev, "invoices", len(invs))
}
