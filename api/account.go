package api

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"memoryd/config"
	"memoryd/meter"
	"memoryd/store"
)

// keyView is an API key as the API shows it: never the hash, the key only on creation.
type keyView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	Mode       store.Mode `json:"mode"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	Key        string     `json:"key,omitempty"`
}

func viewKey(k store.APIKey, plain string) keyView {
	return keyView{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes, Mode: k.Mode,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt, Key: plain}
}

type limitsView struct {
	RequestsPerMinute int               `json:"requests_per_minute"`
	RequestsPerDay    int               `json:"requests_per_day"`
	Concurrent        int               `json:"concurrent"`
	Monthly           map[string]*int64 `json:"monthly"`
}

// effectiveLimits shows the org's limits; a monthly quota of 0 (unlimited) shows as null.
func effectiveLimits(cfg config.Config, org store.Org) limitsView {
	l := meter.LimitsFor(cfg, org)
	lv := limitsView{RequestsPerMinute: l.RequestsPerMinute, RequestsPerDay: l.RequestsPerDay,
		Concurrent: l.Concurrent, Monthly: map[string]*int64{}}
	for metric, n := range l.Monthly {
		if n > 0 {
			v := n
			lv.Monthly[metric] = &v
		} else {
			lv.Monthly[metric] = nil
		}
	}
	return lv
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	respond(w, r, http.StatusOK, map[string]any{
		"org":     map[string]any{"id": p.org.ID, "name": p.org.Name, "plan": p.org.Plan, "created_at": p.org.CreatedAt},
		"limits":  effectiveLimits(s.cfg, p.org),
		"api_key": map[string]any{"id": p.key.ID, "prefix": p.key.Prefix, "scopes": p.key.Scopes, "mode": p.key.Mode},
	})
	return nil
}

// visibleKey says whether the caller may see or manage k: a live key manages every key
// of its org, a test key only test keys (the sandbox cannot touch live credentials).
func visibleKey(p *principal, k store.APIKey) bool {
	return k.OrgID == p.org.ID && (p.key.Mode == store.ModeLive || k.Mode == store.ModeTest)
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	keys, err := s.store.ListKeys(p.org.ID)
	if err != nil {
		return err
	}
	out := []keyView{}
	for _, k := range keys {
		if visibleKey(p, k) {
			out = append(out, viewKey(k, ""))
		}
	}
	respond(w, r, http.StatusOK, map[string]any{"api_keys": out})
	return nil
}

func validScopes(path string, scopes []string) *Error {
	if len(scopes) == 0 {
		return invalid(path, "%s must name at least one of read, write, delete, admin", path)
	}
	for i, sc := range scopes {
		if !slices.Contains(allScopes, sc) {
			return invalid(path+"["+itoa(int64(i))+"]", "%q is not a scope; use read, write, delete or admin", sc)
		}
	}
	return nil
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	var b struct {
		Name      *string    `json:"name"`
		Scopes    []string   `json:"scopes"`
		Mode      *string    `json:"mode"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
	if e := decodeStrict(body(r), &b); e != nil {
		return e
	}
	if b.Name == nil || *b.Name == "" || len(*b.Name) > 100 {
		return invalid("name", "name is required, 1 to 100 bytes")
	}
	if e := validScopes("scopes", b.Scopes); e != nil {
		return e
	}
	mode := p.key.Mode
	if b.Mode != nil {
		switch store.Mode(*b.Mode) {
		case store.ModeLive, store.ModeTest:
			mode = store.Mode(*b.Mode)
		default:
			return invalid("mode", "mode must be live or test")
		}
	}
	if mode == store.ModeLive && p.key.Mode == store.ModeTest {
		return invalid("mode", "A test-mode key can only create test-mode keys")
	}
	if e := s.validFutureTime("expires_at", b.ExpiresAt); e != nil {
		return e
	}
	var expires *time.Time
	if b.ExpiresAt != nil {
		t := b.ExpiresAt.UTC()
		expires = &t
	}
	key, plain, err := s.store.NewKey(p.org.ID, *b.Name, slices.Compact(slices.Sorted(slices.Values(b.Scopes))), mode, expires)
	if err != nil {
		return err
	}
	if err := s.store.CreateKey(key); err != nil {
		return err
	}
	respond(w, r, http.StatusCreated, map[string]any{"api_key": viewKey(key, plain)})
	return nil
}

// managedKey loads the {key_id} key if the caller may manage it.
func (s *Server) managedKey(r *http.Request) (store.APIKey, error) {
	p := caller(r)
	id := r.PathValue("key_id")
	if !store.ValidID(id, "key_") {
		return store.APIKey{}, errKeyNotFound
	}
	k, err := s.store.GetKey(p.org.ID, id)
	if errors.Is(err, store.ErrKeyNotFound) || (err == nil && !visibleKey(p, k)) {
		return store.APIKey{}, errKeyNotFound
	}
	return k, err
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.managedKey(r)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	_, err = s.store.UpdateKey(k.OrgID, k.ID, func(k *store.APIKey) error {
		if k.RevokedAt == nil {
			k.RevokedAt = &now
		}
		return nil
	})
	s.keys.clear()
	if err != nil {
		return err
	}
	respond(w, r, http.StatusOK, map[string]any{"id": k.ID, "revoked": true})
	return nil
}

// maxRotateGrace bounds how long a rotated key may keep working.
const maxRotateGrace = 7 * 24 * time.Hour

func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.managedKey(r)
	if err != nil {
		return err
	}
	var b struct {
		GracePeriodSeconds *int64 `json:"grace_period_seconds"`
	}
	if e := decodeStrict(body(r), &b); e != nil {
		return e
	}
	grace := s.cfg.Auth.DefaultRotateGrace.Duration
	if b.GracePeriodSeconds != nil {
		g := *b.GracePeriodSeconds
		if g < 0 || g > int64(maxRotateGrace/time.Second) {
			return invalid("grace_period_seconds", "grace_period_seconds must be from 0 to %d", int64(maxRotateGrace/time.Second))
		}
		grace = time.Duration(g) * time.Second
	}
	now := s.now().UTC()
	if k.RevokedAt != nil {
		return invalid("key_id", "A revoked key cannot be rotated")
	}
	if k.RotatedTo != "" {
		return invalid("key_id", "This key was already rotated")
	}
	if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
		return invalid("key_id", "An expired key cannot be rotated")
	}
	next, plain, err := s.store.NewKey(k.OrgID, k.Name, k.Scopes, k.Mode, k.ExpiresAt)
	if err != nil {
		return err
	}
	_, err = s.store.RotateKey(k.OrgID, k.ID, next, func(old *store.APIKey) error {
		if old.RotatedTo != "" || old.RevokedAt != nil {
			return invalid("key_id", "This key was already rotated or revoked")
		}
		end := now.Add(grace)
		if old.ExpiresAt == nil || end.Before(*old.ExpiresAt) {
			old.ExpiresAt = &end
		}
		old.RotatedTo = next.ID
		return nil
	})
	s.keys.clear()
	if err != nil {
		return err
	}
	respond(w, r, http.StatusCreated, map[string]any{"api_key": viewKey(next, plain)})
	return nil
}
