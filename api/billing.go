package api

import (
	"encoding/csv"
	"errors"
	"net/http"
	"strconv"
	"time"

	"memoryd/billing"
	"memoryd/store"
)

var errInvoiceNotFound = errNotFound("NOT_FOUND", "Invoice")

func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	limit, after, e := pageParams(r)
	if e != nil {
		return e
	}
	if after != "" {
		if _, err := billing.ParsePeriod(after); err != nil {
			return invalid("cursor", "cursor is not one this API returned")
		}
	}
	out := []billing.InvoiceView{}
	next := ""
	if p.key.Mode == store.ModeLive { // test mode is never billed
		invs, n, err := s.store.ListInvoices(p.org.ID, after, limit)
		if err != nil {
			return err
		}
		for _, inv := range invs {
			out = append(out, billing.ViewInvoice(inv))
		}
		next = n
	}
	respond(w, r, http.StatusOK, map[string]any{"invoices": out, "next_cursor": encodeCursor(next)})
	return nil
}

func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	id := r.PathValue("id")
	if !store.ValidID(id, "inv_") || p.key.Mode != store.ModeLive {
		return errInvoiceNotFound
	}
	inv, err := s.store.GetInvoice(p.org.ID, id)
	if errors.Is(err, store.ErrInvoiceNotFound) {
		return errInvoiceNotFound
	}
	if err != nil {
		return err
	}
	respond(w, r, http.StatusOK, billing.ViewInvoice(inv))
	return nil
}

func (s *Server) adminCloseBilling(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Period *string `json:"period"`
	}
	if e := decodeStrict(body(r), &b); e != nil {
		return e
	}
	if b.Period == nil {
		return invalid("period", "period is required, a month written YYYY-MM")
	}
	invs, err := s.billing.Close(*b.Period)
	switch {
	case errors.Is(err, billing.ErrBadPeriod):
		return invalid("period", "period must be a month written YYYY-MM")
	case errors.Is(err, billing.ErrPeriodOpen):
		return invalid("period", "%s has not ended yet; only past months can be closed", *b.Period)
	case err != nil:
		return err
	}
	out := make([]billing.InvoiceView, len(invs))
	for i, inv := range invs {
		out[i] = billing.ViewInvoice(inv)
	}
	respond(w, r, http.StatusOK, map[string]any{"invoices": out})
	return nil
}

// adminInvoiceView is an invoice with its org, for the operator's export.
type adminInvoiceView struct {
	OrgID string `json:"org_id"`
	Plan  string `json:"plan"`
	billing.InvoiceView
}

func (s *Server) adminExportInvoices(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if _, err := billing.ParsePeriod(q.Get("period")); err != nil {
		return invalid("period", "period is required, a month written YYYY-MM")
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		return invalid("format", "format must be json or csv")
	}
	invs, err := s.store.InvoicesForPeriod(q.Get("period"))
	if err != nil {
		return err
	}
	out := make([]adminInvoiceView, len(invs))
	for i, inv := range invs {
		out[i] = adminInvoiceView{OrgID: inv.OrgID, Plan: inv.Plan, InvoiceView: billing.ViewInvoice(inv)}
	}
	if format != "csv" {
		respond(w, r, http.StatusOK, map[string]any{"invoices": out})
		return nil
	}
	info(r).status = http.StatusOK
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="invoices-`+q.Get("period")+`.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"invoice_id", "org_id", "plan", "period_start", "period_end", "status", "line", "metric", "quantity", "unit_price_usd", "amount_usd", "total_usd", "stripe_invoice_id"})
	money := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	for _, inv := range out {
		stripeID := ""
		if inv.StripeInvoiceID != nil {
			stripeID = *inv.StripeInvoiceID
		}
		// One row per line, so a spreadsheet sums amounts without parsing.
		for _, l := range inv.Lines {
			metric := ""
			if l.Metric != nil {
				metric = *l.Metric
			}
			_ = cw.Write([]string{inv.ID, inv.OrgID, inv.Plan, inv.Period.Start.Format(time.RFC3339), inv.Period.End.Format(time.RFC3339),
				inv.Status, l.Description, metric, strconv.FormatInt(l.Quantity, 10), strconv.FormatFloat(l.UnitPriceUSD, 'f', -1, 64),
				money(l.AmountUSD), money(inv.TotalUSD), stripeID})
		}
	}
	cw.Flush()
	return cw.Error()
}
