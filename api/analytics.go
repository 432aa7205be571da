package api

import (
	"cmp"
	"errors"
	"math"
	"net/http"
	"slices"
	"time"

	"memoryd/billing"
	"memoryd/meter"
	"memoryd/store"
)

// Operator analytics: a month's revenue, cost and margin per org, from the same live-mode
// rollups /v1/usage and invoices are priced from. Cost is the model calls' cost recorded
// per request plus the monthly infrastructure cost from config, allocated to orgs by
// their share of the month's requests (costs.request_share of it) and of stored bytes
// (the rest). Stored bytes are as of now, also for past months.

type orgAnalytics struct {
	OrgID          string  `json:"org_id"`
	Name           string  `json:"name"`
	Plan           string  `json:"plan"`
	APICalls       int64   `json:"api_calls"`
	Tokens         int64   `json:"tokens"`
	MemoriesStored int64   `json:"memories_stored"`
	StoredBytes    int64   `json:"stored_bytes"`
	RevenueUSD     float64 `json:"revenue_usd"`
	ModelCostUSD   float64 `json:"model_cost_usd"`
	InfraCostUSD   float64 `json:"infrastructure_cost_usd"`
	CostUSD        float64 `json:"cost_usd"`
	MarginUSD      float64 `json:"margin_usd"`
	// MarginPercent is margin over revenue; null when there is no revenue.
	MarginPercent *float64 `json:"margin_percent"`

	revenue, model, infra int64
}

type endpointAnalytics struct {
	Endpoint     string  `json:"endpoint"`
	APICalls     int64   `json:"api_calls"`
	Tokens       int64   `json:"tokens"`
	ModelCostUSD float64 `json:"model_cost_usd"`
	InfraCostUSD float64 `json:"infrastructure_cost_usd"`
	// CostPer1KUSD is the cost of 1,000 calls: model and the request share of infrastructure.
	CostPer1KUSD float64 `json:"cost_per_1k_calls_usd"`

	modelMicros int64
}

type dayAnalytics struct {
	Day             string  `json:"day"`
	APICalls        int64   `json:"api_calls"`
	MemoriesWritten int64   `json:"memories_written"`
	Tokens          int64   `json:"tokens"`
	ModelCostUSD    float64 `json:"model_cost_usd"`

	modelMicros int64
}

// orgMonthRows are one org's live-mode rollups of a month and its storage now.
type orgMonthRows struct {
	daily, byEndpoint []store.RollupRow
	stored, bytes     int64
}

func (s *Server) orgMonth(orgID string, start, end time.Time) (m orgMonthRows, err error) {
	if m.daily, err = s.store.Rollups(orgID, store.ModeLive, store.Daily, store.DimAll, start, end); err != nil {
		return m, err
	}
	if m.byEndpoint, err = s.store.Rollups(orgID, store.ModeLive, store.Daily, store.DimEndpoint, start, end); err != nil {
		return m, err
	}
	if m.stored, err = s.store.MemoriesStored(orgID, store.ModeLive); err != nil {
		return m, err
	}
	m.bytes, err = s.store.StoredBytes(orgID)
	return m, err
}

// allOrgs pages through every org.
func (s *Server) allOrgs() ([]store.Org, error) {
	var all []store.Org
	after := ""
	for {
		orgs, next, err := s.store.ListOrgs(after, 100)
		if err != nil {
			return nil, err
		}
		all = append(all, orgs...)
		if next == "" {
			return all, nil
		}
		after = next
	}
}

// share is total×part/whole; 0 when whole is 0.
func share(total float64, part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return total * float64(part) / float64(whole)
}

func (s *Server) adminAnalytics(w http.ResponseWriter, r *http.Request) error {
	now := s.now().UTC()
	period := r.URL.Query().Get("period")
	if period == "" {
		period = now.Format("2006-01")
	}
	start, err := billing.ParsePeriod(period)
	if err != nil {
		return invalid("period", "period must be a month written YYYY-MM")
	}
	if start.After(now) {
		return invalid("period", "period %s has not begun", period)
	}
	end := start.AddDate(0, 1, 0)
	asOf := now
	if end.Before(now) {
		asOf = end
	}
	if err := s.meter.Flush(); err != nil {
		return err
	}
	orgs, err := s.allOrgs()
	if err != nil {
		return err
	}
	var rows []*orgAnalytics
	endpoints := map[string]*endpointAnalytics{}
	days := map[string]*dayAnalytics{}
	var totalCalls, totalBytes int64
	var models store.UsageCounters
	for _, org := range orgs {
		if !org.CreatedAt.Before(end) {
			continue // not a customer yet that month
		}
		m, err := s.orgMonth(org.ID, start, end)
		if errors.Is(err, store.ErrOrgNotFound) {
			continue // deleted while the page was read
		}
		if err != nil {
			return err
		}
		var month store.UsageCounters
		for _, row := range m.daily {
			month.Merge(row.Counters)
			d := days[row.Start]
			if d == nil {
				d = &dayAnalytics{Day: row.Start}
				days[row.Start] = d
			}
			d.APICalls += row.Counters.APICalls
			d.MemoriesWritten += row.Counters.MemoriesWritten
			d.Tokens += row.Counters.TokensIn + row.Counters.TokensOut
			d.modelMicros += row.Counters.CostMicros
		}
		for _, row := range m.byEndpoint {
			e := endpoints[row.Value]
			if e == nil {
				e = &endpointAnalytics{Endpoint: row.Value}
				endpoints[row.Value] = e
			}
			e.APICalls += row.Counters.APICalls
			e.Tokens += row.Counters.TokensIn + row.Counters.TokensOut
			e.modelMicros += row.Counters.CostMicros
		}
		models.Merge(month)
		rows = append(rows, &orgAnalytics{OrgID: org.ID, Name: org.Name, Plan: org.Plan,
			APICalls: month.APICalls, Tokens: month.TokensIn + month.TokensOut,
			MemoriesStored: m.stored, StoredBytes: m.bytes,
			revenue: meter.CostOf(s.cfg.Plans[org.Plan], month, start, asOf).TotalMicros, model: month.CostMicros})
		totalCalls += month.APICalls
		totalBytes += m.bytes
	}

	infra := float64(meter.Micros(s.cfg.Costs.InfrastructureMonthlyUSD))
	byRequests, byBytes := infra*s.cfg.Costs.RequestShare, infra*(1-s.cfg.Costs.RequestShare)
	var revenue, cost int64
	for _, o := range rows {
		o.infra = int64(math.Round(share(byRequests, o.APICalls, totalCalls) + share(byBytes, o.StoredBytes, totalBytes)))
		c := o.model + o.infra
		margin := o.revenue - c
		o.RevenueUSD, o.ModelCostUSD, o.InfraCostUSD = meter.USD(o.revenue), meter.USD(o.model), meter.USD(o.infra)
		o.CostUSD, o.MarginUSD = meter.USD(c), meter.USD(margin)
		if o.revenue > 0 {
			pct := math.Round(float64(margin)*10000/float64(o.revenue)) / 100
			o.MarginPercent = &pct
		}
		revenue += o.revenue
		cost += c
	}
	slices.SortFunc(rows, func(a, b *orgAnalytics) int { return cmp.Compare(b.revenue, a.revenue) })

	epList := []endpointAnalytics{}
	for _, e := range endpoints {
		infraPart := share(byRequests, e.APICalls, totalCalls)
		e.ModelCostUSD, e.InfraCostUSD = meter.USD(e.modelMicros), meter.USD(int64(math.Round(infraPart)))
		if e.APICalls > 0 {
			e.CostPer1KUSD = meter.USD(int64(math.Round((float64(e.modelMicros) + infraPart) * 1000 / float64(e.APICalls))))
		}
		epList = append(epList, *e)
	}
	slices.SortFunc(epList, func(a, b endpointAnalytics) int { return cmp.Compare(b.APICalls, a.APICalls) })
	dayList := []dayAnalytics{}
	for _, d := range days {
		d.ModelCostUSD = meter.USD(d.modelMicros)
		dayList = append(dayList, *d)
	}
	slices.SortFunc(dayList, func(a, b dayAnalytics) int { return cmp.Compare(a.Day, b.Day) })

	hits, misses := s.engine.CacheStats()
	var hitRate *float64
	if hits+misses > 0 {
		v := math.Round(float64(hits)*10000/float64(hits+misses)) / 10000
		hitRate = &v
	}
	var tokensPerCall *float64
	if models.ModelCalls > 0 {
		v := math.Round(float64(models.TokensIn+models.TokensOut)*100/float64(models.ModelCalls)) / 100
		tokensPerCall = &v
	}
	orgList := make([]orgAnalytics, len(rows))
	for i, o := range rows {
		orgList[i] = *o
	}
	respond(w, r, http.StatusOK, map[string]any{
		"period": map[string]any{"start": start, "end": end, "as_of": asOf},
		"infrastructure": map[string]any{
			"monthly_usd": s.cfg.Costs.InfrastructureMonthlyUSD, "request_share": s.cfg.Costs.RequestShare,
		},
		"totals": map[string]any{
			"revenue_usd": meter.USD(revenue), "cost_usd": meter.USD(cost), "margin_usd": meter.USD(revenue - cost),
			"api_calls": totalCalls, "stored_bytes": totalBytes,
		},
		"orgs":      orgList,
		"endpoints": epList,
		"days":      dayList,
		"models": map[string]any{
			"model_calls": models.ModelCalls, "tokens_input": models.TokensIn, "tokens_output": models.TokensOut,
			"embeddings": models.Embeddings, "tokens_per_model_call": tokensPerCall, "model_cost_usd": meter.USD(models.CostMicros),
			"prefilter_tokens_saved": models.PrefilterTokensSaved,
			"retrieval_cache":        map[string]any{"hits": hits, "misses": misses, "hit_rate": hitRate},
		},
	})
	return nil
}
