package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"memoryd/config"
	"memoryd/store"
)

type orgView struct {
	ID        string               `json:"id"`
	Name      string               `json:"name"`
	Plan      string               `json:"plan"`
	CreatedAt time.Time            `json:"created_at"`
	Limits    store.LimitOverrides `json:"limits"`
}

func viewOrg(o store.Org) orgView {
	return orgView{ID: o.ID, Name: o.Name, Plan: o.Plan, CreatedAt: o.CreatedAt, Limits: o.Limits}
}

func validPlan(path string, plan string) *Error {
	if !slices.Contains(config.PlanNames, plan) {
		return invalid(path, "plan must be one of %s", strings.Join(config.PlanNames, ", "))
	}
	return nil
}

func (s *Server) adminCreateOrg(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Name *string `json:"name"`
		Plan *string `json:"plan"`
	}
	if e := decodeStrict(body(r), &b); e != nil {
		return e
	}
	if b.Name == nil || strings.TrimSpace(*b.Name) == "" || len(*b.Name) > 200 {
		return invalid("name", "name is required, 1 to 200 bytes")
	}
	plan := "free"
	if b.Plan != nil {
		plan = *b.Plan
	}
	if e := validPlan("plan", plan); e != nil {
		return e
	}
	org, key, plain, err := s.store.CreateOrgWithAdminKey(*b.Name, plan)
	if err != nil {
		return err
	}
	if s.billing != nil {
		s.billing.OrgCreated() // its Stripe customer now, not at the next periodic sync
	}
	respond(w, r, http.StatusCreated, map[string]any{"org": viewOrg(org), "api_key": viewKey(key, plain)})
	return nil
}

func (s *Server) adminListOrgs(w http.ResponseWriter, r *http.Request) error {
	limit, after, e := pageParams(r)
	if e != nil {
		return e
	}
	if after != "" && !store.ValidID(after, "org_") {
		return invalid("cursor", "cursor is not one this API returned")
	}
	orgs, next, err := s.store.ListOrgs(after, limit)
	if err != nil {
		return err
	}
	out := make([]orgView, len(orgs))
	for i, o := range orgs {
		out[i] = viewOrg(o)
	}
	respond(w, r, http.StatusOK, map[string]any{"orgs": out, "next_cursor": encodeCursor(next)})
	return nil
}

var errOrgNotFound = errNotFound("NOT_FOUND", "Org")

func orgErr(err error) error {
	if errors.Is(err, store.ErrOrgNotFound) {
		return errOrgNotFound
	}
	return err
}

func orgID(r *http.Request) (string, *Error) {
	id := r.PathValue("org_id")
	if !store.ValidID(id, "org_") {
		return "", errOrgNotFound
	}
	return id, nil
}

func (s *Server) adminGetOrg(w http.ResponseWriter, r *http.Request) error {
	id, e := orgID(r)
	if e != nil {
		return e
	}
	org, err := s.store.GetOrg(id)
	if err != nil {
		return orgErr(err)
	}
	respond(w, r, http.StatusOK, viewOrg(org))
	return nil
}

func (s *Server) adminUpdateOrg(w http.ResponseWriter, r *http.Request) error {
	id, e := orgID(r)
	if e != nil {
		return e
	}
	var b struct {
		Name   *string `json:"name"`
		Plan   *string `json:"plan"`
		Limits *struct {
			RequestsPerMinute Nullable[int] `json:"requests_per_minute"`
			RequestsPerDay    Nullable[int] `json:"requests_per_day"`
			Concurrent        Nullable[int] `json:"concurrent"`
		} `json:"limits"`
	}
	if e := decodeStrict(body(r), &b); e != nil {
		return e
	}
	if b.Name != nil && (strings.TrimSpace(*b.Name) == "" || len(*b.Name) > 200) {
		return invalid("name", "name must be 1 to 200 bytes")
	}
	if b.Plan != nil {
		if e := validPlan("plan", *b.Plan); e != nil {
			return e
		}
	}
	type override struct {
		name string
		v    Nullable[int]
		dst  func(*store.LimitOverrides) **int
	}
	var overrides []override
	if b.Limits != nil {
		overrides = []override{
			{"limits.requests_per_minute", b.Limits.RequestsPerMinute, func(l *store.LimitOverrides) **int { return &l.RequestsPerMinute }},
			{"limits.requests_per_day", b.Limits.RequestsPerDay, func(l *store.LimitOverrides) **int { return &l.RequestsPerDay }},
			{"limits.concurrent", b.Limits.Concurrent, func(l *store.LimitOverrides) **int { return &l.Concurrent }},
		}
		for _, o := range overrides {
			if o.v.Valid && (o.v.V < 1 || o.v.V > 100_000_000) {
				return invalid(o.name, "%s must be from 1 to 100000000, or null for the plan's value", o.name)
			}
		}
	}
	org, err := s.store.UpdateOrg(id, func(org *store.Org) error {
		if b.Name != nil {
			org.Name = *b.Name
		}
		if b.Plan != nil {
			org.Plan = *b.Plan
		}
		for _, o := range overrides {
			if !o.v.Set {
				continue
			}
			dst := o.dst(&org.Limits)
			if o.v.Valid {
				n := o.v.V
				*dst = &n
			} else {
				*dst = nil
			}
		}
		return nil
	})
	s.keys.clear()
	if err != nil {
		return orgErr(err)
	}
	respond(w, r, http.StatusOK, viewOrg(org))
	return nil
}

func (s *Server) adminDeleteOrg(w http.ResponseWriter, r *http.Request) error {
	id, e := orgID(r)
	if e != nil {
		return e
	}
	err := s.store.DeleteOrg(id)
	s.keys.clear()
	if err != nil {
		return orgErr(err)
	}
	s.meter.Forget(id)
	s.engine.Forget(id)
	respond(w, r, http.StatusOK, map[string]any{"id": id, "deleted": true})
	return nil
}
