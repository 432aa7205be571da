package config

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The security settings are validated, read from the environment, and the master key
// is decoded from a file or the environment.
func TestSecuritySettings(t *testing.T) {
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	cfg, err := Load("", []string{
		"MEMORYD_CORS_ALLOWED_ORIGINS=https://a.example, http://localhost:3000",
		"MEMORYD_ENCRYPTION_MASTER_KEY=" + key,
		"MEMORYD_AUDIT_RETENTION=24h",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.CORS.AllowedOrigins; len(got) != 2 || got[1] != "http://localhost:3000" {
		t.Fatalf("origins %q", got)
	}
	if k, err := cfg.Encryption.Key(); err != nil || string(k) != strings.Repeat("k", 32) {
		t.Fatalf("key %q, %v", k, err)
	}
	file := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(file, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := (Encryption{MasterKeyFile: file}).Key(); err != nil || len(k) != 32 {
		t.Fatalf("key from file %q, %v", k, err)
	}
	if k, err := (Encryption{}).Key(); err != nil || k != nil {
		t.Fatalf("no key: %q, %v", k, err)
	}

	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"MEMORYD_TLS_CERT_FILE=/c.pem"}, "tls.cert_file and tls.key_file"},
		{[]string{"MEMORYD_TLS_REDIRECT_LISTEN=:80"}, "tls.redirect_listen"},
		{[]string{"MEMORYD_CORS_ALLOWED_ORIGINS=app.example.com"}, "cors.allowed_origins"},
		{[]string{"MEMORYD_CORS_ALLOWED_ORIGINS=https://a.example/path"}, "cors.allowed_origins"},
		{[]string{"MEMORYD_ENCRYPTION_MASTER_KEY=c2hvcnQ="}, "32 bytes"},
		{[]string{"MEMORYD_ENCRYPTION_MASTER_KEY=" + key, "MEMORYD_ENCRYPTION_MASTER_KEY_FILE=/k"}, "not both"},
		{[]string{"MEMORYD_AUDIT_RETENTION=1m"}, "audit.retention"},
		{[]string{"MEMORYD_SERVER_MAX_HEADER_BYTES=100"}, "server.max_header_bytes"},
	} {
		if _, err := Load("", c.env); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want it to mention %q", c.env, err, c.want)
		}
	}
}
