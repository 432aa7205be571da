package main

// The operator's data commands: backup, restore, verify and compact. They work on a
// stopped server's data folder, except `backup --url`, which asks a running server for
// a hot copy.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"memoryd/store"
)

// backupPath is the operator route a hot backup is downloaded from.
const backupPath = "/v1/admin/backup"

// errInUse is what an operator sees when a command needs the server stopped.
var errInUse = errors.New("data folder is in use by a running server: stop it first")

// explain turns the store's errors into what an operator should do about them.
func explain(err error, dataDir, hint string) error {
	switch {
	case errors.Is(err, store.ErrLocked):
		msg := fmt.Errorf("%s: %w", dataDir, errInUse)
		if hint != "" {
			msg = fmt.Errorf("%w (%s)", msg, hint)
		}
		return msg
	case errors.Is(err, store.ErrNoDatabase):
		return fmt.Errorf("%s holds no memoryd.db: is this the right data folder?", dataDir)
	}
	return err
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// summary is one human line about a verified database file.
func summary(rep store.VerifyReport) string {
	return fmt.Sprintf("%d bytes; %d orgs, %d keys, %d live and %d test memories, %d history events",
		rep.SizeBytes, rep.Orgs, rep.Keys, rep.MemoriesLive, rep.MemoriesTest, rep.HistoryEvents)
}

// backupCmd: memoryd backup --out FILE (--data DIR | --url URL [--admin-token T]).
func backupCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", stderr)
	out := fs.String("out", "", "file to write the backup to (required)")
	data := fs.String("data", "", "data folder of a stopped server")
	base := fs.String("url", "", "base URL of a running server, e.g. http://127.0.0.1:8080")
	token := fs.String("admin-token", "", "operator token for --url (default: $MEMORYD_ADMIN_TOKEN)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("backup: --out is required")
	}
	if (*data == "") == (*base == "") {
		return errors.New("backup: give either --data DIR (stopped server) or --url URL (running server)")
	}
	if info, err := os.Stat(*out); err == nil && info.IsDir() {
		return fmt.Errorf("backup: --out %s is a folder; name a file", *out)
	}

	var rep store.VerifyReport
	var err error
	if *data != "" {
		rep, err = store.BackupFile(*data, *out)
		err = explain(err, *data, "or back it up hot with --url")
	} else {
		if *token == "" {
			*token = os.Getenv("MEMORYD_ADMIN_TOKEN")
		}
		if *token == "" {
			return errors.New("backup: --url needs the operator token: --admin-token or MEMORYD_ADMIN_TOKEN")
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		rep, err = download(ctx, *base, *token, *out)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup written to %s (%s)\n", *out, summary(rep))
	return nil
}

// download fetches a hot backup from a running server into out, which only appears
// once the whole file has arrived and verified.
func download(ctx context.Context, base, token, out string) (store.VerifyReport, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return store.VerifyReport{}, fmt.Errorf("--url %q is not an http(s) URL", base)
	}
	if !strings.HasSuffix(u.Path, backupPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + backupPath
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return store.VerifyReport{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	// No overall timeout: a large store takes as long as it takes. Connecting and the
	// first answer are bounded, so a wrong address fails fast.
	client := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: time.Minute,
	}}
	resp, err := client.Do(req)
	if err != nil {
		return store.VerifyReport{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return store.VerifyReport{}, serverError(resp)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		return store.VerifyReport{}, fmt.Errorf("%s answered %s, not a backup file", u.Redacted(), ct)
	}
	return store.WriteVerified(out, func(w io.Writer) error {
		if _, err := io.Copy(w, resp.Body); err != nil {
			return fmt.Errorf("download interrupted: %w", err)
		}
		return nil
	})
}

// serverError reads the API's error envelope into a message an operator can act on.
func serverError(resp *http.Response) error {
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(raw, &env) != nil || env.Error.Code == "" {
		return fmt.Errorf("server answered %s", resp.Status)
	}
	msg := fmt.Errorf("server answered %s: %s: %s", resp.Status, env.Error.Code, env.Error.Message)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w (check --admin-token or MEMORYD_ADMIN_TOKEN)", msg)
	case http.StatusNotFound:
		return fmt.Errorf("%w (is the operator API enabled with admin.token, and is this build new enough for backups?)", msg)
	}
	return msg
}

// restoreCmd: memoryd restore --in FILE --data DIR.
func restoreCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("restore", stderr)
	in := fs.String("in", "", "backup file to restore (required)")
	data := fs.String("data", "", "data folder to restore into; must not hold a memoryd.db (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *in == "" || *data == "" {
		return errors.New("restore: --in FILE and --data DIR are required")
	}
	rep, err := store.Restore(*in, *data)
	if errors.Is(err, store.ErrTargetInUse) {
		return fmt.Errorf("restore: %s already holds a memoryd.db: restore into an empty folder, then point the server at it", *data)
	}
	if err != nil {
		return fmt.Errorf("restore: %w", explain(err, *in, ""))
	}
	fmt.Fprintf(stdout, "restored %s into %s (%s)\n", *in, *data, summary(rep))
	return nil
}

// verifyCmd: memoryd verify --in FILE; prints the report as JSON.
func verifyCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", stderr)
	in := fs.String("in", "", "database or backup file to check (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("verify: --in FILE is required")
	}
	if info, err := os.Stat(*in); err == nil && info.IsDir() {
		// An operator pointing at a data folder means the store inside it.
		*in = filepath.Join(*in, store.FileName)
	}
	rep, err := store.Verify(*in)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return fmt.Errorf("verify: %s is in use by a running server: verify a backup of it instead", *in)
		}
		return fmt.Errorf("verify: %w", err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// compactCmd: memoryd compact --data DIR.
func compactCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("compact", stderr)
	data := fs.String("data", "", "data folder of a stopped server (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *data == "" {
		return errors.New("compact: --data DIR is required")
	}
	res, err := store.Compact(*data)
	if err != nil {
		return fmt.Errorf("compact: %w", explain(err, *data, ""))
	}
	fmt.Fprintf(stdout, "compacted %s: %d -> %d bytes (%s)\n", *data, res.SizeBefore, res.SizeAfter, summary(res.Report))
	return nil
}
