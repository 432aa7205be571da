package billing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"memoryd/config"
	"memoryd/meter"
	"memoryd/store"
)

// Invoice statuses.
const (
	StatusDraft         = "draft"
	StatusOpen          = "open"
	StatusPaid          = "paid"
	StatusPaymentFailed = "payment_failed"
	StatusVoid          = "void"
)

// transitions are the moves an invoice may make: paid and void are final; a failed
// payment may still be paid later, or voided.
var transitions = map[string][]string{
	StatusDraft:         {StatusOpen, StatusVoid},
	StatusOpen:          {StatusPaid, StatusPaymentFailed, StatusVoid},
	StatusPaymentFailed: {StatusPaid, StatusVoid},
}

// CanMove reports whether an invoice in status from may move to status to.
func CanMove(from, to string) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// ParsePeriod reads "YYYY-MM" as the first instant of that month in UTC.
func ParsePeriod(p string) (time.Time, error) {
	t, err := time.Parse("2006-01", p)
	if err != nil || t.Format("2006-01") != p {
		return time.Time{}, ErrBadPeriod
	}
	return t.UTC(), nil
}

// roundCents rounds num/den micro-dollars to the nearest cent, halves up; amounts are
// non-negative.
func roundCents(num, den int64) int64 {
	const cent = 10_000 // micro-dollars
	return (num + den*cent/2) / (den * cent) * cent
}

// Compute builds an org's invoice for the month that starts at start from its usage
// there: the plan's base fee, then one line per metric billed beyond its quota. Each
// line is rounded to the cent, so the lines add up to the total shown.
func Compute(planName string, plan config.Plan, c store.UsageCounters, start time.Time) store.Invoice {
	inv := store.Invoice{Period: start.Format("2006-01"), Plan: planName, Status: StatusDraft}
	title := strings.ToUpper(planName[:1]) + planName[1:]
	base := meter.Micros(plan.PriceUSD)
	inv.Lines = append(inv.Lines, store.InvoiceLine{
		Description: fmt.Sprintf("%s plan, %s", title, start.Format("January 2006")),
		Quantity:    1, UnitPriceMicros: base, UnitPer: 1, AmountMicros: base,
	})
	over := func(metric, what string, used, per int64, priceUSD float64) {
		q := plan.Monthly[metric]
		if q <= 0 || used <= q || priceUSD <= 0 {
			return
		}
		n, price := used-q, meter.Micros(priceUSD)
		inv.Lines = append(inv.Lines, store.InvoiceLine{
			Description: fmt.Sprintf("%s over the included %s", what, groupThousands(q)),
			Metric:      metric, Quantity: n, UnitPriceMicros: price, UnitPer: per,
			AmountMicros: roundCents(n*price, per),
		})
	}
	over("api_calls", "API calls", c.APICalls, 1_000, plan.Overage.APICallsPer1K)
	over("tokens", "Tokens", c.TokensIn+c.TokensOut, 1_000_000, plan.Overage.TokensPer1M)
	for _, l := range inv.Lines {
		inv.SubtotalMicros += l.AmountMicros
	}
	inv.TotalMicros = inv.SubtotalMicros
	return inv
}

func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// UsageFor sums an org's live usage in [start, end) from the daily rollups. Test mode
// is never billed.
func (s *Service) UsageFor(orgID string, start, end time.Time) (store.UsageCounters, bool, error) {
	rows, err := s.st.Rollups(orgID, store.ModeLive, store.Daily, store.DimAll, start, end)
	var c store.UsageCounters
	for _, r := range rows {
		c.Merge(r.Counters)
	}
	return c, len(rows) > 0, err
}

// Close invoices every org for a month that has ended: each org that existed during
// the month or used the API in it. Closing a month again returns the same invoices;
// only orgs without one yet get a new invoice (and billing.invoice_created).
func (s *Service) Close(period string) ([]store.Invoice, error) {
	start, err := ParsePeriod(period)
	if err != nil {
		return nil, err
	}
	end := start.AddDate(0, 1, 0)
	if s.now().Before(end) {
		return nil, ErrPeriodOpen
	}
	// The usage of the month's last second may still be in the meter's queue.
	if s.meter != nil {
		if err := s.meter.Flush(); err != nil {
			return nil, err
		}
	}
	out := []store.Invoice{}
	after := ""
	for {
		orgs, next, err := s.st.ListOrgs(after, 100)
		if err != nil {
			return nil, err
		}
		for _, org := range orgs {
			c, used, err := s.UsageFor(org.ID, start, end)
			if err != nil {
				return nil, err
			}
			if !used && !org.CreatedAt.Before(end) {
				continue
			}
			plan, ok := s.cfg.Plans[org.Plan]
			if !ok {
				return nil, fmt.Errorf("billing: org %s has unknown plan %q", org.ID, org.Plan)
			}
			inv := Compute(org.Plan, plan, c, start)
			inv.ID, inv.OrgID, inv.CreatedAt = store.NewID("inv_"), org.ID, s.now().UTC()
			// Without Stripe the invoice is issued as it is built and announced now.
			// With Stripe it is a draft until Stripe has finalized it, and it is
			// announced when Stripe's invoice.created event comes in.
			inv.Status = StatusOpen
			if s.stripe != nil {
				inv.Status = StatusDraft
			}
			stored, created, err := s.st.PutInvoiceOnce(inv)
			if err != nil {
				return nil, err
			}
			if created && s.stripe == nil {
				s.Emit(org.ID, EventInvoiceCreated, ViewInvoice(stored))
			}
			if s.stripe != nil && stored.Status == StatusDraft {
				// A failure here leaves the draft for the next Stripe sync to send.
				ctx, cancel := context.WithTimeout(context.Background(), 4*stripeCallTimeout)
				synced, err := s.syncInvoice(ctx, stored)
				cancel()
				if err != nil {
					s.log.Warn("send invoice to Stripe; the next sync retries", "invoice_id", stored.ID, "err", err)
				}
				if synced.ID != "" { // as far as it got
					stored = synced
				}
			}
			out = append(out, stored)
		}
		if next == "" {
			return out, nil
		}
		after = next
	}
}

// SetStatus moves an invoice along its life cycle; a failed payment is announced.
func (s *Service) SetStatus(orgID, id, status string) (store.Invoice, error) {
	inv, err := s.st.UpdateInvoice(orgID, id, func(inv *store.Invoice) error {
		if inv.Status == status {
			return nil
		}
		if !CanMove(inv.Status, status) {
			return fmt.Errorf("%w: %s to %s", ErrBadTransition, inv.Status, status)
		}
		inv.Status = status
		return nil
	})
	if err == nil && status == StatusPaymentFailed {
		s.Emit(orgID, EventPaymentFailed, ViewInvoice(inv))
	}
	return inv, err
}

// InvoiceView is an invoice as the API and webhooks show it: USD with two decimals
// (per-unit prices with up to six).
type InvoiceView struct {
	ID              string     `json:"id"`
	Period          PeriodView `json:"period"`
	Status          string     `json:"status"`
	Lines           []LineView `json:"lines"`
	SubtotalUSD     float64    `json:"subtotal_usd"`
	TotalUSD        float64    `json:"total_usd"`
	StripeInvoiceID *string    `json:"stripe_invoice_id"`
}

// PeriodView is a billing month: start inclusive, end exclusive.
type PeriodView struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// LineView is one invoice line.
type LineView struct {
	Description  string  `json:"description"`
	Metric       *string `json:"metric"`
	Quantity     int64   `json:"quantity"`
	UnitPriceUSD float64 `json:"unit_price_usd"`
	AmountUSD    float64 `json:"amount_usd"`
}

// ViewInvoice converts an invoice for display.
func ViewInvoice(inv store.Invoice) InvoiceView {
	start, _ := ParsePeriod(inv.Period)
	v := InvoiceView{ID: inv.ID, Period: PeriodView{start, start.AddDate(0, 1, 0)}, Status: inv.Status,
		Lines: make([]LineView, len(inv.Lines)), SubtotalUSD: meter.USD(inv.SubtotalMicros), TotalUSD: meter.USD(inv.TotalMicros)}
	for i, l := range inv.Lines {
		lv := LineView{Description: l.Description, Quantity: l.Quantity, AmountUSD: meter.USD(l.AmountMicros),
			UnitPriceUSD: float64(l.UnitPriceMicros) / float64(max(l.UnitPer, 1)) / 1e6}
		if l.Metric != "" {
			m := l.Metric
			lv.Metric = &m
		}
		v.Lines[i] = lv
	}
	if inv.StripeInvoiceID != "" {
		id := inv.StripeInvoiceID
		v.StripeInvoiceID = &id
	}
	return v
}

// IsNotFound reports a missing invoice, alert or webhook.
func IsNotFound(err error) bool {
	return errors.Is(err, store.ErrInvoiceNotFound) || errors.Is(err, store.ErrAlertNotFound) ||
		errors.Is(err, store.ErrWebhookNotFound)
}
