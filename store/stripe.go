package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// Stripe's records: per org, its customer id and how far its usage has gone to Stripe's
// meters; for the whole server, the Stripe events already applied.
var (
	bucketStripe       = []byte("stripe") // per org, in its billing bucket
	bucketStripeEvents = []byte("stripe_events")

	keyStripeCustomer = []byte("customer")
	keyMeterCursor    = []byte("meter_cursor")
)

// StripeCustomer returns the org's Stripe customer id, "" when it has none yet.
func (s *Store) StripeCustomer(orgID string) (string, error) {
	id := ""
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, orgID, bucketStripe)
		if b != nil {
			id = string(b.Get(keyStripeCustomer))
		}
		return err
	})
	return id, err
}

// SetStripeCustomer records the org's Stripe customer id.
func (s *Store) SetStripeCustomer(orgID, customerID string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, orgID, bucketStripe)
		if err != nil {
			return err
		}
		return b.Put(keyStripeCustomer, []byte(customerID))
	})
}

// MeterCursor returns the end of the last hour of the org's usage sent to Stripe's
// meters; zero when none was sent.
func (s *Store) MeterCursor(orgID string) (time.Time, error) {
	var t time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, orgID, bucketStripe)
		if err != nil || b == nil {
			return err
		}
		if raw := b.Get(keyMeterCursor); raw != nil {
			return t.UnmarshalText(raw)
		}
		return nil
	})
	return t, err
}

// SetMeterCursor records that the org's usage before t has gone to Stripe's meters.
func (s *Store) SetMeterCursor(orgID string, t time.Time) error {
	raw, err := t.UTC().MarshalText()
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, orgID, bucketStripe)
		if err != nil {
			return err
		}
		return b.Put(keyMeterCursor, raw)
	})
}

// StripeEventApplied reports whether the Stripe event id was applied already.
func (s *Store) StripeEventApplied(id string) (bool, error) {
	seen := false
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketStripeEvents); b != nil {
			seen = b.Get([]byte(id)) != nil
		}
		return nil
	})
	return seen, err
}

// MarkStripeEventApplied records that the Stripe event id was applied, so a replay of it
// changes nothing.
func (s *Store) MarkStripeEventApplied(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketStripeEvents)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), []byte(s.now().UTC().Format(time.RFC3339)))
	})
}
