package billing

// Stripe, through stripe-go v82: a customer per org, usage sent to Stripe's meters one
// event per org, metric and hour, each closed invoice sent with memoryd's own lines,
// and Stripe's invoice events applied back, each once.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"

	"memoryd/config"
	"memoryd/store"
)

// Errors of incoming Stripe events.
var (
	ErrStripeSignature = errors.New("billing: the Stripe-Signature header does not verify, or the event is too old")
	ErrStripeEvent     = errors.New("billing: the body is not a Stripe event")
)

// Stripe rules this code follows.
const (
	// meterWindow is how far back Stripe accepts a meter event's timestamp (35 days).
	meterWindow = 35 * 24 * time.Hour
	// meterGrace is how long after an hour ends its usage is sent: the meter commits
	// events within a second, so by then the hour's rollup is whole.
	meterGrace = time.Minute
	// stripeCallTimeout bounds one Stripe call, its own retries included.
	stripeCallTimeout = 30 * time.Second
)

// MeterMetrics are the usage types sent to Stripe's meters, each as the event
// <stripe_meter_prefix><metric>.
var MeterMetrics = []string{"api_calls", "tokens", "embeddings"}

func meterValue(metric string, c store.UsageCounters) int64 {
	switch metric {
	case "api_calls":
		return c.APICalls
	case "tokens":
		return c.TokensIn + c.TokensOut
	default:
		return c.Embeddings
	}
}

// MeterIdentifier names one org's usage of one metric in one hour. Stripe counts an
// identifier once, so sending the same hour again (a retry after a failure or a
// crash) never bills it twice.
func MeterIdentifier(orgID, metric string, hour time.Time) string {
	return "memoryd-" + orgID + "-" + metric + "-" + hour.UTC().Format("2006010215")
}

// newStripe returns a Stripe client for the configured base URL, or nil when Stripe is
// off.
func newStripe(cfg config.Billing, log *slog.Logger) *stripe.Client {
	if cfg.StripeSecretKey == "" {
		return nil
	}
	b := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String(strings.TrimRight(cfg.StripeBaseURL, "/")),
		HTTPClient:        &http.Client{Timeout: stripeCallTimeout},
		LeveledLogger:     stripeLog{log},
		MaxNetworkRetries: stripe.Int64(2),
	})
	return stripe.NewClient(cfg.StripeSecretKey, stripe.WithBackends(&stripe.Backends{API: b, Connect: b, Uploads: b, MeterEvents: b}))
}

// stripeLog sends stripe-go's own messages to slog; its errors are also returned to
// callers, who log them with context, so they are debug here.
type stripeLog struct{ log *slog.Logger }

func (l stripeLog) Debugf(f string, v ...any) { l.log.Debug("stripe: " + fmt.Sprintf(f, v...)) }
func (l stripeLog) Infof(f string, v ...any)  { l.log.Debug("stripe: " + fmt.Sprintf(f, v...)) }
func (l stripeLog) Warnf(f string, v ...any)  { l.log.Debug("stripe: " + fmt.Sprintf(f, v...)) }
func (l stripeLog) Errorf(f string, v ...any) { l.log.Debug("stripe: " + fmt.Sprintf(f, v...)) }

// StripeEnabled reports whether Stripe is configured.
func (s *Service) StripeEnabled() bool { return s.stripe != nil }

// OrgCreated asks for a Stripe sync soon, so a new org gets its customer at once.
func (s *Service) OrgCreated() {
	if s.stripe == nil {
		return
	}
	select {
	case s.stripeWake <- struct{}{}:
	default:
	}
}

// stripeCustomer returns the org's Stripe customer, creating it the first time. The
// idempotency key makes a create repeated after a crash return the same customer.
func (s *Service) stripeCustomer(ctx context.Context, org store.Org) (string, error) {
	// The periodic sync and a month's close may both reach a new org at once.
	s.customerMu.Lock()
	defer s.customerMu.Unlock()
	id, err := s.st.StripeCustomer(org.ID)
	if err != nil || id != "" {
		return id, err
	}
	p := &stripe.CustomerCreateParams{Name: stripe.String(org.Name), Metadata: map[string]string{"memoryd_org_id": org.ID}}
	p.SetIdempotencyKey("memoryd-customer-" + org.ID)
	c, err := s.stripe.V1Customers.Create(ctx, p)
	if err != nil {
		return "", fmt.Errorf("billing: create Stripe customer of %s: %w", org.ID, err)
	}
	if err := s.st.SetStripeCustomer(org.ID, c.ID); err != nil {
		return "", err
	}
	s.log.Info("stripe customer created", "org_id", org.ID, "customer", c.ID)
	return c.ID, nil
}

// SyncStripe brings Stripe up to date: every org's customer and meter events for the
// hours that have ended, and invoices that did not reach Stripe when their month was
// closed. It goes on past one org's failure and returns the first.
func (s *Service) SyncStripe(ctx context.Context) error {
	if s.stripe == nil {
		return nil
	}
	var first error
	keep := func(err error) {
		if err != nil {
			s.log.Warn("stripe sync", "err", err)
			if first == nil {
				first = err
			}
		}
	}
	after := ""
	for {
		orgs, next, err := s.st.ListOrgs(after, 100)
		if err != nil {
			return err
		}
		for _, org := range orgs {
			keep(s.sendMeterEvents(ctx, org))
		}
		if next == "" {
			break
		}
		after = next
	}
	// An invoice waits in draft until Stripe has it: look back over the last months.
	month := s.now().UTC()
	for range 3 {
		month = time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
		invs, err := s.st.InvoicesForPeriod(month.Format("2006-01"))
		if err != nil {
			return err
		}
		for _, inv := range invs {
			if inv.Status != StatusDraft {
				continue
			}
			_, err := s.syncInvoice(ctx, inv)
			if errors.Is(err, store.ErrOrgNotFound) {
				continue // deleted before it had a Stripe customer: the invoice stays here
			}
			keep(err)
		}
	}
	return first
}

// sendMeterEvents sends the org's live usage of each hour that has ended since the last
// sync, one meter event per metric with usage. The cursor moves only once every event
// of the span is sent; after a failure the next sync sends the same identifiers again.
func (s *Service) sendMeterEvents(ctx context.Context, org store.Org) error {
	cust, err := s.stripeCustomer(ctx, org)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	end := now.Add(-meterGrace).Truncate(time.Hour)
	from, err := s.st.MeterCursor(org.ID)
	if err != nil {
		return err
	}
	// The first sync looks as far back as Stripe accepts (an org imported or used
	// before Stripe was turned on); later ones start where the last one ended.
	if oldest := now.Add(-meterWindow).Truncate(time.Hour).Add(time.Hour); from.Before(oldest) {
		if !from.IsZero() {
			s.log.Warn("stripe meter events: hours older than Stripe accepts are not sent", "org_id", org.ID, "from", from, "to", oldest)
		}
		from = oldest
	}
	if !from.Before(end) {
		return nil
	}
	rows, err := s.st.Rollups(org.ID, store.ModeLive, store.Hourly, store.DimAll, from, end)
	if err != nil {
		return err
	}
	sent := 0
	for _, r := range rows {
		hour, err := time.Parse("2006-01-02T15", r.Start)
		if err != nil {
			return err
		}
		for _, metric := range MeterMetrics {
			v := meterValue(metric, r.Counters)
			if v <= 0 {
				continue
			}
			p := &stripe.BillingMeterEventCreateParams{
				EventName:  stripe.String(s.cfg.Billing.StripeMeterPrefix + metric),
				Identifier: stripe.String(MeterIdentifier(org.ID, metric, hour)),
				Payload:    map[string]string{"stripe_customer_id": cust, "value": strconv.FormatInt(v, 10)},
				Timestamp:  stripe.Int64(hour.Unix()),
			}
			if _, err := s.stripe.V1BillingMeterEvents.Create(ctx, p); err != nil {
				return fmt.Errorf("billing: meter event %s: %w", *p.Identifier, err)
			}
			sent++
		}
	}
	if sent > 0 {
		s.log.Info("stripe meter events sent", "org_id", org.ID, "events", sent, "from", from, "to", end)
	}
	return s.st.SetMeterCursor(org.ID, end)
}

// syncInvoice sends a draft invoice to Stripe: the invoice, one item per line, then
// finalizes it, after which it is open here too. Each step is recorded or carries an
// idempotency key, so a sync that stopped anywhere resumes without a second charge.
func (s *Service) syncInvoice(ctx context.Context, inv store.Invoice) (store.Invoice, error) {
	// One sync at a time, from the stored state: a close and the periodic sync may
	// both find the same draft.
	s.invoiceSyncMu.Lock()
	defer s.invoiceSyncMu.Unlock()
	inv, err := s.st.GetInvoice(inv.OrgID, inv.ID)
	if err != nil || inv.Status != StatusDraft {
		return inv, err
	}
	cust, err := s.st.StripeCustomer(inv.OrgID)
	if err != nil {
		return inv, err
	}
	if cust == "" {
		org, err := s.st.GetOrg(inv.OrgID)
		if err != nil {
			return inv, err
		}
		if cust, err = s.stripeCustomer(ctx, org); err != nil {
			return inv, err
		}
	}
	key := "memoryd-" + inv.ID
	if inv.StripeInvoiceID == "" {
		p := &stripe.InvoiceCreateParams{
			Customer: stripe.String(cust), Currency: stripe.String("usd"), AutoAdvance: stripe.Bool(false),
			CollectionMethod:            stripe.String("charge_automatically"),
			PendingInvoiceItemsBehavior: stripe.String("exclude"),
			Description:                 stripe.String("memoryd " + inv.Plan + " plan, " + inv.Period),
			Metadata:                    map[string]string{"memoryd_org_id": inv.OrgID, "memoryd_invoice_id": inv.ID, "memoryd_period": inv.Period},
		}
		p.SetIdempotencyKey(key)
		si, err := s.stripe.V1Invoices.Create(ctx, p)
		if err != nil {
			return inv, fmt.Errorf("billing: create Stripe invoice for %s: %w", inv.ID, err)
		}
		if inv, err = s.st.UpdateInvoice(inv.OrgID, inv.ID, func(i *store.Invoice) error {
			i.StripeInvoiceID = si.ID
			return nil
		}); err != nil {
			return inv, err
		}
	}
	for n := inv.StripeLines; n < len(inv.Lines); n++ {
		l := inv.Lines[n]
		p := &stripe.InvoiceItemCreateParams{
			Customer: stripe.String(cust), Invoice: stripe.String(inv.StripeInvoiceID), Currency: stripe.String("usd"),
			Amount: stripe.Int64(l.AmountMicros / 10_000), Description: stripe.String(l.Description),
			Metadata: map[string]string{"memoryd_invoice_id": inv.ID, "memoryd_line": strconv.Itoa(n)},
		}
		p.SetIdempotencyKey(fmt.Sprintf("%s-line-%d", key, n))
		if _, err := s.stripe.V1InvoiceItems.Create(ctx, p); err != nil {
			return inv, fmt.Errorf("billing: add line %d to Stripe invoice %s: %w", n, inv.StripeInvoiceID, err)
		}
		if inv, err = s.st.UpdateInvoice(inv.OrgID, inv.ID, func(i *store.Invoice) error {
			i.StripeLines = n + 1
			return nil
		}); err != nil {
			return inv, err
		}
	}
	fp := &stripe.InvoiceFinalizeInvoiceParams{AutoAdvance: stripe.Bool(true)}
	fp.SetIdempotencyKey(key + "-finalize")
	if _, err := s.stripe.V1Invoices.FinalizeInvoice(ctx, inv.StripeInvoiceID, fp); err != nil {
		return inv, fmt.Errorf("billing: finalize Stripe invoice %s: %w", inv.StripeInvoiceID, err)
	}
	return s.st.UpdateInvoice(inv.OrgID, inv.ID, func(i *store.Invoice) error {
		if i.Status == StatusDraft {
			i.Status = StatusOpen
		}
		return nil
	})
}

// stripeInvoice is what memoryd reads of a Stripe invoice in an event.
type stripeInvoice struct {
	ID       string            `json:"id"`
	Metadata map[string]string `json:"metadata"`
}

// HandleStripeEvent verifies a Stripe event (signature and age) and applies it, once:
// replayed reports an event applied before, which changes nothing.
func (s *Service) HandleStripeEvent(payload []byte, signature string) (replayed bool, err error) {
	ev, err := webhook.ConstructEventWithOptions(payload, signature, s.cfg.Billing.StripeWebhookSecret,
		webhook.ConstructEventOptions{Tolerance: s.cfg.Billing.StripeWebhookTolerance.Duration,
			// Stripe sends events in the account's API version; memoryd reads a few
			// fields of invoices that every version has.
			IgnoreAPIVersionMismatch: true})
	switch {
	case errors.Is(err, webhook.ErrNotSigned), errors.Is(err, webhook.ErrInvalidHeader),
		errors.Is(err, webhook.ErrNoValidSignature), errors.Is(err, webhook.ErrTooOld):
		return false, fmt.Errorf("%w: %v", ErrStripeSignature, err)
	case err != nil:
		return false, fmt.Errorf("%w: %v", ErrStripeEvent, err)
	case ev.ID == "" || ev.Type == "":
		return false, fmt.Errorf("%w: it has no id or type", ErrStripeEvent)
	}
	s.stripeMu.Lock()
	defer s.stripeMu.Unlock()
	seen, err := s.st.StripeEventApplied(ev.ID)
	if err != nil || seen {
		return seen, err
	}
	switch ev.Type {
	case "invoice.created", "invoice.paid", "invoice.payment_failed":
		var si stripeInvoice
		if ev.Data == nil || json.Unmarshal(ev.Data.Raw, &si) != nil {
			return false, fmt.Errorf("%w: data.object is not an invoice", ErrStripeEvent)
		}
		if err := s.applyInvoiceEvent(string(ev.Type), si); err != nil {
			return false, err
		}
	default:
		s.log.Debug("stripe event ignored", "event_id", ev.ID, "type", ev.Type)
	}
	return false, s.st.MarkStripeEventApplied(ev.ID)
}

// applyInvoiceEvent applies Stripe's news about one of memoryd's invoices: it was
// created there (announced as billing.invoice_created), paid, or its payment failed.
// Invoices memoryd did not send, and moves an invoice cannot make, change nothing.
func (s *Service) applyInvoiceEvent(typ string, si stripeInvoice) error {
	orgID, id := si.Metadata["memoryd_org_id"], si.Metadata["memoryd_invoice_id"]
	if orgID == "" || id == "" {
		s.log.Info("stripe event about an invoice memoryd did not send", "type", typ, "stripe_invoice_id", si.ID)
		return nil
	}
	inv, err := s.st.GetInvoice(orgID, id)
	if errors.Is(err, store.ErrInvoiceNotFound) {
		s.log.Warn("stripe event about an unknown invoice", "type", typ, "org_id", orgID, "invoice_id", id)
		return nil
	}
	if err != nil {
		return err
	}
	if inv.StripeInvoiceID != "" && inv.StripeInvoiceID != si.ID {
		s.log.Warn("stripe event names another Stripe invoice", "type", typ, "invoice_id", id,
			"stripe_invoice_id", si.ID, "linked", inv.StripeInvoiceID)
		return nil
	}
	if inv.StripeInvoiceID == "" && si.ID != "" {
		if inv, err = s.st.UpdateInvoice(orgID, id, func(i *store.Invoice) error {
			i.StripeInvoiceID = si.ID
			return nil
		}); err != nil {
			return err
		}
	}
	target := map[string]string{"invoice.paid": StatusPaid, "invoice.payment_failed": StatusPaymentFailed}[typ]
	if target == "" { // invoice.created
		fresh, err := s.st.MarkFired(orgID, "invoice_created|"+inv.ID)
		if err != nil {
			return err
		}
		if fresh {
			s.Emit(orgID, EventInvoiceCreated, ViewInvoice(inv))
		}
		return nil
	}
	// Stripe settles only finalized invoices: one still draft here was finalized there
	// before memoryd recorded it.
	if inv.Status == StatusDraft {
		if _, err := s.SetStatus(orgID, id, StatusOpen); err != nil {
			return err
		}
	}
	_, err = s.SetStatus(orgID, id, target)
	if errors.Is(err, ErrBadTransition) {
		s.log.Warn("stripe event ignored", "type", typ, "invoice_id", id, "err", err)
		return nil
	}
	return err
}
