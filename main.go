// Command memoryd is the memory API server and its operator tools.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"memoryd/api"
	"memoryd/config"
	"memoryd/llm"
	"memoryd/memory"
	"memoryd/meter"
	"memoryd/store"
)

// version is stamped by the Makefile with -ldflags "-X main.version=…".
var version = "dev"

const usage = `memoryd: a memory API for AI applications

Usage:
  memoryd serve [--config FILE] [--listen ADDR] [--data DIR]
  memoryd org create --name NAME [--plan PLAN] [--config FILE] [--data DIR]
  memoryd backup --out FILE (--data DIR | --url URL [--admin-token TOKEN])
  memoryd restore --in FILE --data DIR
  memoryd verify --in FILE
  memoryd compact --data DIR
  memoryd version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stdout, stderr)
	case "org":
		if len(args) < 2 || args[1] != "create" {
			fmt.Fprint(stderr, usage)
			return 2
		}
		err = orgCreate(args[2:], stdout)
	case "backup":
		err = backupCmd(args[1:], stdout, stderr)
	case "restore":
		err = restoreCmd(args[1:], stdout, stderr)
	case "verify":
		err = verifyCmd(args[1:], stdout, stderr)
	case "compact":
		err = compactCmd(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "memoryd %s\n", version)
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "memoryd: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 2
		}
		fmt.Fprintf(stderr, "memoryd: %v\n", err)
		return 1
	}
	return 0
}

// loadConfig parses the common flags and loads the configuration they name.
func loadConfig(fs *flag.FlagSet, args []string) (config.Config, error) {
	path := fs.String("config", "", "TOML config file (default: built-in settings)")
	listen := fs.String("listen", "", "address to serve on (overrides server.listen)")
	data := fs.String("data", "", "data folder (overrides storage.data_dir)")
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	if fs.NArg() > 0 {
		return config.Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return cfg, err
	}
	if *listen != "" {
		cfg.Server.Listen = *listen
	}
	if *data != "" {
		cfg.Storage.DataDir = *data
	}
	return cfg, cfg.Validate()
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	slog.SetDefault(log)

	st, err := store.Open(cfg.Storage.DataDir, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := bootstrap(st, cfg, stdout); err != nil {
		return err
	}

	emb, err := newEmbedder(cfg.Embedder)
	if err != nil {
		return err
	}
	mtr := meter.New(cfg, st, log, nil)
	engine := memory.New(st, memory.Options{Embedder: emb, Log: log, CacheEntries: cfg.Embedder.CacheEntries,
		OnUsage: func(ev store.UsageEvent) { mtr.Record(ev, false) }})
	srv := api.New(api.Deps{Config: cfg, Store: st, Engine: engine, Meter: mtr, Log: log})
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return err
	}
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.Server.ReadTimeout.Duration,
		WriteTimeout:      cfg.Server.WriteTimeout.Duration,
		IdleTimeout:       cfg.Server.IdleTimeout.Duration,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	workers, stopWorkers := context.WithCancel(context.Background())
	// The workers stop after the HTTP server has drained, so the last requests' usage
	// events and key uses are flushed.
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); srv.Run(workers) }()
	go func() { defer wg.Done(); mtr.Run(workers) }()
	go func() { defer wg.Done(); engine.RunJobs(workers) }()
	workersDone := make(chan struct{})
	go func() { wg.Wait(); close(workersDone) }()

	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()
	// Indexes load while the server already answers; /readyz says when they are in.
	go func() {
		start := time.Now()
		if err := engine.LoadAll(); err != nil {
			log.Error("load indexes", "err", err)
			return
		}
		srv.SetReady()
		log.Info("indexes loaded", "duration", time.Since(start).Round(time.Millisecond), "embedder", emb.Name(), "model", emb.Model())
	}()
	fmt.Fprintf(stdout, "memoryd %s listening on http://%s (data: %s)\n", version, ln.Addr(), cfg.Storage.DataDir)
	if cfg.Admin.Token == "" {
		log.Info("operator API disabled: set admin.token or MEMORYD_ADMIN_TOKEN to enable /v1/admin")
	}

	select {
	case err := <-served:
		stopWorkers()
		<-workersDone
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.Server.ShutdownTimeout.Duration)
	srv.SetShuttingDown()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.Duration)
	defer cancel()
	err = httpSrv.Shutdown(shutdownCtx)
	stopWorkers()
	<-workersDone
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// newEmbedder builds the configured embedder, behind a cache so identical texts are
// embedded once.
func newEmbedder(c config.Embedder) (llm.Embedder, error) {
	switch c.Provider {
	case "openai":
		e, err := llm.NewOpenAI(llm.OpenAIConfig{BaseURL: c.BaseURL, APIKey: c.APIKey, Model: c.Model,
			Dimensions: c.Dimensions, BatchSize: c.BatchSize, MaxRetries: c.MaxRetries, Timeout: c.Timeout.Duration})
		if err != nil {
			return nil, err
		}
		return llm.NewCached(e, c.CacheEntries), nil
	default:
		// The local embedder is fast enough that a cache would cost more than it saves,
		// and the engine needs it unwrapped for corpus-weighted queries.
		return llm.NewLocal(c.Dimensions), nil
	}
}

// bootstrap creates the default org on an empty data folder and prints its admin key,
// the only time it is ever shown.
func bootstrap(st *store.Store, cfg config.Config, stdout io.Writer) error {
	n, err := st.CountOrgs()
	if err != nil || n > 0 {
		return err
	}
	org, key, plain, err := st.CreateOrgWithAdminKey(cfg.Defaults.OrgName, cfg.Defaults.OrgPlan)
	if err != nil {
		return err
	}
	bar := strings.Repeat("=", 72)
	fmt.Fprintf(stdout, "%s\nFirst start: created org %q (%s, plan %s).\nIts admin API key, shown only this once:\n\n    %s\n\nKeep it safe; create more keys with POST /v1/account/api-keys.\n%s\n",
		bar, org.Name, org.ID, org.Plan, plain, bar)
	_ = key
	return nil
}

func orgCreate(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("org create", flag.ContinueOnError)
	name := fs.String("name", "", "org name (required)")
	plan := fs.String("plan", "free", "plan: free, starter, pro or enterprise")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return errors.New("org create: --name is required")
	}
	if _, ok := cfg.Plans[*plan]; !ok {
		return fmt.Errorf("org create: unknown plan %q (use %s)", *plan, strings.Join(config.PlanNames, ", "))
	}
	st, err := store.Open(cfg.Storage.DataDir, store.Options{})
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return fmt.Errorf("%w: stop the server first, or use POST /v1/admin/orgs", err)
		}
		return err
	}
	defer st.Close()
	org, key, plain, err := st.CreateOrgWithAdminKey(*name, *plan)
	if err != nil {
		return err
	}
	out := map[string]any{
		"org": map[string]any{"id": org.ID, "name": org.Name, "plan": org.Plan, "created_at": org.CreatedAt},
		"api_key": map[string]any{"id": key.ID, "name": key.Name, "prefix": key.Prefix, "scopes": key.Scopes,
			"mode": key.Mode, "created_at": key.CreatedAt, "key": plain},
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
