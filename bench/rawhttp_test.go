package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// echo answers with the request's method, path, headers and body, repeated to
// reach about the size the path ends with (/a/N bytes).
func echo(t *testing.T, r *http.Request) []byte {
	t.Helper()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Error(err)
	}
	if r.Header.Get("Authorization") != "Bearer k1" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers: %v", r.Header)
	}
	line := r.Method + " " + r.URL.Path + " " + string(body) + "\n"
	n, _ := strconv.Atoi(r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:])
	return []byte(strings.Repeat(line, max(1, n/len(line))))
}

func request(path, body string) []byte {
	return buildRequest("test", path, "k1", []byte(body))
}

// wantBody is what echo answers to request(path, body).
func wantBody(path, body string) string {
	line := "POST " + path + " " + body + "\n"
	n, _ := strconv.Atoi(path[strings.LastIndexByte(path, '/')+1:])
	return strings.Repeat(line, max(1, n/len(line)))
}

// Several responses on one keep-alive connection, each framed by Content-Length.
func TestRawContentLength(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := echo(t, r)
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		_, _ = w.Write(out)
	}))
	defer srv.Close()
	c, err := dialRaw(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	askEach(t, c, "/a/10", "/a/100000", "/a/0", "/a/3000")
}

// net/http chunks a body written in flushed pieces; a declared trailer follows
// the last chunk.
func TestRawChunked(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := echo(t, r)
		w.Header().Set("Trailer", "X-Checksum")
		for len(out) > 0 {
			n := min(len(out), 700)
			_, _ = w.Write(out[:n])
			w.(http.Flusher).Flush()
			out = out[n:]
		}
		w.Header().Set("X-Checksum", "abc")
	}))
	defer srv.Close()
	c, err := dialRaw(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	askEach(t, c, "/b/5000", "/b/10", "/b/70000")
}

// askEach sends a request for each path over c, one after another on the one
// connection, and checks each answer is the echo the test servers write.
func askEach(t *testing.T, c *rawConn, paths ...string) {
	t.Helper()
	for i, path := range paths {
		body := `{"i":` + strconv.Itoa(i) + `}`
		got, err := c.do(request(path, body))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if string(got) != wantBody(path, body) {
			t.Fatalf("%s: body of %d bytes, want %d", path, len(got), len(wantBody(path, body)))
		}
	}
}

// raw is a server whose handler writes the given bytes on the bare connection and
// closes it (to send what net/http would not: chunk extensions, truncated bodies).
func raw(t *testing.T, response string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString(response)
		_ = buf.Flush()
	}))
}

// Chunk extensions and trailers are skipped, and the reader stops exactly at the
// end of the response: a second, pipelined response reads whole.
func TestRawChunkExtensionsAndTrailers(t *testing.T) {
	srv := raw(t, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"+
		"5;name=value\r\nhello\r\n"+
		"7 ; a=\"b\" ; c\r\n, world\r\n"+
		"A\r\n0123456789\r\n"+
		"0;last\r\nX-Trailer: 1\r\nY: two\r\n\r\n"+
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	defer srv.Close()
	c, err := dialRaw(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.do(request("/c", "{}"))
	if err != nil || string(got) != "hello, world0123456789" {
		t.Fatalf("got %q, %v", got, err)
	}
	status, closing, got, err := readResponse(c.br, nil)
	if err != nil || status != 200 || closing || string(got) != "ok" {
		t.Fatalf("second response: %d %v %q %v", status, closing, got, err)
	}
}

func TestRawTruncated(t *testing.T) {
	for name, response := range map[string]string{
		"content-length": "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
		"chunk data":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n64\r\n0123456789",
		"last chunk":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
		"trailers":       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: 1\r\n",
		"headers":        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			srv := raw(t, response)
			defer srv.Close()
			c, err := dialRaw(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, err := c.do(request("/d", "{}"))
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("got %q, %v; want an unexpected EOF", got, err)
			}
		})
	}
}

// A status other than 200, or a response that closes the connection, is an error
// that carries the body.
func TestRawErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/limited":
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"success":false,"error":{"code":"RATE_LIMITED"}}`))
		case "/close":
			w.Header().Set("Connection", "close")
			_, _ = w.Write([]byte(`{"success":true,"closing":1}`))
		}
	}))
	defer srv.Close()
	c, err := dialRaw(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.do(request("/limited", "{}")); err == nil || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "RATE_LIMITED") {
		t.Fatalf("429: %v", err)
	}
	if _, err := c.do(request("/close", "{}")); err == nil || !strings.Contains(err.Error(), "Connection: close") || !strings.Contains(err.Error(), `"closing":1`) {
		t.Fatalf("close: %v", err)
	}
}

// The reader allocates nothing per response once its buffers have grown.
func TestRawNoAllocs(t *testing.T) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"800\r\n" + strings.Repeat("x", 0x800) + "\r\n10\r\n" + strings.Repeat("y", 16) + "\r\n0\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello")
	rd := bytes.NewReader(resp)
	c := &rawConn{br: bufio.NewReaderSize(rd, 64<<10)}
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		rd.Reset(resp)
		c.br.Reset(rd)
		for range 2 {
			_, _, body, err := readResponse(c.br, buf[:0])
			if err != nil {
				t.Fatal(err)
			}
			buf = body
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per run, want 0", allocs)
	}
}
