package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestFloorMeasuresEveryRequest(t *testing.T) {
	for _, sched := range [][2]int{{0, 0}, {1, 0}, {0, 2}} {
		srv := httptest.NewServer(floorHandler(calibrateBurn(), sched[0], sched[1]))
		checkFloorRun(t, srv.URL)
		srv.Close()
	}
}

func checkFloorRun(t *testing.T, base string) {
	t.Helper()
	r, err := measureFloor(base, 50, 3, 30)
	if err != nil {
		t.Fatal(err)
	}
	// 30 requests over 3 clients, each answered by the burner with its work.
	if r.requests != 30 || r.work != 50 || r.p50 <= 0 || r.p50 > r.p99 || r.p99 > r.pmax {
		t.Fatalf("%+v", r)
	}
	// The server is this process here, so its CPU time includes 30 × 50 µs of burning.
	if !r.serverCPUKnown || r.serverCPU < 1_500_000 {
		t.Fatalf("server CPU %v (known %v), want at least 1.5 ms", r.serverCPU, r.serverCPUKnown)
	}
	if line := r.String(); !strings.HasPrefix(line, "work   50 µs:") || !strings.Contains(line, "p99") {
		t.Fatalf("line %q", line)
	}
}

func TestFloorChecksAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"burnt_us":7,"x":1}`) // not the work asked for
	}))
	defer srv.Close()
	if _, err := measureFloor(srv.URL, 50, 2, 4); err == nil || !strings.Contains(err.Error(), "unexpected answer") {
		t.Fatalf("err %v", err)
	}
}

func TestFloorHandlerRejectsBadWork(t *testing.T) {
	h := floorHandler(10, 0, 0)
	for _, path := range []string{"/work/abc", "/work/-5", "/work/2000000"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", path, strings.NewReader("{}")))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d", path, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/work/3", strings.NewReader("{}")))
	if rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), `{"burnt_us":3,"x":`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestParseLevels(t *testing.T) {
	got, err := parseLevels("0, 100,250")
	if err != nil || !slices.Equal(got, []int{0, 100, 250}) {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "x", "-1", "100,,200", "1000001"} {
		if _, err := parseLevels(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
