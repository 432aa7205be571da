package main

// memoryd export and import: one org's memories as JSON lines, on a stopped server's
// data folder. A running server does the same at GET /v1/admin/orgs/{id}/export and
// POST /v1/admin/orgs/{id}/import.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"memoryd/memory"
	"memoryd/store"
)

// openForOrg opens the configured data folder for a command on one org, which must
// exist, and builds an engine over it with the configured embedder.
func openForOrg(fs *flag.FlagSet, args []string, org *string, api string) (*store.Store, *memory.Engine, error) {
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if !store.ValidID(*org, "org_") {
		return nil, nil, fmt.Errorf("%s: --org must be an org id (org_…)", fs.Name())
	}
	st, err := openStore(cfg)
	if err != nil {
		return nil, nil, explain(err, cfg.Storage.DataDir, "or use "+api+" on the running server")
	}
	if _, err := st.GetOrg(*org); err != nil {
		st.Close()
		return nil, nil, fmt.Errorf("%s: %w: %s", fs.Name(), err, *org)
	}
	emb, err := newEmbedder(cfg.Embedder)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	// No index directory: the server's next start finds its snapshot stale (the write
	// count moved) and rebuilds, so nothing here needs to keep one.
	return st, memory.New(st, memory.Options{Embedder: emb}), nil
}

// exportCmd: memoryd export --org ID --out FILE [--mode live|test] [--data DIR].
func exportCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", stderr)
	org := fs.String("org", "", "org id to export (required)")
	out := fs.String("out", "", "file to write the JSON lines to (required)")
	mode := fs.String("mode", "", "live or test (default: both)")
	st, engine, err := openForOrg(fs, args, org, "GET /v1/admin/orgs/{org_id}/export")
	if err != nil {
		return err
	}
	defer st.Close()
	if *out == "" {
		return errors.New("export: --out is required")
	}
	modes := []store.Mode{store.ModeLive, store.ModeTest}
	switch *mode {
	case "":
	case "live", "test":
		modes = []store.Mode{store.Mode(*mode)}
	default:
		return errors.New("export: --mode must be live or test")
	}
	// Written beside the target and renamed over it once complete: out never holds half
	// an export.
	tmp, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".tmp-*")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := engine.Export(*org, modes, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), *out)
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(stdout, "exported %d memories of %s to %s\n", n, *org, *out)
	return nil
}

// importCmd: memoryd import --org ID --in FILE [--data DIR]. The file's memories are
// embedded with the configured embedder and added in one transaction, ids kept.
func importCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", stderr)
	org := fs.String("org", "", "org id to import into (required; create it first with `memoryd org create`)")
	in := fs.String("in", "", "JSON lines file written by export (required)")
	st, engine, err := openForOrg(fs, args, org, "POST /v1/admin/orgs/{org_id}/import")
	if err != nil {
		return err
	}
	defer st.Close()
	if *in == "" {
		return errors.New("import: --in is required")
	}
	f, err := os.Open(*in)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	recs, err := memory.ParseExport(f, 0)
	if err != nil {
		return fmt.Errorf("import: %s: %w", *in, err)
	}
	counts, err := engine.Import(context.Background(), *org, recs)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return json.NewEncoder(stdout).Encode(map[string]any{"org_id": *org, "imported": len(recs),
		"modes": map[string]int{"live": counts[store.ModeLive], "test": counts[store.ModeTest]}})
}
