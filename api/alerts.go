package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"memoryd/billing"
	"memoryd/store"
)

var errAlertNotFound = errNotFound("NOT_FOUND", "Alert")

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) error {
	alerts, err := s.store.ListAlerts(caller(r).org.ID)
	if err != nil {
		return err
	}
	out := make([]billing.AlertView, len(alerts))
	for i, a := range alerts {
		out[i] = billing.ViewAlert(a)
	}
	respond(w, r, http.StatusOK, map[string]any{"alerts": out})
	return nil
}

func (s *Server) createAlert(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	var b struct {
		Metric        *string  `json:"metric"`
		Threshold     *float64 `json:"threshold"`
		ThresholdType *string  `json:"threshold_type"`
		Notify        []string `json:"notify"`
	}
	if e := decodeStrict(body(r), &b); e != nil {
		return e
	}
	if b.Metric == nil || !slices.Contains(billing.AlertMetrics, *b.Metric) {
		return invalid("metric", "metric must be one of %s", strings.Join(billing.AlertMetrics, ", "))
	}
	if b.ThresholdType == nil || !slices.Contains(billing.ThresholdTypes, *b.ThresholdType) {
		return invalid("threshold_type", "threshold_type must be absolute or percent_of_limit")
	}
	if b.Threshold == nil {
		return invalid("threshold", "threshold is required, a number above 0")
	}
	threshold := *b.Threshold
	if threshold <= 0 || threshold > 1e15 {
		return invalid("threshold", "threshold must be a number above 0")
	}
	if len(b.Notify) == 0 {
		return invalid("notify", "notify must name email, webhook or both")
	}
	for i, n := range b.Notify {
		if n != "email" && n != "webhook" {
			return invalid(fmt.Sprintf("notify[%d]", i), "notify holds only email and webhook")
		}
		if slices.Contains(b.Notify[:i], n) {
			return invalid(fmt.Sprintf("notify[%d]", i), "notify names %s twice", n)
		}
	}
	existing, err := s.store.ListAlerts(p.org.ID)
	if err != nil {
		return err
	}
	if len(existing) >= billing.MaxAlerts {
		return invalid("", "An org may have at most %d alerts; delete one first", billing.MaxAlerts)
	}
	a := store.Alert{ID: store.NewID("alr_"), OrgID: p.org.ID, Metric: *b.Metric, Threshold: threshold,
		ThresholdType: *b.ThresholdType, Notify: b.Notify, CreatedAt: s.now().UTC()}
	if err := s.store.PutAlert(a); err != nil {
		return err
	}
	respond(w, r, http.StatusCreated, billing.ViewAlert(a))
	return nil
}

func (s *Server) deleteAlert(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !store.ValidID(id, "alr_") {
		return errAlertNotFound
	}
	err := s.store.DeleteAlert(caller(r).org.ID, id)
	if errors.Is(err, store.ErrAlertNotFound) {
		return errAlertNotFound
	}
	if err != nil {
		return err
	}
	respond(w, r, http.StatusOK, map[string]any{"id": id, "deleted": true})
	return nil
}
