package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// The example file documents every key with its default: loading it must give
// exactly the built-in defaults, and it must name every key there is.
func TestExampleMatchesDefaults(t *testing.T) {
	cfg, err := Load("../config.example.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Fatalf("config.example.toml differs from Default():\nfile:    %+v\ndefault: %+v", cfg, Default())
	}
	var raw map[string]any
	if _, err := toml.DecodeFile("../config.example.toml", &raw); err != nil {
		t.Fatal(err)
	}
	for _, env := range EnvKeys() {
		parts := strings.SplitN(strings.ToLower(strings.TrimPrefix(env, "MEMORYD_")), "_", 2)
		section, _ := raw[parts[0]].(map[string]any)
		if _, ok := section[parts[1]]; !ok {
			t.Errorf("config.example.toml does not document [%s] %s", parts[0], parts[1])
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	cfg, err := Load("", []string{
		"MEMORYD_SERVER_LISTEN=0.0.0.0:9999",
		"MEMORYD_STORAGE_DATA_DIR=/var/lib/memoryd",
		"MEMORYD_ADMIN_TOKEN=0123456789abcdef",
		"MEMORYD_SERVER_SHUTDOWN_TIMEOUT=3s",
		"MEMORYD_PLANS_FREE_REQUESTS_PER_MINUTE=25",
		"MEMORYD_PLANS_PRO_MONTHLY_API_CALLS=7",
		"OTHER=ignored",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != "0.0.0.0:9999" || cfg.Storage.DataDir != "/var/lib/memoryd" || cfg.Admin.Token != "0123456789abcdef" {
		t.Fatalf("scalars not overridden: %+v", cfg)
	}
	if cfg.Server.ShutdownTimeout.Duration != 3*time.Second {
		t.Fatalf("duration = %v", cfg.Server.ShutdownTimeout)
	}
	if cfg.Plans["free"].RequestsPerMinute != 25 || cfg.Plans["pro"].Monthly["api_calls"] != 7 {
		t.Fatalf("plan overrides not applied: %+v %+v", cfg.Plans["free"], cfg.Plans["pro"])
	}
	if cfg.Plans["starter"].RequestsPerMinute != 60 {
		t.Fatal("an untouched plan changed")
	}
}

func TestFileThenEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(path, []byte("[server]\nlisten = \"127.0.0.1:7000\"\n[log]\nformat = \"json\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, []string{"MEMORYD_SERVER_LISTEN=127.0.0.1:7001"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != "127.0.0.1:7001" || cfg.Log.Format != "json" {
		t.Fatalf("got listen %q format %q", cfg.Server.Listen, cfg.Log.Format)
	}
}

func TestInvalid(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, file string
		env        []string
		want       string
	}{
		{"unknown key", "[server]\nlisten = \"x:1\"\nbogus = 1\n", nil, "unknown keys: server.bogus"},
		{"bad duration env", "", []string{"MEMORYD_SERVER_IDLE_TIMEOUT=soon"}, "MEMORYD_SERVER_IDLE_TIMEOUT"},
		{"bad int env", "", []string{"MEMORYD_SERVER_MAX_BODY_BYTES=lots"}, "MEMORYD_SERVER_MAX_BODY_BYTES"},
		{"short admin token", "", []string{"MEMORYD_ADMIN_TOKEN=short"}, "admin.token"},
		{"bad log format", "[log]\nformat = \"xml\"\n", nil, "log.format"},
		{"bad default plan", "", []string{"MEMORYD_DEFAULTS_ORG_PLAN=gold"}, "defaults.org_plan"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := ""
			if c.file != "" {
				path = filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".toml")
				if err := os.WriteFile(path, []byte(c.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(path, c.env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}
