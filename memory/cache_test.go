package memory

import (
	"reflect"
	"testing"
	"time"

	"memoryd/store"
)

// Every field of a Query changes its cache key: a field the key left out would let
// one query be answered with another's memories (another user's, with a scope).
// Built by reflection, so a field added to Query later fails here until the key
// covers it.
func TestCacheKeyCoversQuery(t *testing.T) {
	tenant := Tenant{OrgID: "org_1", Mode: store.ModeLive}
	base := string(appendCacheKey(nil, tenant, 7, &Query{}))
	seen := map[string]string{base: "zero query"}
	check := func(what string, q Query) {
		t.Helper()
		key := string(appendCacheKey(nil, tenant, 7, &q))
		if other, dup := seen[key]; dup {
			t.Errorf("%s has the same cache key as %s: %q", what, other, key)
		}
		seen[key] = what
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var walk func(path string, v reflect.Value, set func())
	walk = func(path string, v reflect.Value, set func()) {
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				f := v.Field(i)
				walk(path+"."+v.Type().Field(i).Name, f, set)
			}
			return
		case reflect.String:
			v.SetString("x")
		case reflect.Int:
			v.SetInt(3)
		case reflect.Float32:
			v.SetFloat(0.25)
		case reflect.Map:
			m := reflect.MakeMap(v.Type())
			elem := reflect.ValueOf("v")
			if v.Type().Elem().Kind() == reflect.Slice {
				elem = reflect.ValueOf([]any{"v"})
			}
			m.SetMapIndex(reflect.ValueOf("k"), elem)
			v.Set(m)
		case reflect.Pointer:
			if v.Type() != reflect.TypeOf(&at) {
				t.Fatalf("%s: a %s field: teach this test (and appendCacheKey) about it", path, v.Type())
			}
			v.Set(reflect.ValueOf(&at))
		default:
			t.Fatalf("%s: a %s field: teach this test (and appendCacheKey) about it", path, v.Type())
		}
		set()
		v.SetZero()
	}
	var q Query
	walk("Query", reflect.ValueOf(&q).Elem(), func() { check("a query with one field set", q) })
	if len(seen) != 1+countLeaves(reflect.TypeOf(q)) {
		t.Errorf("%d distinct keys for %d fields", len(seen)-1, countLeaves(reflect.TypeOf(q)))
	}
	// The tenant and the change count are part of the key too.
	if string(appendCacheKey(nil, Tenant{OrgID: "org_2", Mode: store.ModeLive}, 7, &Query{})) == base ||
		string(appendCacheKey(nil, tenant, 8, &Query{})) == base {
		t.Error("the key does not change with the tenant or the change count")
	}
}

func countLeaves(t reflect.Type) int {
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(time.Time{}) {
		return 1
	}
	n := 0
	for i := range t.NumField() {
		n += countLeaves(t.Field(i).Type)
	}
	return n
}
