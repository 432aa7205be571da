package billing

import (
	"errors"
	"fmt"
	"time"

	"memoryd/meter"
	"memoryd/store"
)

// Alert metrics and threshold types.
var (
	AlertMetrics   = []string{"monthly_spend", "api_calls", "tokens", "memories", "embeddings"}
	ThresholdTypes = []string{"absolute", "percent_of_limit"}
)

// MaxAlerts caps an org's alerts.
const MaxAlerts = 100

// quotaMetric maps an alert metric to the plan's quota of it.
var quotaMetric = map[string]string{"api_calls": "api_calls", "tokens": "tokens", "memories": "memories_stored", "embeddings": "embeddings"}

// AlertView is an alert as the API shows it.
type AlertView struct {
	ID              string     `json:"id"`
	Metric          string     `json:"metric"`
	Threshold       float64    `json:"threshold"`
	ThresholdType   string     `json:"threshold_type"`
	Notify          []string   `json:"notify"`
	CreatedAt       time.Time  `json:"created_at"`
	LastTriggeredAt *time.Time `json:"last_triggered_at"`
}

// ViewAlert converts an alert for display.
func ViewAlert(a store.Alert) AlertView {
	return AlertView{ID: a.ID, Metric: a.Metric, Threshold: a.Threshold, ThresholdType: a.ThresholdType,
		Notify: a.Notify, CreatedAt: a.CreatedAt, LastTriggeredAt: a.LastTriggeredAt}
}

// usageNow is an org's live usage this month by alert metric; monthly_spend in USD.
func (s *Service) usageNow(org store.Org, now time.Time) (map[string]float64, error) {
	c := s.meter.Month(org.ID, store.ModeLive)
	stored, err := s.st.MemoriesStored(org.ID, store.ModeLive)
	if err != nil {
		return nil, err
	}
	cost := meter.CostOf(s.cfg.Plans[org.Plan], c, meter.MonthStart(now), now)
	return map[string]float64{
		"monthly_spend": meter.USD(cost.TotalMicros), "api_calls": float64(c.APICalls),
		"tokens": float64(c.TokensIn + c.TokensOut), "memories": float64(stored), "embeddings": float64(c.Embeddings),
	}, nil
}

// limitOf is what percent_of_limit alerts measure against: the plan's quota, or for
// monthly_spend its base price. Zero means none, and such an alert never fires.
func (s *Service) limitOf(org store.Org, metric string) float64 {
	plan := s.cfg.Plans[org.Plan]
	if metric == "monthly_spend" {
		return plan.PriceUSD
	}
	return float64(plan.Monthly[quotaMetric[metric]])
}

// CheckAlerts fires each alert whose metric has reached its threshold this month and
// has not fired this month yet, and announces quotas reached to subscribed endpoints.
// It reads counters the meter keeps in memory, so it is cheap to run every few seconds.
func (s *Service) CheckAlerts() {
	orgIDs, err := s.st.BillingOrgs()
	if err != nil {
		s.log.Error("check alerts", "err", err)
		return
	}
	for _, id := range orgIDs {
		if err := s.checkOrg(id); err != nil && !errors.Is(err, store.ErrOrgNotFound) {
			s.log.Error("check alerts", "org_id", id, "err", err)
		}
	}
}

func (s *Service) checkOrg(orgID string) error {
	alerts, err := s.st.ListAlerts(orgID)
	if err != nil {
		return err
	}
	quotaWatch := s.Subscribed(orgID, EventQuotaExceeded)
	if len(alerts) == 0 && !quotaWatch {
		return nil
	}
	org, err := s.st.GetOrg(orgID)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	month := now.Format("2006-01")
	values, err := s.usageNow(org, now)
	if err != nil {
		return err
	}
	for _, a := range alerts {
		if a.FiredPeriod == month {
			continue
		}
		threshold := a.Threshold
		if a.ThresholdType == "percent_of_limit" {
			limit := s.limitOf(org, a.Metric)
			if limit <= 0 {
				continue
			}
			threshold = limit * a.Threshold / 100
		}
		value := values[a.Metric]
		if value < threshold {
			continue
		}
		// The fired mark is the guard: whatever else fails, an alert fires once a month.
		fresh, err := s.st.MarkFired(orgID, month+"|"+a.ID)
		if err != nil || !fresh {
			continue
		}
		s.fire(org, a, value, now)
	}
	if quotaWatch {
		plan := s.cfg.Plans[org.Plan]
		for _, metric := range []string{"api_calls", "tokens", "memories", "embeddings"} {
			q := plan.Monthly[quotaMetric[metric]]
			if q <= 0 || values[metric] < float64(q) {
				continue
			}
			if fresh, err := s.st.MarkFired(orgID, month+"|quota|"+metric); err == nil && fresh {
				s.Emit(orgID, EventQuotaExceeded, map[string]any{"metric": quotaMetric[metric], "limit": q, "used": int64(values[metric])})
			}
		}
	}
	return nil
}

// fire records that an alert fired and sends its notices.
func (s *Service) fire(org store.Org, a store.Alert, value float64, now time.Time) {
	emailResult := ""
	for _, n := range a.Notify {
		switch n {
		case "email":
			emailResult = "sent"
			subject := fmt.Sprintf("memoryd: %s reached %v for org %s", a.Metric, value, org.Name)
			body := fmt.Sprintf("Org %s (%s) reached %v %s this month (alert %s: %v, %s).\n",
				org.Name, org.ID, value, a.Metric, a.ID, a.Threshold, a.ThresholdType)
			if err := s.mailer.Send(subject, body); err != nil {
				emailResult = "not sent: " + err.Error()
				s.log.Warn("alert email", "org_id", org.ID, "alert_id", a.ID, "result", emailResult)
			}
		case "webhook":
			v := ViewAlert(a)
			v.LastTriggeredAt = &now
			s.Emit(org.ID, EventThresholdReached, struct {
				AlertView
				Value float64 `json:"value"`
			}{v, value})
		}
	}
	_, err := s.st.UpdateAlert(org.ID, a.ID, func(a *store.Alert) error {
		a.FiredPeriod, a.LastTriggeredAt = now.Format("2006-01"), &now
		if emailResult != "" {
			a.EmailResult = emailResult
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrAlertNotFound) {
		s.log.Error("record alert", "err", err)
	}
}
