package main

import "testing"

func TestRouteHistogram(t *testing.T) {
	text := []byte(`# HELP memoryd_http_request_duration_seconds HTTP request latency by route.
memoryd_http_request_duration_seconds_bucket{route="POST /v1/memories",le="0.0025"} 7
memoryd_http_request_duration_seconds_bucket{route="POST /v1/retrieve",le="0.0025"} 90
memoryd_http_request_duration_seconds_bucket{route="POST /v1/retrieve",le="0.005"} 99
memoryd_http_request_duration_seconds_bucket{route="POST /v1/retrieve",le="+Inf"} 100
memoryd_http_request_duration_seconds_count{route="POST /v1/retrieve"} 100
`)
	h := routeHistogram(text, retrieveRoute)
	if len(h) != 3 || h["0.0025"] != 90 || h["0.005"] != 99 || h["+Inf"] != 100 {
		t.Fatalf("%v", h)
	}
}
