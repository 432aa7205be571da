package main

import (
	"bytes"
	"fmt"
	"sync"
	"time"
)

// closedLoop sends reqs[c] in order on one keep-alive connection per client c, all
// clients at once, each sending its next request when the last answer has been read
// (closed loop: the clients' pace is the server's). check, when not nil, sees client
// c's i-th response body (reused: copy what must be kept) and may fail the run. It
// returns every request's latency, from its first byte written to its last byte read,
// and the wall time of the whole run. The first error stops its client and is
// returned with the request's body.
func closedLoop(base string, reqs [][][]byte, check func(c, i int, body []byte) error) ([]time.Duration, time.Duration, error) {
	conns := make([]*rawConn, len(reqs))
	for c := range conns {
		conn, err := dialRaw(base)
		if err != nil {
			return nil, 0, err
		}
		defer conn.Close()
		conns[c] = conn
	}
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for c, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, len(reqs[c]))
			for i, req := range reqs[c] {
				t0 := time.Now()
				body, err := conn.do(req)
				d := time.Since(t0)
				if err == nil && check != nil {
					err = check(c, i, body)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						_, sent, _ := bytes.Cut(req, []byte("\r\n\r\n"))
						firstErr = fmt.Errorf("%s: %w", sent, err)
					}
					mu.Unlock()
					return
				}
				local = append(local, d)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lat, time.Since(start), firstErr
}
