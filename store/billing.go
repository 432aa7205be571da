package store

import (
	"bytes"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Errors of the billing records.
var (
	ErrInvoiceNotFound  = errors.New("store: invoice not found")
	ErrAlertNotFound    = errors.New("store: alert not found")
	ErrWebhookNotFound  = errors.New("store: webhook not found")
	ErrDeliveryNotFound = errors.New("store: delivery not found")
)

// Billing records live in a top-level bucket with one bucket per org, apart from the
// tenant's data: an org's invoices outlive the org, for accounting.
var (
	bucketBilling    = []byte("billing")
	bucketInvoices   = []byte("invoices")   // per org: by period "2006-01"
	bucketAlerts     = []byte("alerts")     // per org: by alert id
	bucketWebhooks   = []byte("webhooks")   // per org: by webhook id
	bucketDeliveries = []byte("deliveries") // per org: by webhook id + "/" + event id
	bucketFired      = []byte("fired")      // per org: notices already sent this period
	bucketQueue      = []byte("webhook_queue")
)

// InvoiceLine is one line of an invoice; money in micro-dollars.
type InvoiceLine struct {
	Description     string `json:"description"`
	Metric          string `json:"metric,omitempty"` // "" for the plan's base fee
	Quantity        int64  `json:"quantity"`
	UnitPriceMicros int64  `json:"unit_price_micros"` // per unit; per-unit prices may be fractions of a micro-dollar, see UnitPer
	UnitPer         int64  `json:"unit_per"`          // UnitPriceMicros is the price of this many units
	AmountMicros    int64  `json:"amount_micros"`
}

// Invoice is an org's bill for one calendar month.
type Invoice struct {
	ID              string        `json:"id"`
	OrgID           string        `json:"org_id"`
	Period          string        `json:"period"` // "2006-01"
	Plan            string        `json:"plan"`
	Status          string        `json:"status"`
	Lines           []InvoiceLine `json:"lines"`
	SubtotalMicros  int64         `json:"subtotal_micros"`
	TotalMicros     int64         `json:"total_micros"`
	StripeInvoiceID string        `json:"stripe_invoice_id,omitempty"`
	// StripeLines counts the lines already added to the Stripe invoice, so a sync that
	// stopped half-way resumes without adding a line twice.
	StripeLines int       `json:"stripe_lines,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Alert is a usage alert of an org.
type Alert struct {
	ID              string     `json:"id"`
	OrgID           string     `json:"org_id"`
	Metric          string     `json:"metric"`
	Threshold       float64    `json:"threshold"`
	ThresholdType   string     `json:"threshold_type"`
	Notify          []string   `json:"notify"`
	CreatedAt       time.Time  `json:"created_at"`
	LastTriggeredAt *time.Time `json:"last_triggered_at,omitempty"`
	// FiredPeriod is the month ("2006-01") the alert last fired in: once per month.
	FiredPeriod string `json:"fired_period,omitempty"`
	// EmailResult says what became of the last email notice.
	EmailResult string `json:"email_result,omitempty"`
}

// Webhook is an endpoint of an org that receives events.
type Webhook struct {
	ID        string    `json:"id"`
	OrgID     string    `json:"org_id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"secret"` // whsec_…; kept in the clear, as `memoryd rekey` knows only the tenant buckets
	CreatedAt time.Time `json:"created_at"`
}

// DeliveryAttempt is one try at sending an event.
type DeliveryAttempt struct {
	At     time.Time `json:"at"`
	Status int       `json:"status,omitempty"` // HTTP status; 0 when none came back
	Error  string    `json:"error,omitempty"`
}

// Delivery is one event for one endpoint, with its attempts.
type Delivery struct {
	ID            string            `json:"id"` // evt_…, the webhook-id header
	OrgID         string            `json:"org_id"`
	WebhookID     string            `json:"webhook_id"`
	Event         string            `json:"event"`
	Payload       []byte            `json:"payload"` // the exact body signed and sent
	Status        string            `json:"status"`  // pending, succeeded, failed
	Attempts      []DeliveryAttempt `json:"attempts"`
	CreatedAt     time.Time         `json:"created_at"`
	NextAttemptAt *time.Time        `json:"next_attempt_at,omitempty"`
}

// orgBilling returns the org's billing bucket and its named sub-bucket; in a read
// transaction either may be nil.
func orgBilling(tx *bolt.Tx, orgID string, name []byte) (*bolt.Bucket, error) {
	if tx.Writable() {
		root, err := tx.CreateBucketIfNotExists(bucketBilling)
		if err != nil {
			return nil, err
		}
		ob, err := root.CreateBucketIfNotExists([]byte(orgID))
		if err != nil {
			return nil, err
		}
		return ob.CreateBucketIfNotExists(name)
	}
	root := tx.Bucket(bucketBilling)
	if root == nil {
		return nil, nil
	}
	ob := root.Bucket([]byte(orgID))
	if ob == nil {
		return nil, nil
	}
	return ob.Bucket(name), nil
}

// BillingOrgs lists the orgs that have any billing record (invoices, alerts, webhooks).
func (s *Store) BillingOrgs() ([]string, error) {
	var ids []string
	err := s.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketBilling)
		if root == nil {
			return nil
		}
		return root.ForEachBucket(func(k []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	return ids, err
}

// PutInvoiceOnce stores inv unless the org already has an invoice for its period, and
// returns the stored one and whether it is new: closing a month twice is harmless.
func (s *Store) PutInvoiceOnce(inv Invoice) (Invoice, bool, error) {
	created := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, inv.OrgID, bucketInvoices)
		if err != nil {
			return err
		}
		var old Invoice
		ok, err := getJSON(b, []byte(inv.Period), &old)
		if err != nil {
			return err
		}
		if ok {
			inv = old
			return nil
		}
		created = true
		return putJSON(b, []byte(inv.Period), inv)
	})
	return inv, created, err
}

// UpdateInvoice applies fn to one invoice of the org.
func (s *Store) UpdateInvoice(orgID, id string, fn func(*Invoice) error) (Invoice, error) {
	var inv Invoice
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, orgID, bucketInvoices)
		if err != nil {
			return err
		}
		k, err := findInvoice(b, id, &inv)
		if err != nil {
			return err
		}
		if err := fn(&inv); err != nil {
			return err
		}
		return putJSON(b, k, inv)
	})
	return inv, err
}

func findInvoice(b *bolt.Bucket, id string, inv *Invoice) ([]byte, error) {
	if b == nil {
		return nil, ErrInvoiceNotFound
	}
	// An org has one invoice a month: a scan is a few dozen records at most.
	c := b.Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		if !bytes.Contains(v, []byte(`"`+id+`"`)) {
			continue
		}
		if err := unmarshal(v, inv); err != nil {
			return nil, err
		}
		if inv.ID == id {
			return append([]byte(nil), k...), nil
		}
	}
	return nil, ErrInvoiceNotFound
}

// GetInvoice returns one invoice of the org.
func (s *Store) GetInvoice(orgID, id string) (Invoice, error) {
	var inv Invoice
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, orgID, bucketInvoices)
		if err != nil {
			return err
		}
		_, err = findInvoice(b, id, &inv)
		return err
	})
	return inv, err
}

// InvoiceForPeriod returns the org's invoice of a month ("2006-01").
func (s *Store) InvoiceForPeriod(orgID, period string) (Invoice, error) {
	var inv Invoice
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, orgID, bucketInvoices)
		if err != nil || b == nil {
			if err == nil {
				err = ErrInvoiceNotFound
			}
			return err
		}
		ok, err := getJSON(b, []byte(period), &inv)
		if err == nil && !ok {
			err = ErrInvoiceNotFound
		}
		return err
	})
	return inv, err
}

// ListInvoices returns up to limit invoices of the org before the cursor (a period),
// newest period first, and the next cursor ("" on the last page).
func (s *Store) ListInvoices(orgID, before string, limit int) ([]Invoice, string, error) {
	var out []Invoice
	next := ""
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, orgID, bucketInvoices)
		if err != nil || b == nil {
			return err
		}
		c := b.Cursor()
		var k, v []byte
		if before == "" {
			k, v = c.Last()
		} else {
			k, v = c.Seek([]byte(before))
			if k == nil {
				k, v = c.Last()
			}
			for k != nil && string(k) >= before {
				k, v = c.Prev()
			}
		}
		for ; k != nil; k, v = c.Prev() {
			if len(out) == limit {
				next = out[len(out)-1].Period
				break
			}
			var inv Invoice
			if err := unmarshal(v, &inv); err != nil {
				return err
			}
			out = append(out, inv)
		}
		return nil
	})
	return out, next, err
}

// InvoicesForPeriod returns every org's invoice of a month, for the operator.
func (s *Store) InvoicesForPeriod(period string) ([]Invoice, error) {
	var out []Invoice
	err := s.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketBilling)
		if root == nil {
			return nil
		}
		return root.ForEachBucket(func(org []byte) error {
			b := root.Bucket(org).Bucket(bucketInvoices)
			if b == nil {
				return nil
			}
			var inv Invoice
			ok, err := getJSON(b, []byte(period), &inv)
			if ok {
				out = append(out, inv)
			}
			return err
		})
	})
	return out, err
}

// PutAlert stores an alert (new or changed).
func (s *Store) PutAlert(a Alert) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, a.OrgID, bucketAlerts)
		if err != nil {
			return err
		}
		return putJSON(b, []byte(a.ID), a)
	})
}

// ListAlerts returns the org's alerts, oldest first.
func (s *Store) ListAlerts(orgID string) ([]Alert, error) {
	var out []Alert
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, orgID, bucketAlerts)
		if err != nil || b == nil {
			return err
		}
		return b.ForEach(func(_, v []byte) error {
			var a Alert
			if err := unmarshal(v, &a); err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
	})
	return out, err
}

// DeleteAlert removes one alert of the org.
func (s *Store) DeleteAlert(orgID, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, orgID, bucketAlerts)
		if err != nil {
			return err
		}
		if b.Get([]byte(id)) == nil {
			return ErrAlertNotFound
		}
		return b.Delete([]byte(id))
	})
}

// MarkFired records that a once-a-period notice (key, e.g. "2026-11|api_calls") was
// sent, and reports whether it was new: false means it had been sent already.
func (s *Store) MarkFired(orgID, key string) (bool, error) {
	fresh := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, orgID, bucketFired)
		if err != nil {
			return err
		}
		if b.Get([]byte(key)) != nil {
			return nil
		}
		fresh = true
		return b.Put([]byte(key), []byte(s.now().UTC().Format(time.RFC3339)))
	})
	return fresh, err
}

// PutWebhook stores a webhook endpoint.
func (s *Store) PutWebhook(w Webhook) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, w.OrgID, bucketWebhooks)
		if err != nil {
			return err
		}
		return putJSON(b, []byte(w.ID), w)
	})
}

// ListWebhooks returns the org's endpoints, oldest first.
func (s *Store) ListWebhooks(orgID string) ([]Webhook, error) {
	var out []Webhook
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, orgID, bucketWebhooks)
		if err != nil || b == nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var w Webhook
			if err := unmarshal(v, &w); err != nil {
				return err
			}
			out = append(out, w)
			return nil
		})
	})
	return out, err
}

// AllWebhooks returns every org's endpoints, to warm the dispatcher's cache at start.
func (s *Store) AllWebhooks() ([]Webhook, error) {
	orgs, err := s.BillingOrgs()
	if err != nil {
		return nil, err
	}
	var out []Webhook
	for _, org := range orgs {
		ws, err := s.ListWebhooks(org)
		if err != nil {
			return nil, err
		}
		out = append(out, ws...)
	}
	return out, nil
}

// GetWebhook returns one endpoint of the org.
func (s *Store) GetWebhook(orgID, id string) (Webhook, error) {
	var w Webhook
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, orgID, bucketWebhooks)
		if err != nil {
			return err
		}
		if b == nil {
			return ErrWebhookNotFound
		}
		ok, err := getJSON(b, []byte(id), &w)
		if err == nil && !ok {
			err = ErrWebhookNotFound
		}
		return err
	})
	return w, err
}

// DeleteWebhook removes an endpoint and drops its pending deliveries from the queue;
// its delivery log goes with it.
func (s *Store) DeleteWebhook(orgID, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, orgID, bucketWebhooks)
		if err != nil {
			return err
		}
		if b.Get([]byte(id)) == nil {
			return ErrWebhookNotFound
		}
		if err := b.Delete([]byte(id)); err != nil {
			return err
		}
		db, err := orgBilling(tx, orgID, bucketDeliveries)
		if err != nil {
			return err
		}
		q, err := tx.CreateBucketIfNotExists(bucketQueue)
		if err != nil {
			return err
		}
		prefix := []byte(id + "/")
		c := db.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
			if err := q.Delete(queueKey(orgID, string(k))); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

func deliveryKey(d *Delivery) string { return d.WebhookID + "/" + d.ID }

func queueKey(orgID, dkey string) []byte { return []byte(orgID + "|" + dkey) }

// PutDelivery stores a delivery; a pending one is (re)queued, a finished one leaves
// the queue, in the same transaction.
func (s *Store) PutDelivery(d Delivery) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, d.OrgID, bucketDeliveries)
		if err != nil {
			return err
		}
		q, err := tx.CreateBucketIfNotExists(bucketQueue)
		if err != nil {
			return err
		}
		k := deliveryKey(&d)
		if err := putJSON(b, []byte(k), d); err != nil {
			return err
		}
		if d.Status == "pending" {
			return q.Put(queueKey(d.OrgID, k), nil)
		}
		return q.Delete(queueKey(d.OrgID, k))
	})
}

// PendingDeliveries returns the queued deliveries of every org; the worker picks the
// due ones. The queue holds only pending deliveries, so it stays small.
func (s *Store) PendingDeliveries() ([]Delivery, error) {
	var out []Delivery
	err := s.db.View(func(tx *bolt.Tx) error {
		q := tx.Bucket(bucketQueue)
		if q == nil {
			return nil
		}
		return q.ForEach(func(k, _ []byte) error {
			org, dkey, ok := bytes.Cut(k, []byte("|"))
			if !ok {
				return nil
			}
			b, _ := orgBilling(tx, string(org), bucketDeliveries)
			if b == nil {
				return nil
			}
			var d Delivery
			found, err := getJSON(b, dkey, &d)
			if err != nil {
				return err
			}
			if found {
				out = append(out, d)
			}
			return nil
		})
	})
	return out, err
}

// ListDeliveries returns up to limit deliveries of an endpoint before the cursor (an
// event id), newest first, and the next cursor.
func (s *Store) ListDeliveries(orgID, webhookID, before string, limit int) ([]Delivery, string, error) {
	var out []Delivery
	next := ""
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, orgID, bucketDeliveries)
		if err != nil || b == nil {
			return err
		}
		prefix := []byte(webhookID + "/")
		c := b.Cursor()
		// Event ids sort by time: walk the endpoint's range backwards.
		start := append(append([]byte(nil), prefix...), 0xff)
		if before != "" {
			start = []byte(webhookID + "/" + before)
		}
		k, v := c.Seek(start)
		if k == nil {
			k, v = c.Last()
		}
		for k != nil && bytes.Compare(k, start) >= 0 {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			if len(out) == limit {
				next = out[len(out)-1].ID
				break
			}
			var d Delivery
			if err := unmarshal(v, &d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, next, err
}

// UpdateAlert applies fn to one alert of the org; a deleted alert stays deleted.
func (s *Store) UpdateAlert(orgID, id string, fn func(*Alert) error) (Alert, error) {
	var a Alert
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := orgBilling(tx, orgID, bucketAlerts)
		if err != nil {
			return err
		}
		ok, err := getJSON(b, []byte(id), &a)
		if err != nil {
			return err
		}
		if !ok {
			return ErrAlertNotFound
		}
		if err := fn(&a); err != nil {
			return err
		}
		return putJSON(b, []byte(id), a)
	})
	return a, err
}
