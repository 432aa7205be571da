package api

import (
	"errors"
	"net/http"

	"memoryd/billing"
)

// stripeWebhook takes Stripe's events about invoices. It has no API key: the
// Stripe-Signature header, checked against the configured signing secret and the
// tolerance for old timestamps, is its authentication. Nothing is read or changed
// before the signature verifies.
func (s *Server) stripeWebhook(w http.ResponseWriter, r *http.Request) error {
	sig := r.Header.Get("Stripe-Signature")
	if sig == "" {
		return invalid("Stripe-Signature", "The Stripe-Signature header is required")
	}
	replayed, err := s.billing.HandleStripeEvent(body(r), sig)
	switch {
	case errors.Is(err, billing.ErrStripeSignature):
		return invalid("Stripe-Signature", "The Stripe-Signature header does not verify against the signing secret, or its timestamp is older than %s",
			s.cfg.Billing.StripeWebhookTolerance.Duration)
	case errors.Is(err, billing.ErrStripeEvent):
		return invalid("", "The body is not a Stripe event: an object with an id and a type")
	case err != nil:
		return err
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	respond(w, r, http.StatusOK, map[string]any{"received": true})
	return nil
}

// withStripeSignature wraps the Stripe webhook: without Stripe configured the route
// does not exist; the body is read within the size limit like any other.
func (s *Server) withStripeSignature(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.billing == nil || !s.billing.StripeEnabled() {
			fail(w, r, errNotFound("NOT_FOUND", "Route"))
			return
		}
		if e := s.readBody(w, r); e != nil {
			fail(w, r, e)
			return
		}
		run(w, r, h)
	})
}
