// Command memoryd is the memory API server and its operator tools.
package main

import (
	"context"
	"crypto/tls"
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
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"memoryd/api"
	"memoryd/billing"
	"memoryd/config"
	"memoryd/llm"
	"memoryd/memory"
	"memoryd/meter"
	"memoryd/store"
	"memoryd/webui"
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
  memoryd rekey --data DIR [--new-key-file FILE]   (old key: config or env; new: file or MEMORYD_NEW_MASTER_KEY)
  memoryd export --org ID --out FILE [--mode live|test] [--data DIR]
  memoryd import --org ID --in FILE [--data DIR]
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
	case "rekey":
		err = rekeyCmd(args[1:], stdout, stderr)
	case "export":
		err = exportCmd(args[1:], stdout, stderr)
	case "import":
		err = importCmd(args[1:], stdout, stderr)
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

	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if st.Encrypted() {
		log.Info("encryption at rest: on (AES-256-GCM)")
	} else {
		log.Warn("encryption at rest: OFF: memory text is stored unencrypted; set encryption.master_key_file or MEMORYD_ENCRYPTION_MASTER_KEY")
	}
	if err := bootstrap(st, cfg, stdout); err != nil {
		return err
	}

	emb, err := newEmbedder(cfg.Embedder)
	if err != nil {
		return err
	}
	// Index snapshots hold the vectors in the clear: an encrypted store writes none
	// (its large tenants rebuild their indexes at start) until they are sealed too.
	indexDir := filepath.Join(cfg.Storage.DataDir, "indexes")
	if st.Encrypted() {
		indexDir = ""
	}
	chat, err := newChat(cfg)
	if err != nil {
		return err
	}
	mtr := meter.New(cfg, st, log, nil)
	// Jobs run only after srv is set (RunJobs starts below), so their memory events
	// find it.
	var srv *api.Server
	engine := memory.New(st, memory.Options{Embedder: emb, Log: log, CacheEntries: cfg.Embedder.CacheEntries,
		SearchWorkers: searchWorkers(),
		OnMemoryEvent: func(t memory.Tenant, event string, m store.Memory) { srv.EmitMemoryEvent(t, event, m) },
		IndexDir:      indexDir, Chat: chat, Workers: cfg.Jobs.Workers,
		OnUsage: func(ev store.UsageEvent) { mtr.Record(ev, false) }})
	bill := billing.New(cfg, st, mtr, billing.Options{Log: log})
	if err := bill.LoadWebhooks(); err != nil {
		return err
	}
	srv = api.New(api.Deps{Config: cfg, Store: st, Engine: engine, Meter: mtr, Billing: bill, Log: log,
		Stats: []api.StatsSource{engine, mtr, st}, Dashboard: webui.Handler()})
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return err
	}
	scheme := "http"
	var tlsConf *tls.Config
	if cfg.TLS.Enabled() {
		if tlsConf, err = serverTLS(cfg.TLS); err != nil {
			ln.Close()
			return err
		}
		scheme = "https"
	}
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.Duration,
		ReadTimeout:       cfg.Server.ReadTimeout.Duration,
		WriteTimeout:      cfg.Server.WriteTimeout.Duration,
		IdleTimeout:       cfg.Server.IdleTimeout.Duration,
		MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	var redirect *http.Server
	if cfg.TLS.RedirectListen != "" {
		rln, err := net.Listen("tcp", cfg.TLS.RedirectListen)
		if err != nil {
			ln.Close()
			return err
		}
		redirect = redirectServer(cfg, ln.Addr())
		go func() {
			if err := redirect.Serve(rln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("redirect listener", "err", err)
			}
		}()
		fmt.Fprintf(stdout, "memoryd redirecting http://%s to https\n", rln.Addr())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	workers, stopWorkers := context.WithCancel(context.Background())
	// The workers stop after the HTTP server has drained, so the last requests' usage
	// events and key uses are flushed.
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); srv.Run(workers) }()
	go func() { defer wg.Done(); mtr.Run(workers) }()
	go func() { defer wg.Done(); bill.Run(workers) }()
	go func() { defer wg.Done(); engine.RunJobs(workers) }()
	workersDone := make(chan struct{})
	go func() { wg.Wait(); close(workersDone) }()

	served := make(chan error, 1)
	go func() {
		if tlsConf != nil {
			// ServeTLS, not a TLS listener, so HTTP/2 is set up too.
			served <- httpSrv.ServeTLS(ln, "", "")
			return
		}
		served <- httpSrv.Serve(ln)
	}()
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
	fmt.Fprintf(stdout, "memoryd %s listening on %s://%s (data: %s)\n", version, scheme, ln.Addr(), cfg.Storage.DataDir)
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
	if redirect != nil {
		_ = redirect.Close()
	}
	err = httpSrv.Shutdown(shutdownCtx)
	stopWorkers()
	<-workersDone
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Nothing writes any more: the large tenants' vector indexes can be saved, so the
	// next start loads them instead of rebuilding.
	if err := engine.SaveSnapshots(); err != nil {
		log.Error("save index snapshots", "err", err)
	}
	log.Info("stopped")
	return nil
}

// newEmbedder builds the configured embedder, behind a cache so identical texts are
// embedded once.
// newChat builds the chat model client of [llm], or nil when no model is set.
func newChat(cfg config.Config) (*llm.Chat, error) {
	models := map[llm.Task]string{}
	for _, t := range []llm.Task{llm.TaskExtraction, llm.TaskUpdate, llm.TaskRerank, llm.TaskAnswer} {
		if m := cfg.LLM.TaskModel(string(t)); m != "" {
			models[t] = m
		}
	}
	if len(models) == 0 {
		return nil, nil
	}
	retries := cfg.LLM.MaxRetries
	if retries == 0 {
		retries = -1 // llm's zero means its default
	}
	return llm.NewChat(llm.ChatConfig{BaseURL: cfg.LLM.BaseURL, APIKey: cfg.LLM.APIKey, Models: models,
		PlainJSON: !cfg.LLM.JSONMode, MaxRetries: retries, Timeout: cfg.LLM.Timeout.Duration,
		Price: func(model string) (float64, float64) {
			p := cfg.Models[model]
			return p.InputPer1M, p.OutputPer1M
		}})
}

func newEmbedder(c config.Embedder) (llm.Embedder, error) {
	if c.Provider == "openai" {
		e, err := llm.NewOpenAI(llm.OpenAIConfig{BaseURL: c.BaseURL, APIKey: c.APIKey, Model: c.Model,
			Dimensions: c.Dimensions, BatchSize: c.BatchSize, MaxRetries: c.MaxRetries, Timeout: c.Timeout.Duration})
		if err != nil {
			return nil, err
		}
		return llm.NewCached(e, c.CacheEntries), nil
	}
	return llm.NewCached(llm.NewLocal(c.Dimensions), c.CacheEntries), nil
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
	st, err := openStore(cfg)
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

// openStore opens the configured data folder with the master key, if one is set.
func openStore(cfg config.Config) (*store.Store, error) {
	key, err := cfg.Encryption.Key()
	if err != nil {
		return nil, err
	}
	return store.Open(cfg.Storage.DataDir, store.Options{MasterKey: key})
}

// rekeyCmd rotates the master key of a stopped server's data folder.
func rekeyCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rekey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	newFile := fs.String("new-key-file", "", "file holding the new master key (base64 of 32 bytes); or MEMORYD_NEW_MASTER_KEY")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	oldKey, err := cfg.Encryption.Key()
	if err != nil {
		return err
	}
	if oldKey == nil {
		return errors.New("rekey: no current master key: set encryption.master_key_file or MEMORYD_ENCRYPTION_MASTER_KEY")
	}
	newText := os.Getenv("MEMORYD_NEW_MASTER_KEY")
	if *newFile != "" {
		raw, err := os.ReadFile(*newFile)
		if err != nil {
			return fmt.Errorf("rekey: %w", err)
		}
		newText = string(raw)
	}
	newKey, err := config.DecodeMasterKey(newText)
	if err != nil {
		return err
	}
	if newKey == nil {
		return errors.New("rekey: no new master key: pass --new-key-file or set MEMORYD_NEW_MASTER_KEY")
	}
	if err := store.Rekey(cfg.Storage.DataDir, oldKey, newKey); err != nil {
		if errors.Is(err, store.ErrLocked) {
			return fmt.Errorf("%w: stop the server first", err)
		}
		return err
	}
	fmt.Fprintln(stdout, "master key rotated: start the server with the new key; the old one no longer opens this data folder")
	return nil
}

// serverTLS is the HTTPS configuration: TLS 1.2 at least, 1.3 for every client that
// has it (Go negotiates the highest both sides support), and for TLS 1.2 only
// forward-secret AEAD suites.
func serverTLS(c config.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}, nil
}

// redirectServer answers every plain-HTTP request with a 308 to the same path on the
// HTTPS listener, and serves nothing else: no API call is ever answered in the clear.
func redirectServer(cfg config.Config, httpsAddr net.Addr) *http.Server {
	_, port, _ := net.SplitHostPort(httpsAddr.String())
	return &http.Server{
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.Duration,
		ReadTimeout:       cfg.Server.ReadTimeout.Duration,
		WriteTimeout:      cfg.Server.WriteTimeout.Duration,
		MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host := r.Host
			if h, _, err := net.SplitHostPort(r.Host); err == nil {
				host = h
			}
			if host == "" {
				host = "localhost"
			}
			target := "https://" + net.JoinHostPort(host, port) + r.URL.RequestURI()
			w.Header().Set("Connection", "close")
			http.Redirect(w, r, target, http.StatusPermanentRedirect)
		}),
	}
}

// searchWorkers sizes the engine's search workers to the cores Go was given (GOMAXPROCS,
// or the CPU count or container limit), and gives the scheduler more processors than
// that (schedulerProcs), so that one is free to find arriving requests and to read and
// answer them while the workers search (see memory.searchPool). An explicit GOMAXPROCS
// is kept, with one worker fewer than its processors. Once per process.
var searchWorkers = sync.OnceValue(func() int {
	procs := runtime.GOMAXPROCS(0)
	if os.Getenv("GOMAXPROCS") != "" {
		return max(1, procs-1)
	}
	runtime.GOMAXPROCS(schedulerProcs(procs))
	return procs
})

// schedulerProcs is the processors for workers search workers: one for the network,
// and room for the garbage collector, whose background marking takes a quarter of the
// processors (whole ones, and part of another for the fraction) for as long as a cycle
// lasts, 150 ms at 100,000 memories. With only one spare processor the collector's
// marking shared it with the network, and requests waited to be read or answered
// (BENCHMARKS.md). The answer is the least p with p - workers - ceil(p/4) >= 1, which
// is ceil(4(workers+1)/3).
func schedulerProcs(workers int) int { return (4*(workers+1) + 2) / 3 }
