package billing

import (
	"bufio"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"memoryd/config"
)

// smtpServer is a minimal local SMTP server that records each session's commands and
// message; it offers AUTH PLAIN and refuses STARTTLS.
type smtpServer struct {
	addr     *net.TCPAddr
	mu       sync.Mutex
	commands []string
	messages []string
}

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: ln.Addr().(*net.TCPAddr)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); s.serve(conn) }()
		}
	}()
	return s
}

func (s *smtpServer) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	say := func(line string) { conn.Write([]byte(line + "\r\n")) }
	say("220 test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		s.mu.Lock()
		s.commands = append(s.commands, line)
		s.mu.Unlock()
		verb, _, _ := strings.Cut(strings.ToUpper(line), " ")
		switch verb {
		case "EHLO":
			say("250-test")
			say("250 AUTH PLAIN")
		case "AUTH":
			say("235 2.7.0 accepted")
		case "MAIL", "RCPT":
			say("250 ok")
		case "DATA":
			say("354 go on")
			var msg strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				msg.WriteString(l)
			}
			s.mu.Lock()
			s.messages = append(s.messages, msg.String())
			s.mu.Unlock()
			say("250 queued")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}

func (s *smtpServer) seen() ([]string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...), append([]string(nil), s.messages...)
}

// An alert email goes to the configured relay: authenticated, from and to the
// configured addresses, with a subject that cannot smuggle in headers.
func TestSMTPMailerSends(t *testing.T) {
	srv := startSMTP(t)
	m := NewSMTPMailer(config.SMTP{Host: "127.0.0.1", Port: srv.addr.Port, Username: "alerts", Password: "s3cret",
		From: "memoryd@example.com", To: "ops@example.com"})
	if err := m.Send("memoryd: api_calls reached 8\r\nBcc: everyone@example.com", "Org Acme reached 8 api_calls.\nSecond line.\n"); err != nil {
		t.Fatal(err)
	}
	cmds, msgs := srv.seen()
	auth := base64.StdEncoding.EncodeToString([]byte("\x00alerts\x00s3cret"))
	want := []string{"EHLO localhost", "AUTH PLAIN " + auth, "MAIL FROM:<memoryd@example.com>", "RCPT TO:<ops@example.com>", "DATA", "QUIT"}
	if len(cmds) != len(want) {
		t.Fatalf("commands %q, want %q", cmds, want)
	}
	for i := range want {
		if !strings.HasPrefix(cmds[i], want[i]) {
			t.Fatalf("command %d = %q, want %q", i, cmds[i], want[i])
		}
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	headers, body, _ := strings.Cut(msgs[0], "\r\n\r\n")
	if !strings.Contains(headers, "From: memoryd@example.com\r\n") || !strings.Contains(headers, "To: ops@example.com\r\n") ||
		!strings.Contains(headers, "Subject: memoryd: api_calls reached 8  Bcc: everyone@example.com\r\n") ||
		strings.Contains(headers, "\r\nBcc:") || body != "Org Acme reached 8 api_calls.\r\nSecond line.\r\n" {
		t.Fatalf("message:\n%s", msgs[0])
	}
}

// With starttls set, a relay that cannot upgrade the connection gets no credentials
// and no message; without a host nothing is attempted.
func TestSMTPMailerNeedsStartTLS(t *testing.T) {
	srv := startSMTP(t)
	m := NewSMTPMailer(config.SMTP{Host: "127.0.0.1", Port: srv.addr.Port, StartTLS: true, Username: "alerts", Password: "s3cret",
		From: "memoryd@example.com", To: "ops@example.com"})
	err := m.Send("subject", "body")
	if err == nil || !strings.HasPrefix(err.Error(), "starttls:") {
		t.Fatalf("err = %v, want a STARTTLS failure", err)
	}
	cmds, msgs := srv.seen()
	for _, c := range cmds {
		if v, _, _ := strings.Cut(c, " "); v == "AUTH" || v == "MAIL" || v == "DATA" {
			t.Fatalf("sent %q over a connection that was not upgraded (commands %q)", c, cmds)
		}
	}
	if len(msgs) != 0 {
		t.Fatalf("messages %q", msgs)
	}
	if err := NewSMTPMailer(config.SMTP{Port: 25}).Send("s", "b"); !errors.Is(err, ErrSMTPNotConfigured) {
		t.Fatalf("no host: %v", err)
	}
}
