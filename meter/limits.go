// Package meter enforces rate limits and quotas and counts usage: per-request usage
// events, their hourly and daily rollups, and the monthly totals and costs computed
// from them. Every figure a customer is billed from comes from here.
package meter

import (
	"memoryd/config"
	"memoryd/store"
)

// Limits are an org's effective limits: its plan's, with its overrides applied.
type Limits struct {
	RequestsPerMinute int
	RequestsPerDay    int
	Concurrent        int
	// Monthly quotas by metric; 0 means unlimited.
	Monthly map[string]int64
}

// LimitsFor returns the org's effective limits.
func LimitsFor(cfg config.Config, org store.Org) Limits {
	plan := cfg.Plans[org.Plan]
	l := Limits{RequestsPerMinute: plan.RequestsPerMinute, RequestsPerDay: plan.RequestsPerDay,
		Concurrent: plan.Concurrent, Monthly: plan.Monthly}
	if o := org.Limits.RequestsPerMinute; o != nil {
		l.RequestsPerMinute = *o
	}
	if o := org.Limits.RequestsPerDay; o != nil {
		l.RequestsPerDay = *o
	}
	if o := org.Limits.Concurrent; o != nil {
		l.Concurrent = *o
	}
	return l
}

// HardCap reports the quota of metric when it is a hard cap for the plan: a quota set
// and no overage price for it. Zero means the metric is not capped.
func HardCap(cfg config.Config, org store.Org, metric string) int64 {
	plan := cfg.Plans[org.Plan]
	q := plan.Monthly[metric]
	if q == 0 {
		return 0
	}
	switch metric {
	case "api_calls":
		if plan.Overage.APICallsPer1K > 0 {
			return 0
		}
	case "tokens":
		if plan.Overage.TokensPer1M > 0 {
			return 0
		}
	}
	return q
}
