package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"time"
)

// A hand-written HTTP/1.1 client for the latency bench: one keep-alive connection,
// prebuilt requests, a reused read buffer and body buffer. It is as light as wrk's
// load generator, so on a small machine the bench does not take the server's CPU
// (net/http's client costs about 0.1 ms of CPU per request). It reads exactly what
// a memoryd response can be: a status line, headers, and a body framed by
// Content-Length or chunked transfer encoding.

// rawConn is one client's keep-alive connection.
type rawConn struct {
	conn net.Conn
	br   *bufio.Reader
	body []byte // the last response's body, reused
	sent int    // requests written
}

// stall bounds a stalled server: each run of 64 queries on a connection must
// finish within it (the deadline moves every 64 requests, not on each; net/http's
// client in the bench had a 60 s timeout per request).
const stall = 60 * time.Second

// dialRaw connects to the host:port of base (http://host:port).
func dialRaw(base string) (*rawConn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("raw client: %s: only http:// is supported", base)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	conn, err := net.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	return &rawConn{conn: conn, br: bufio.NewReaderSize(conn, 64<<10), body: make([]byte, 0, 16<<10)}, nil
}

func (c *rawConn) Close() error { return c.conn.Close() }

// buildRequest is a complete HTTP/1.1 POST with a JSON body, ready to write.
func buildRequest(host, path, key string, body []byte) []byte {
	var b bytes.Buffer
	b.Grow(160 + len(body))
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		path, host, key, len(body))
	b.Write(body)
	return b.Bytes()
}

// do writes one prebuilt request and reads its response. The body is valid until
// the next call. A status other than 200, or a response that closes the connection,
// is an error carrying the body.
func (c *rawConn) do(req []byte) (body []byte, err error) {
	if c.sent%64 == 0 {
		_ = c.conn.SetDeadline(time.Now().Add(stall))
	}
	c.sent++
	if _, err := c.conn.Write(req); err != nil {
		return nil, err
	}
	status, closing, body, err := readResponse(c.br, c.body[:0])
	c.body = body[:0]
	if err != nil {
		return nil, err
	}
	if status != 200 {
		return body, fmt.Errorf("status %d: %s", status, bytes.TrimSpace(body))
	}
	if closing {
		return body, fmt.Errorf("the server closed the connection (Connection: close): %s", bytes.TrimSpace(body))
	}
	return body, nil
}

var (
	hdrContentLength    = []byte("Content-Length")
	hdrTransferEncoding = []byte("Transfer-Encoding")
	hdrConnection       = []byte("Connection")
	tokChunked          = []byte("chunked")
	tokClose            = []byte("close")
)

// readResponse reads one HTTP/1.1 response from br, appending its body to buf. It
// returns the status code and whether the server asked to close the connection.
func readResponse(br *bufio.Reader, buf []byte) (status int, closing bool, body []byte, err error) {
	body = buf
	for {
		line, err := readLine(br)
		if err != nil {
			return 0, false, body, fmt.Errorf("status line: %w", err)
		}
		// HTTP/1.1 200 OK
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return 0, false, body, fmt.Errorf("malformed status line %q", line)
		}
		status, err = atoi(line[9:12])
		if err != nil {
			return 0, false, body, fmt.Errorf("malformed status line %q", line)
		}
		if status >= 200 || status == 101 {
			break
		}
		// An interim 1xx response: headers only, then the real response.
		for {
			if line, err = readLine(br); err != nil {
				return 0, false, body, fmt.Errorf("headers: %w", err)
			}
			if len(line) == 0 {
				break
			}
		}
	}
	length, chunked := -1, false
	for {
		line, err := readLine(br)
		if err != nil {
			return status, closing, body, fmt.Errorf("headers: %w", err)
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return status, closing, body, fmt.Errorf("malformed header %q", line)
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, hdrContentLength):
			if length, err = atoi(value); err != nil {
				return status, closing, body, fmt.Errorf("malformed Content-Length %q", value)
			}
		case bytes.EqualFold(name, hdrTransferEncoding):
			if !bytes.EqualFold(value, tokChunked) {
				return status, closing, body, fmt.Errorf("unsupported Transfer-Encoding %q", value)
			}
			chunked = true
		case bytes.EqualFold(name, hdrConnection):
			closing = closing || containsFold(value, tokClose)
		}
	}
	switch {
	case status == 204 || status == 304 || status == 101:
		return status, closing, body, nil
	case chunked:
		body, err = readChunked(br, body)
	case length >= 0:
		body, err = readN(br, body, length)
	default:
		// The body runs to the end of the connection: read it to report it.
		var rest []byte
		rest, err = io.ReadAll(br)
		body = append(body, rest...)
		closing = true
	}
	return status, closing, body, err
}

// readChunked reads a chunked body (chunk extensions and trailers are ignored).
func readChunked(br *bufio.Reader, body []byte) ([]byte, error) {
	for {
		line, err := readLine(br)
		if err != nil {
			return body, fmt.Errorf("chunk size: %w", err)
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		line = bytes.TrimSpace(line)
		size, err := hextoi(line)
		if err != nil {
			return body, fmt.Errorf("malformed chunk size %q", line)
		}
		if size == 0 {
			break
		}
		if body, err = readN(br, body, size); err != nil {
			return body, err
		}
		if line, err = readLine(br); err != nil || len(line) != 0 {
			if err == nil {
				err = errors.New("missing CRLF after chunk data")
			}
			return body, fmt.Errorf("chunk end: %w", err)
		}
	}
	for { // trailers, up to the blank line
		line, err := readLine(br)
		if err != nil {
			return body, fmt.Errorf("trailers: %w", err)
		}
		if len(line) == 0 {
			return body, nil
		}
	}
}

// readN appends exactly n bytes from br to body.
func readN(br *bufio.Reader, body []byte, n int) ([]byte, error) {
	at := len(body)
	body = slices.Grow(body, n)[:at+n]
	if _, err := io.ReadFull(br, body[at:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return body[:at], fmt.Errorf("body: %w", err)
	}
	return body, nil
}

// readLine returns the next line without its CRLF (or LF). The slice points into
// br's buffer and is valid until the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// atoi parses a non-negative decimal without allocating.
func atoi(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 18 {
		return 0, errors.New("bad number")
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errors.New("bad number")
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

// hextoi parses a chunk size (hexadecimal) without allocating.
func hextoi(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 15 {
		return 0, errors.New("bad chunk size")
	}
	n := 0
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, errors.New("bad chunk size")
		}
		n = n<<4 | int(c)
	}
	return n, nil
}

// containsFold reports whether the comma-separated header value lists token.
func containsFold(value, token []byte) bool {
	for len(value) > 0 {
		item := value
		if i := bytes.IndexByte(value, ','); i >= 0 {
			item, value = value[:i], value[i+1:]
		} else {
			value = nil
		}
		if bytes.EqualFold(bytes.TrimSpace(item), token) {
			return true
		}
	}
	return false
}
