package api

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// backupStore is the store's hot backup. It is not part of Store: a store without
// a single file to copy (the Postgres one) has no such call, and a server on it
// answers the route with a 500 rather than pretending.
type backupStore interface {
	Backup(w io.Writer) (int64, error)
}

// errNoBackup says the configured store cannot stream backups.
var errNoBackup = errors.New("api: the store does not support backups")

// adminBackup streams a consistent copy of the database while the server keeps
// serving: GET /v1/admin/backup with the operator token.
func (s *Server) adminBackup(w http.ResponseWriter, r *http.Request) error {
	bs, ok := s.store.(backupStore)
	if !ok {
		return errNoBackup
	}
	// A large store takes longer to send than the server's write timeout allows an
	// ordinary answer; the client's own timeout still bounds it.
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	name := "memoryd-" + s.now().UTC().Format("20060102T150405Z") + ".db"
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	info(r).status = http.StatusOK
	if r.Method == http.MethodHead {
		// The GET pattern also serves HEAD: answer it without copying the database.
		w.WriteHeader(http.StatusOK)
		return nil
	}

	n, err := bs.Backup(w)
	if err == nil {
		return nil
	}
	if n == 0 {
		// Nothing sent yet: the envelope can still say it failed.
		h.Del("Content-Disposition")
		h.Del("Cache-Control")
		return err
	}
	// Headers and part of the file are out. Aborting the connection, instead of ending
	// the body cleanly, is what makes the client see a truncated download.
	s.log.Error("backup stream failed", "request_id", info(r).id, "bytes_sent", n, "err", err)
	panic(http.ErrAbortHandler)
}
