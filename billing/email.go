package billing

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"memoryd/config"
)

// ErrSMTPNotConfigured is the result of an email alert on a server without SMTP.
var ErrSMTPNotConfigured = errors.New("SMTP not configured")

// Mailer sends an alert email.
type Mailer interface {
	Send(subject, body string) error
}

// SMTPMailer sends through the configured SMTP server, upgrading with STARTTLS.
type SMTPMailer struct{ cfg config.SMTP }

// NewSMTPMailer returns a mailer for cfg; with no host every Send fails with
// ErrSMTPNotConfigured.
func NewSMTPMailer(cfg config.SMTP) *SMTPMailer { return &SMTPMailer{cfg: cfg} }

// Send delivers one message, with a deadline on the whole conversation.
func (m *SMTPMailer) Send(subject, body string) error {
	c := m.cfg
	if c.Host == "" {
		return ErrSMTPNotConfigured
	}
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		conn.Close()
		return err
	}
	defer cl.Close()
	if c.StartTLS {
		if err := cl.StartTLS(&tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if c.Username != "" {
		// PlainAuth refuses to send the password over a connection that is not TLS
		// (except to localhost).
		if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password, c.Host)); err != nil {
			return err
		}
	}
	if err := cl.Mail(c.From); err != nil {
		return err
	}
	if err := cl.Rcpt(c.To); err != nil {
		return err
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	clean := func(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }
	msg := "From: " + clean(c.From) + "\r\nTo: " + clean(c.To) + "\r\nSubject: " + clean(subject) +
		"\r\nDate: " + time.Now().UTC().Format(time.RFC1123Z) +
		"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + strings.ReplaceAll(body, "\n", "\r\n")
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return cl.Quit()
}
