package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/audit"
	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/jobs"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/listquery"
	"github.com/mosaique/rgz-backup/internal/recent"
	"github.com/mosaique/rgz-backup/internal/restoretest"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// Prefix is where the specification's routes live.
const Prefix = "/api/v1/backups/pg-dump"

// MaxBody bounds every request body.
const MaxBody = 64 << 10

// Deps are what the API serves from.
type Deps struct {
	Config config.Config
	Store  *catalog.Store
	Auth   *auth.Authenticator
	Queue  *jobs.Client // inserts jobs for the daemon's workers
	Log    *slog.Logger
	// Metrics serves /metrics, without authentication (Prometheus scrapes
	// it); nil: no /metrics.
	Metrics http.Handler
	// Audit is the trail of actions and refusals (default: one written to
	// Store).
	Audit *audit.Trail
	// Streaming are the servers whose WAL the daemon archives (the PITR
	// test-restore route queues a test of one of them).
	Streaming []targets.Server

	reads *recent.Map[answer] // GET answers shared by concurrent callers (Server makes it)
}

// ReadMaxAge is how old an answer of a reading route (latest, list) may
// be: concurrent callers share one reading of the catalog, and get the
// previous answer while it is refreshed.
const ReadMaxAge = 2 * time.Second

// answer is a GET route's response, as it is shared.
type answer struct {
	status int
	body   []byte
	err    *apiError
}

// shared answers a reading route from d.reads, computing it with read at
// most once per ReadMaxAge per key. The catalog is read under a context
// of its own: the caller that happens to compute it may go away.
func (d Deps) shared(w http.ResponseWriter, r *http.Request, key string, read func(ctx context.Context) (any, *apiError)) *apiError {
	compute := func() (answer, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		defer cancel()
		v, apiErr := read(ctx)
		if apiErr != nil {
			return answer{err: apiErr}, nil
		}
		b, err := json.MarshalIndent(v, "", "  ")
		return answer{status: http.StatusOK, body: append(b, '\n')}, err
	}
	var a answer
	var err error
	if d.reads == nil {
		a, err = compute()
	} else {
		a, err = d.reads.Get(key, compute)
	}
	if err != nil {
		return d.internal(err)
	}
	if a.err != nil {
		return a.err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
	return nil
}

// route is one authenticated route: its pattern, handler and the text the
// OpenAPI document gives it.
type route struct {
	method, path string
	handle       func(w http.ResponseWriter, r *http.Request, c auth.Caller) *apiError
}

func (d Deps) routes() []route {
	return []route{
		{"GET", Prefix + "/latest", d.latest},
		{"GET", Prefix + "/list", d.list},
		{"POST", Prefix + "/test-restore", d.testRestore},
		{"GET", Prefix + "/restore-history", d.restoreHistory},
		{"GET", Prefix + "/restore-tests/{id}", d.restoreTest},
		{"GET", Prefix + "/{id}", d.backup},
		{"GET", Prefix + "/copies/{id}", d.copies},
		{"POST", Prefix, d.enqueueBackup},
		{"GET", PITRPrefix + "/window", d.pitrWindow},
		{"GET", PITRPrefix + "/base-backups", d.pitrBaseBackups},
		{"POST", PITRPrefix + "/test-restore", d.pitrTestRestore},
		{"GET", PITRPrefix + "/restore-history", d.pitrRestoreHistory},
		{"GET", PITRPrefix + "/restore-tests/{id}", d.pitrRestoreTest},
		{"GET", "/api/v1/openapi.json", d.openAPI},
	}
}

// Server is the daemon's whole HTTP surface: the probes and /metrics
// without authentication, the API with it.
func Server(d Deps, probes http.Handler) http.Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	d.reads = &recent.Map[answer]{MaxAge: ReadMaxAge, Max: 256}
	if d.Audit == nil {
		d.Audit = audit.New(d.Store, nil, d.Log)
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz", probes)
	mux.Handle("/readyz", probes)
	if d.Metrics != nil {
		mux.Handle("GET /metrics", d.Metrics)
	}
	known := http.NewServeMux() // the paths alone, to tell 405 from 404
	for _, rt := range d.routes() {
		mux.Handle(rt.method+" "+rt.path, d.guard(rt))
		if _, pattern := known.Handler(&http.Request{Method: "GET", URL: &url.URL{Path: rt.path}}); pattern != rt.path {
			known.Handle(rt.path, http.NotFoundHandler())
		}
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := known.Handler(r); pattern != "" {
			writeError(w, &apiError{http.StatusMethodNotAllowed, "method_not_allowed", r.Method + " is not served on this route"})
			return
		}
		writeError(w, &apiError{http.StatusNotFound, "not_found", "no such route"})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		protect(w.Header(), r.URL.Path)
		mux.ServeHTTP(w, r)
	})
}

// protect sets the headers every answer carries, as the console's do: no
// content sniffing, no framing; and the API's answers (its data, behind a
// token) are never stored by a browser or a proxy.
func protect(h http.Header, path string) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	if strings.HasPrefix(path, "/api/") {
		h.Set("Cache-Control", "no-store")
	}
}

// guard authenticates, authorizes, and runs the handler. A refusal (no
// valid token, a role that may not) is audited with the client's address
// (audit.Trail.Refused: bounded, at most a few a minute per address); an
// action (a POST) is audited before it is done — refused with 503 when
// that cannot be written — and completed with the status it answered.
func (d Deps) guard(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := d.Auth.Authenticate(r)
		if err != nil {
			d.Log.Info("API request refused", "path", r.URL.Path, "reason", err.Error())
			refused := audit.Of(r, "", "")
			refused.Status, refused.Detail = http.StatusUnauthorized, err.Error()
			d.Audit.Refused(r.Context(), refused)
			w.Header().Set("WWW-Authenticate", `Bearer realm="rgz-backup"`)
			writeError(w, &apiError{http.StatusUnauthorized, "unauthenticated", "a valid bearer token is required"})
			return
		}
		entry := audit.Of(r, caller.Subject, caller.Role)
		if !auth.Allowed(caller.Role, r.Method) {
			entry.Status, entry.Detail = http.StatusForbidden, "forbidden"
			d.Audit.Refused(r.Context(), entry)
			writeError(w, &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf("role %q may not %s this route", caller.Role, r.Method)})
			return
		}
		if r.Method != http.MethodPost { // reads are not actions
			if aerr := rt.handle(w, r, caller); aerr != nil {
				writeError(w, aerr)
			}
			return
		}
		action, err := d.Audit.Begin(r.Context(), entry)
		if err != nil {
			writeError(w, &apiError{http.StatusServiceUnavailable, "audit_unavailable", err.Error()})
			return
		}
		answered := &audit.Answered{ResponseWriter: w}
		detail := ""
		if aerr := rt.handle(answered, r, caller); aerr != nil {
			writeError(answered, aerr)
			detail = aerr.code
		}
		detail = strings.TrimPrefix(strings.Join([]string{detail, answered.Header().Get("Location")}, " "), " ")
		action.End(r.Context(), answered.Status, detail)
	})
}

// apiError is an error answer: {"error": {"code", "message"}}. Messages
// never carry SQL, paths or stack traces.
type apiError struct {
	status  int
	code    string
	message string
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]any{"error": map[string]string{"code": e.code, "message": e.message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// internal logs the real error and answers without it.
func (d Deps) internal(err error) *apiError {
	d.Log.Error("API request failed", "error", err)
	return &apiError{http.StatusInternalServerError, "internal", "the request could not be served; the daemon's log says why"}
}

func (d Deps) latest(w http.ResponseWriter, r *http.Request, _ auth.Caller) *apiError {
	status := catalog.Status(r.URL.Query().Get("status"))
	if status != "" && status != catalog.StatusSuccess && status != catalog.StatusFailed && status != catalog.StatusPartial {
		return &apiError{http.StatusBadRequest, "bad_status", "status must be success, failed or partial"}
	}
	of, err := listquery.ParseOf(r.URL.Query())
	if err != nil {
		return &apiError{http.StatusBadRequest, "bad_query", err.Error()}
	}
	return d.shared(w, r, "latest?"+string(status)+"&target="+of.Target+"&database="+of.Database, func(ctx context.Context) (any, *apiError) {
		rows, err := d.Store.List(ctx, catalog.Filter{Status: status, Limit: 1, Target: of.Target, Database: of.Database})
		if err != nil {
			return nil, d.internal(err)
		}
		if len(rows) == 0 {
			return nil, &apiError{http.StatusNotFound, "not_found", "no backup yet"}
		}
		return rows[0], nil
	})
}

// ListPage is the list route's answer.
type ListPage struct {
	Backups    []catalog.Execution `json:"backups"`
	NextCursor string              `json:"next_cursor,omitempty"`
}

func (d Deps) list(w http.ResponseWriter, r *http.Request, _ auth.Caller) *apiError {
	q, err := listquery.Parse(r.URL.Query())
	if err != nil {
		return &apiError{http.StatusBadRequest, "bad_query", err.Error()}
	}
	key := fmt.Sprintf("list?days=%d&limit=%d&after=%s/%s&target=%s&database=%s", q.Days, q.Limit, q.AfterDate.Format(time.RFC3339Nano), q.AfterID,
		url.QueryEscape(q.Of.Target), url.QueryEscape(q.Of.Database))
	return d.shared(w, r, key, func(ctx context.Context) (any, *apiError) {
		rows, err := d.Store.Page(ctx, time.Now().UTC().AddDate(0, 0, -q.Days), q.AfterDate, q.AfterID, q.Limit+1, q.Of)
		if err != nil {
			return nil, d.internal(err)
		}
		page := ListPage{Backups: rows}
		if len(rows) > q.Limit {
			page.Backups = rows[:q.Limit]
			last := page.Backups[q.Limit-1]
			page.NextCursor = listquery.EncodeCursor(last.BackupDate, last.ID)
		}
		if page.Backups == nil {
			page.Backups = []catalog.Execution{}
		}
		return page, nil
	})
}

// TestRestoreRequest is the test-restore route's body.
type TestRestoreRequest struct {
	BackupFilename string `json:"backup_filename,omitempty"`
}

// ParseTestRestore reads the body strictly: JSON, no unknown fields, a
// name the tool gives its backups when one is given (every one of them:
// compressed, plain, encrypted). An empty body asks for the usual choice.
func ParseTestRestore(body []byte) (TestRestoreRequest, error) {
	var req TestRestoreRequest
	if len(strings.TrimSpace(string(body))) == 0 {
		return req, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, errors.New("the body must be a JSON object {\"backup_filename\": \"YYYYMMDD_HHMMSS.dump.gz\"} with no other field")
	}
	if dec.More() {
		return req, errors.New("the body must hold one JSON object")
	}
	if req.BackupFilename != "" && !layout.IsDumpName(req.BackupFilename) {
		return req, errors.New("backup_filename must be a backup's name: " + layout.DumpNameHint)
	}
	return req, nil
}

func (d Deps) testRestore(w http.ResponseWriter, r *http.Request, _ auth.Caller) *apiError {
	body, err := readBody(r)
	if err != nil {
		return &apiError{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is limited to %d bytes", MaxBody)}
	}
	req, err := ParseTestRestore(body)
	if err != nil {
		return &apiError{http.StatusBadRequest, "bad_request", err.Error()}
	}
	started, err := restoretest.Start(r.Context(), d.Store, jobs.RestoreTests{Client: d.Queue}, d.Config,
		restoretest.StartRequest{Filename: req.BackupFilename, TriggeredBy: catalog.TriggerAPI, Now: time.Now()})
	var running restoretest.AlreadyRunning
	switch status, code := restoretest.Refusal(err); {
	case errors.As(err, &running):
		body := map[string]any{"error": map[string]string{"code": code, "message": err.Error()}}
		if running.ID != "" {
			body["id"], body["location"] = running.ID, Prefix+"/restore-tests/"+running.ID
			w.Header().Set("Location", Prefix+"/restore-tests/"+running.ID)
		}
		writeJSON(w, status, body)
		return nil
	case status != 0:
		return &apiError{status, code, err.Error()}
	case err != nil:
		return d.internal(err)
	}
	location := Prefix + "/restore-tests/" + started.Test.ID
	w.Header().Set("Location", location)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": started.Test.ID, "status": string(started.Test.Status), "backup_filename": started.Backup.Filename, "location": location})
	return nil
}

func (d Deps) restoreHistory(w http.ResponseWriter, r *http.Request, _ auth.Caller) *apiError {
	q, err := listquery.Parse(map[string][]string{"days": r.URL.Query()["days"]})
	if err != nil {
		return &apiError{http.StatusBadRequest, "bad_query", err.Error()}
	}
	tests, err := d.Store.RestoreTests(r.Context(), time.Now().UTC().AddDate(0, 0, -q.Days))
	if err != nil {
		return d.internal(err)
	}
	if tests == nil {
		tests = []catalog.RestoreTest{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"restore_tests": tests})
	return nil
}

func (d Deps) restoreTest(w http.ResponseWriter, r *http.Request, _ auth.Caller) *apiError {
	return byID(d, w, r, "restore test", d.Store.RestoreTest)
}

func (d Deps) backup(w http.ResponseWriter, r *http.Request, _ auth.Caller) *apiError {
	return byID(d, w, r, "backup", d.Store.Get)
}

// copies answers a backup's copies (404 for an unknown backup).
func (d Deps) copies(w http.ResponseWriter, r *http.Request, _ auth.Caller) *apiError {
	return byID(d, w, r, "backup", func(ctx context.Context, id string) ([]catalog.Copy, error) {
		if _, err := d.Store.Get(ctx, id); err != nil {
			return nil, err
		}
		return d.Store.Copies(ctx, id)
	})
}

// byID answers the {id} routes: a UUID, looked up, 404 when unknown.
func byID[T any](d Deps, w http.ResponseWriter, r *http.Request, what string, get func(context.Context, string) (T, error)) *apiError {
	id := r.PathValue("id")
	if uuid.Validate(id) != nil {
		return &apiError{http.StatusBadRequest, "bad_id", "the id must be a UUID"}
	}
	v, err := get(r.Context(), id)
	if errors.Is(err, catalog.ErrNotFound) {
		return &apiError{http.StatusNotFound, "not_found", "no " + what + " with this id"}
	}
	if err != nil {
		return d.internal(err)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (d Deps) enqueueBackup(w http.ResponseWriter, r *http.Request, _ auth.Caller) *apiError {
	body, err := readBody(r)
	if err != nil {
		return &apiError{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is limited to %d bytes", MaxBody)}
	}
	if s := strings.TrimSpace(string(body)); s != "" && s != "{}" {
		return &apiError{http.StatusBadRequest, "bad_request", "this route takes no body (or {})"}
	}
	job, err := jobs.Enqueue(r.Context(), d.Queue, catalog.TriggerAPI)
	if err != nil {
		return d.internal(err)
	}
	w.Header().Set("Location", fmt.Sprintf("%s/list?days=1", Prefix))
	writeJSON(w, http.StatusAccepted, job)
	return nil
}

func readBody(r *http.Request) ([]byte, error) { return io.ReadAll(r.Body) }
