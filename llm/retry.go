package llm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// retryPolicy says how often and how long to wait between attempts at an
// upstream call.
type retryPolicy struct {
	maxRetries    int           // attempts after the first
	baseDelay     time.Duration // backoff before the first retry
	maxDelay      time.Duration // cap of the exponential backoff
	maxRetryAfter time.Duration // a longer Retry-After gives up instead of waiting
}

// newRetryPolicy applies the defaults: 3 retries (zero; negative for none),
// backoff from 500 ms to 20 s, Retry-After waited for up to 60 s.
func newRetryPolicy(maxRetries int, base, maxDelay, maxRetryAfter time.Duration) retryPolicy {
	switch {
	case maxRetries == 0:
		maxRetries = DefaultOpenAIRetries
	case maxRetries < 0:
		maxRetries = 0
	}
	return retryPolicy{
		maxRetries:    maxRetries,
		baseDelay:     cmp.Or(base, 500*time.Millisecond),
		maxDelay:      cmp.Or(maxDelay, 20*time.Second),
		maxRetryAfter: cmp.Or(maxRetryAfter, 60*time.Second),
	}
}

// backoff returns the wait before retry n (0 for the first retry):
// exponential with "equal jitter", half fixed and half random, so that
// clients that failed together do not all come back together, while no
// wait collapses to zero.
func (p retryPolicy) backoff(n int) time.Duration {
	d := p.baseDelay << min(n, 30)
	if d <= 0 || d > p.maxDelay {
		d = p.maxDelay
	}
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// wait returns how long to wait before retry n after a failure whose
// answer asked for retryAfter (zero when it did not), and false when the
// provider asked for longer than the policy is willing to wait.
func (p retryPolicy) wait(n int, retryAfter time.Duration) (time.Duration, bool) {
	if retryAfter > p.maxRetryAfter {
		return 0, false
	}
	return max(p.backoff(n), retryAfter), true
}

// withRetries runs attempt until it succeeds, fails with a status not worth
// repeating, or the policy's retries are spent. attempt returns the
// Retry-After of a failed answer (zero when none). A failure after retries is
// an *UpstreamError (matching ErrUpstream); a done ctx returns ctx's error.
func withRetries[T any](ctx context.Context, p retryPolicy, attempt func() (T, time.Duration, error)) (T, error) {
	var zero T
	for n := 0; ; n++ {
		v, retryAfter, err := attempt()
		if err == nil {
			return v, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return zero, ctxErr
		}
		var upstream *UpstreamError
		if !errors.As(err, &upstream) {
			upstream = &UpstreamError{StatusCode: statusOf(err), Err: err}
		}
		upstream.Attempts = n + 1
		if n >= p.maxRetries || !retryable(upstream.StatusCode) {
			return zero, upstream
		}
		wait, ok := p.wait(n, retryAfter)
		if !ok {
			upstream.Err = fmt.Errorf("provider asked to retry after %v: %w", retryAfter, upstream.Err)
			return zero, upstream
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return zero, err
		}
	}
}

// sleepCtx waits for d or until ctx is done, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// statusOf returns the HTTP status of a go-openai error, or 0 when the
// request got no answer (a transport error or a timeout).
func statusOf(err error) int {
	var apiErr *openai.APIError
	if errors.As(err, &apiErr) {
		return apiErr.HTTPStatusCode
	}
	var reqErr *openai.RequestError
	if errors.As(err, &reqErr) {
		return reqErr.HTTPStatusCode
	}
	return 0
}

// retryable says whether an attempt that failed with this status is worth
// repeating: rate limits, server errors and requests that got no answer
// are; any other 4xx means the request itself is wrong and will fail again.
func retryable(status int) bool {
	return status == 0 || status == http.StatusTooManyRequests || status >= 500
}

// responseNote carries what a caller needs from an HTTP answer that
// go-openai does not return with its errors: the Retry-After header.
type responseNote struct {
	retryAfter time.Duration
}

type responseNoteKey struct{}

// noteTakingDoer is the HTTP client given to go-openai. It writes the
// Retry-After of each answer into the responseNote found in the request's
// context, so that concurrent calls each see only their own answer.
type noteTakingDoer struct {
	client *http.Client
}

func (d noteTakingDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.client.Do(req)
	if err != nil {
		return resp, err
	}
	if note, ok := req.Context().Value(responseNoteKey{}).(*responseNote); ok {
		note.retryAfter = parseRetryAfter(resp.Header, time.Now())
	}
	return resp, nil
}

// parseRetryAfter reads retry-after-ms (sent by OpenAI and Azure) or
// Retry-After in seconds or as an HTTP date; zero when absent or invalid.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}
