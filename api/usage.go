package api

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"memoryd/meter"
	"memoryd/store"
)

type usageMetrics struct {
	APICalls        int64 `json:"api_calls"`
	TokensInput     int64 `json:"tokens_input"`
	TokensOutput    int64 `json:"tokens_output"`
	TokensProcessed int64 `json:"tokens_processed"`
	// MemoriesStored is a level, not a flow: /v1/usage shows it, history rows leave it out.
	MemoriesStored  *int64 `json:"memories_stored,omitempty"`
	MemoriesRead    int64  `json:"memories_read"`
	MemoriesWritten int64  `json:"memories_written"`
	Embeddings      int64  `json:"embeddings"`
	ModelCalls      int64  `json:"model_calls"`
}

func metricsOf(c store.UsageCounters) usageMetrics {
	return usageMetrics{APICalls: c.APICalls, TokensInput: c.TokensIn, TokensOutput: c.TokensOut,
		TokensProcessed: c.TokensIn + c.TokensOut, MemoriesRead: c.MemoriesRead,
		MemoriesWritten: c.MemoriesWritten, Embeddings: c.Embeddings, ModelCalls: c.ModelCalls}
}

func (s *Server) getUsage(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	now := s.now().UTC()
	start := meter.MonthStart(now)
	c := s.meter.Month(p.org.ID, p.key.Mode)
	stored, err := s.store.MemoriesStored(p.org.ID, p.key.Mode)
	if err != nil {
		return err
	}
	m := metricsOf(c)
	m.MemoriesStored = &stored
	var cost meter.Cost
	if p.key.Mode == store.ModeLive { // test mode is never billed
		cost = meter.CostOf(s.cfg.Plans[p.org.Plan], c, start, now)
	}
	respond(w, r, http.StatusOK, map[string]any{
		"period": map[string]any{"start": start, "end": start.AddDate(0, 1, 0)},
		"plan":   p.org.Plan,
		"usage":  m,
		"limits": effectiveLimits(s.cfg, p.org),
		"cost": map[string]any{
			"base_usd": meter.USD(cost.BaseMicros), "overage_usd": meter.USD(cost.OverageMicros),
			"total_usd": meter.USD(cost.TotalMicros), "projected_total_usd": meter.USD(cost.ProjectedMicros),
		},
	})
	return nil
}

// usageBucket is one row of /v1/usage/history.
type usageBucket struct {
	Start time.Time `json:"start"`
	Group string    `json:"group,omitempty"`
	usageMetrics
}

func parseTimeParam(r *http.Request, name string, def time.Time) (time.Time, *Error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		if d, err2 := time.Parse("2006-01-02", v); err2 == nil {
			return d, nil
		}
		return time.Time{}, invalid(name, "%s must be an RFC 3339 time (2026-11-01T00:00:00Z) or a date (2026-11-01)", name)
	}
	return t.UTC(), nil
}

func (s *Server) usageHistory(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	q := r.URL.Query()
	now := s.now().UTC()
	gran, step, layout, maxBuckets := store.Daily, 24*time.Hour, "2006-01-02", 366
	switch q.Get("granularity") {
	case "", "day":
	case "hour":
		gran, step, layout, maxBuckets = store.Hourly, time.Hour, "2006-01-02T15", 744
	default:
		return invalid("granularity", "granularity must be day or hour")
	}
	dim := store.DimAll
	switch q.Get("group_by") {
	case "":
	case "endpoint":
		dim = store.DimEndpoint
	case "api_key":
		dim = store.DimKey
	default:
		return invalid("group_by", "group_by must be endpoint or api_key")
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		return invalid("format", "format must be json or csv")
	}
	from, e := parseTimeParam(r, "from", meter.MonthStart(now))
	if e != nil {
		return e
	}
	to, e := parseTimeParam(r, "to", now)
	if e != nil {
		return e
	}
	from = from.Truncate(step)
	if !to.After(from) {
		return invalid("to", "to must be after from")
	}
	if n := int(to.Sub(from) / step); n > maxBuckets {
		return invalid("from", "The range holds %d buckets; the limit is %d", n, maxBuckets)
	}
	// Read requests' events wait in memory for their group commit; commit them now so
	// the history and /v1/usage agree.
	if err := s.meter.Flush(); err != nil {
		return err
	}
	rows, err := s.store.Rollups(p.org.ID, p.key.Mode, gran, dim, from, to.Add(step-1).Truncate(step))
	if err != nil {
		return err
	}
	var buckets []usageBucket
	if dim == store.DimAll {
		// Every bucket of the range, zeros included.
		byStart := map[string]store.UsageCounters{}
		for _, row := range rows {
			byStart[row.Start] = row.Counters
		}
		for t := from; t.Before(to); t = t.Add(step) {
			buckets = append(buckets, usageBucket{Start: t, usageMetrics: metricsOf(byStart[t.Format(layout)])})
		}
	} else {
		for _, row := range rows {
			t, _ := time.Parse(layout, row.Start)
			buckets = append(buckets, usageBucket{Start: t.UTC(), Group: row.Value, usageMetrics: metricsOf(row.Counters)})
		}
	}
	if buckets == nil {
		buckets = []usageBucket{}
	}
	if format == "csv" {
		return writeUsageCSV(w, r, buckets, dim != store.DimAll)
	}
	respond(w, r, http.StatusOK, map[string]any{"buckets": buckets})
	return nil
}

func writeUsageCSV(w http.ResponseWriter, r *http.Request, buckets []usageBucket, grouped bool) error {
	info(r).status = http.StatusOK
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="usage.csv"`)
	cw := csv.NewWriter(w)
	head := []string{"start"}
	if grouped {
		head = append(head, "group")
	}
	head = append(head, "api_calls", "tokens_input", "tokens_output", "tokens_processed", "memories_read", "memories_written", "embeddings", "model_calls")
	_ = cw.Write(head)
	for _, b := range buckets {
		row := []string{b.Start.Format(time.RFC3339)}
		if grouped {
			row = append(row, b.Group)
		}
		for _, n := range []int64{b.APICalls, b.TokensInput, b.TokensOutput, b.TokensProcessed, b.MemoriesRead, b.MemoriesWritten, b.Embeddings, b.ModelCalls} {
			row = append(row, strconv.FormatInt(n, 10))
		}
		_ = cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}
