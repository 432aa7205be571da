package meter

import (
	"math"
	"time"

	"memoryd/config"
	"memoryd/store"
)

// Money is kept in integer micro-dollars; it is shown with two decimals.
const microsPerUSD = 1_000_000

// Micros converts a price in USD from config to micro-dollars.
func Micros(usd float64) int64 { return int64(math.Round(usd * microsPerUSD)) }

// USD converts micro-dollars to dollars rounded to cents, for display.
func USD(micros int64) float64 { return math.Round(float64(micros)/10_000) / 100 }

// ModelCost is what tokens of a model cost the operator, in micro-dollars. A model
// missing from the price table costs nothing (e.g. the local embedder).
func ModelCost(cfg config.Config, model string, tokensIn, tokensOut int64) int64 {
	p, ok := cfg.Models[model]
	if !ok {
		return 0
	}
	// USD per million tokens is micro-dollars per token.
	return int64(math.Round(float64(tokensIn)*p.InputPer1M + float64(tokensOut)*p.OutputPer1M))
}

// Cost is a period's bill so far and projected to its end.
type Cost struct {
	BaseMicros      int64
	OverageMicros   int64
	TotalMicros     int64
	ProjectedMicros int64
}

// Overage prices usage beyond the plan's quotas: API calls per 1,000 and tokens per
// 1,000,000, each rounded down to the micro-dollar.
func Overage(plan config.Plan, c store.UsageCounters) int64 {
	var total int64
	if q := plan.Monthly["api_calls"]; q > 0 && c.APICalls > q && plan.Overage.APICallsPer1K > 0 {
		total += (c.APICalls - q) * Micros(plan.Overage.APICallsPer1K) / 1000
	}
	tokens := c.TokensIn + c.TokensOut
	if q := plan.Monthly["tokens"]; q > 0 && tokens > q && plan.Overage.TokensPer1M > 0 {
		total += (tokens - q) * Micros(plan.Overage.TokensPer1M) / 1_000_000
	}
	return total
}

// CostOf prices the counters of the month that starts at periodStart, as of now. The
// projection scales usage linearly by the share of the month elapsed.
func CostOf(plan config.Plan, c store.UsageCounters, periodStart, now time.Time) Cost {
	base := Micros(plan.PriceUSD)
	over := Overage(plan, c)
	end := periodStart.AddDate(0, 1, 0)
	elapsed := now.Sub(periodStart).Seconds()
	whole := end.Sub(periodStart).Seconds()
	projected := c
	if elapsed > 0 && elapsed < whole {
		f := whole / elapsed
		scale := func(n int64) int64 { return int64(math.Floor(float64(n) * f)) }
		projected = store.UsageCounters{APICalls: scale(c.APICalls), TokensIn: scale(c.TokensIn), TokensOut: scale(c.TokensOut)}
	}
	return Cost{BaseMicros: base, OverageMicros: over, TotalMicros: base + over,
		ProjectedMicros: base + Overage(plan, projected)}
}
