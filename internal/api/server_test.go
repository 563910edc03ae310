package api

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/audit"
	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/jobs"
	fx "github.com/mosaique/rgz-backup/internal/testenv/fixture"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

var secret = []byte("test-secret-for-the-platform-jwts")

// fixture is a real catalog with one good backup and one finished restore
// test, served by the API in-process.
type fixture struct {
	t       *testing.T
	server  *httptest.Server
	store   *catalog.Store
	backup  catalog.Execution
	test    catalog.RestoreTest
	headers map[string]string // kind of caller → Authorization
	// catalogURL is the catalog database's, for a test that breaks it.
	catalogURL string
	queue      *jobs.Client
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db := config.Database{URL: cluster.URL(cluster.NewDatabase(t))}
	pool, store := fx.OpenCatalog(t, db)
	queue, err := jobs.NewInserter(pool)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, store: store, catalogURL: db.URL, queue: queue}
	date := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	crc := "f7e42c9f"
	f.backup = catalog.Execution{ID: uuid.NewString(), BackupType: "pg_dump", BackupDate: date, Filename: date.Format("20060102_150405") + ".dump.gz",
		Status: catalog.StatusSuccess, ChecksumCRC32: &crc, TriggeredBy: catalog.TriggerScheduled, Attempt: 1}
	if err := store.Insert(ctx, &f.backup); err != nil {
		t.Fatal(err)
	}
	end := time.Now().UTC()
	f.test = catalog.RestoreTest{ID: uuid.NewString(), BackupID: f.backup.ID, StartedAt: end.Add(-time.Minute), Status: catalog.TestRunning, TriggeredBy: catalog.TriggerManual}
	store.BeginRestoreTest(ctx, f.test)
	f.test.Status, f.test.FinishedAt = "success", &end
	store.FinishRestoreTest(ctx, f.test)

	token, entry, _ := auth.NewNamedToken("ops", "admin")
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"BACKUP_DATABASE_URL": db.URL, "BACKUP_API_JWT_SECRET": string(secret), "BACKUP_API_TOKENS": entry}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(cfg.API)
	if err != nil {
		t.Fatal(err)
	}
	// The trail's minute stands still: how many refusals it records does
	// not depend on when the test runs.
	f.server = httptest.NewServer(Server(Deps{Config: cfg, Store: store, Auth: authn, Queue: queue, Audit: audit.New(store, clock.At(time.Now()), nil)}, (&Prober{}).Handler()))
	t.Cleanup(f.server.Close)
	exp, past := time.Now().Add(time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
	jwtFor := func(key []byte, claims jwt.MapClaims) string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
		return "Bearer " + s
	}
	f.headers = map[string]string{
		"none":          "",
		"bad signature": jwtFor([]byte("another-secret"), jwt.MapClaims{"role": "admin", "exp": exp}),
		"expired":       jwtFor(secret, jwt.MapClaims{"role": "admin", "exp": past}),
		"noc":           jwtFor(secret, jwt.MapClaims{"role": "noc", "exp": exp, "sub": "noc-1"}),
		"admin":         jwtFor(secret, jwt.MapClaims{"role": "admin", "exp": exp, "sub": "admin-1"}),
		"reseller":      jwtFor(secret, jwt.MapClaims{"role": "reseller", "exp": exp, "sub": "reseller-1"}),
		"admin token":   "Bearer " + token,
	}
	return f
}

func (f *fixture) do(method, path, caller, body string) (*http.Response, map[string]any) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.server.URL+path, strings.NewReader(body))
	if h := f.headers[caller]; h != "" {
		req.Header.Set("Authorization", h)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res, out
}

// Every route × every kind of caller.
func TestEveryRouteEveryCaller(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	routes := []struct {
		method, path, body string
		ok                 int // the admin's answer
	}{
		{"GET", Prefix + "/latest", "", 200},
		{"GET", Prefix + "/latest?status=success", "", 200},
		{"GET", Prefix + "/list?days=30", "", 200},
		{"GET", Prefix + "/restore-history?days=7", "", 200},
		{"GET", Prefix + "/restore-tests/" + f.test.ID, "", 200},
		{"GET", Prefix + "/" + f.backup.ID, "", 200},
		{"GET", Prefix + "/copies/" + f.backup.ID, "", 200},
		{"GET", "/api/v1/openapi.json", "", 200},
		{"POST", Prefix, "", 202},
		{"POST", Prefix + "/test-restore", `{"backup_filename": "` + f.backup.Filename + `"}`, 202},
	}
	for _, rt := range routes {
		for _, caller := range []string{"none", "bad signature", "expired", "reseller", "noc", "admin", "admin token"} {
			t.Run(rt.method+" "+rt.path+" as "+caller, func(t *testing.T) {
				want := rt.ok
				switch {
				case caller == "none" || caller == "bad signature" || caller == "expired":
					want = 401
				case caller == "reseller" || (caller == "noc" && rt.method == "POST"):
					want = 403
				}
				if rt.method == "POST" && strings.HasSuffix(rt.path, "test-restore") && want == 202 && caller == "admin token" {
					want = 409 // the admin's JWT queued one a moment ago
				}
				res, body := f.do(rt.method, rt.path, caller, rt.body)
				if res.StatusCode != want {
					t.Fatalf("status %d, want %d: %v", res.StatusCode, want, body)
				}
				// Every answer, refusals included: the protective headers.
				if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("headers %v", res.Header)
				}
				if want == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Error("401 without WWW-Authenticate: Bearer")
				}
				if want >= 400 {
					e, _ := body["error"].(map[string]any)
					if e["code"] == nil || e["message"] == nil {
						t.Errorf("error body %v", body)
					}
				}
			})
		}
	}
	// Every action (an admin's POST) is in the audit log, with who and the
	// status answered — the 409 as 409; the refusals (401 without a valid
	// token, 403 for a role that may not) too, with the client's address,
	// at most audit.PerClient a minute from one address, the next one
	// saying the rest are not recorded.
	rows, err := f.store.AuditPage(context.Background(), catalog.Audit{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	refusals, paused := 0, 0
	for _, a := range rows {
		switch {
		case a.Status == 401 || a.Status == 403:
			refusals++
			if a.Client != "127.0.0.1" {
				t.Errorf("refusal without the client's address: %+v", a)
			}
			if strings.Contains(a.Detail, "not recorded") {
				paused++
			}
		default:
			actions[fmt.Sprintf("%s %s %d", a.Subject, a.Path, a.Status)]++
		}
	}
	want := map[string]int{
		"jwt:admin-1 " + Prefix + " 202": 1, "jwt:admin-1 " + Prefix + "/test-restore 202": 1,
		"token:ops " + Prefix + " 202": 1, "token:ops " + Prefix + "/test-restore 409": 1,
	}
	if !maps.Equal(actions, want) || refusals != audit.PerClient+1 || paused != 1 {
		t.Fatalf("actions %v, want %v; %d refusals (want %d), %d saying the rest are not recorded", actions, want, refusals, audit.PerClient+1, paused)
	}
}

func TestBadInputs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", Prefix + "/list?days=0", "", 400},
		{"GET", Prefix + "/list?days=3651", "", 400},
		{"GET", Prefix + "/list?days=abc", "", 400},
		{"GET", Prefix + "/list?limit=0", "", 400},
		{"GET", Prefix + "/list?cursor=garbage", "", 400},
		{"GET", Prefix + "/restore-history?days=-1", "", 400},
		{"GET", Prefix + "/latest?status=running", "", 400},
		{"GET", Prefix + "/latest?target=Bad%20Name", "", 400},
		{"GET", Prefix + "/list?target=../etc", "", 400},
		{"GET", Prefix + "/list?database=", "", 400},
		{"GET", Prefix + "/latest?database=%00x", "", 400},
		{"GET", Prefix + "/latest?database=%FFx", "", 400},
		{"GET", Prefix + "/list?database=tab%09here", "", 200}, // a name PostgreSQL takes
		{"GET", Prefix + "/not-a-uuid", "", 400},
		{"GET", Prefix + "/" + uuid.NewString(), "", 404},
		{"GET", Prefix + "/restore-tests/" + uuid.NewString(), "", 404},
		{"POST", Prefix + "/test-restore", `{"backup_filename": "../../etc/passwd"}`, 400},
		{"POST", Prefix + "/test-restore", `{"backup_filename": "20000101_000000.dump.gz"}`, 404},
		{"POST", Prefix + "/test-restore", `{"backup_filename": `, 400},
		{"POST", Prefix + "/test-restore", `{"backup_filename": "x", "drop": true}`, 400},
		{"POST", Prefix + "/test-restore", `{"file": "` + strings.Repeat("x", 70<<10) + `"}`, 413},
		{"POST", Prefix, `{"unexpected": 1}`, 400},
		{"DELETE", Prefix + "/" + f.backup.ID, "", 405},
		{"GET", "/api/v2/anything", "", 404},
	} {
		res, body := f.do(tc.method, tc.path, "admin", tc.body)
		if res.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d: %v", tc.method, tc.path, res.StatusCode, tc.want, body)
		}
		if text := fmt.Sprint(body); strings.Contains(text, "SQLSTATE") || strings.Contains(text, "goroutine") || strings.Contains(text, "/tmp/") {
			t.Errorf("%s %s leaks internals: %v", tc.method, tc.path, body)
		}
	}
	// A test already running: 409 with its id.
	res, first := f.do("POST", Prefix+"/test-restore", "admin", "")
	if res.StatusCode != 202 || res.Header.Get("Location") != Prefix+"/restore-tests/"+fmt.Sprint(first["id"]) {
		t.Fatalf("first test-restore: %d %v %s", res.StatusCode, first, res.Header.Get("Location"))
	}
	res, second := f.do("POST", Prefix+"/test-restore", "admin", "")
	if res.StatusCode != 409 || second["id"] != first["id"] {
		t.Fatalf("second test-restore: %d %v", res.StatusCode, second)
	}
}

// Pages: limit and cursor walk the whole list once, newest first.
func TestListPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := range 4 {
		date := time.Now().UTC().Add(-time.Duration(i+2) * time.Hour).Truncate(time.Second)
		row := catalog.Execution{ID: uuid.NewString(), BackupType: "pg_dump", BackupDate: date, Filename: date.Format("20060102_150405") + ".dump.gz",
			Status: catalog.StatusSuccess, TriggeredBy: catalog.TriggerScheduled, Attempt: 1}
		f.store.Insert(context.Background(), &row)
	}
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		_, body := f.do("GET", Prefix+"/list?limit=2&cursor="+cursor, "noc", "")
		for _, b := range body["backups"].([]any) {
			seen = append(seen, b.(map[string]any)["backup_date"].(string))
		}
		next, _ := body["next_cursor"].(string)
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("pages never end")
		}
		cursor = next
	}
	if len(seen) != 5 {
		t.Fatalf("%d rows over the pages: %v", len(seen), seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Fatalf("not newest first: %v", seen)
		}
	}
}

// With several databases and servers: the specification's routes without filters
// answer for the default target, as they always did; target and database
// narrow; target=* is every target.
func TestTargetAndDatabaseFilters(t *testing.T) {
	t.Parallel()
	f := newFixture(t) // its backup: target default, no database named
	add := func(hoursAgo int, target, db string, status catalog.Status) catalog.Execution {
		date := time.Now().UTC().Add(-time.Duration(hoursAgo) * time.Minute).Truncate(time.Second)
		row := catalog.Execution{ID: uuid.NewString(), BackupType: "pg_dump", BackupDate: date, Filename: date.Format("20060102_150405") + ".dump.gz",
			Status: status, TriggeredBy: catalog.TriggerScheduled, Attempt: 1, TargetName: target, DatabaseName: &db}
		if err := f.store.Insert(context.Background(), &row); err != nil {
			t.Fatal(err)
		}
		return row
	}
	billing := add(30, "default", "billing", "success")
	other := add(20, "site-b", "rgz", "success")
	failed := add(10, "site-b", "radius", "failed")
	for _, tc := range []struct {
		query string
		want  string // the latest's id
	}{
		{"", billing.ID},
		{"?target=default&database=billing", billing.ID},
		{"?target=site-b", failed.ID},
		{"?target=site-b&status=success", other.ID},
		{"?target=site-b&database=rgz", other.ID},
		{"?target=*", failed.ID},
	} {
		res, body := f.do("GET", Prefix+"/latest"+tc.query, "noc", "")
		if res.StatusCode != 200 || body["id"] != tc.want {
			t.Errorf("latest%s: %d %v, want %s", tc.query, res.StatusCode, body["id"], tc.want)
		}
	}
	if res, _ := f.do("GET", Prefix+"/latest?target=nowhere", "noc", ""); res.StatusCode != 404 {
		t.Errorf("latest of a target with no backup: %d", res.StatusCode)
	}
	count := func(query string) int {
		_, body := f.do("GET", Prefix+"/list"+query, "noc", "")
		return len(body["backups"].([]any))
	}
	if n := count(""); n != 2 {
		t.Errorf("list without filters: %d rows, want the default target's 2", n)
	}
	if n := count("?target=*"); n != 4 {
		t.Errorf("list?target=*: %d rows, want 4", n)
	}
	if n := count("?target=site-b&database=radius"); n != 1 {
		t.Errorf("list of one database: %d rows", n)
	}
}

// The OpenAPI document and the handlers agree: every documented operation
// is served, and every served route is documented.
func TestOpenAPIMatchesTheRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, doc := f.do("GET", "/api/v1/openapi.json", "noc", "")
	paths, _ := doc["paths"].(map[string]any)
	if doc["openapi"] != "3.0.3" || len(paths) == 0 {
		t.Fatalf("document: %v", doc)
	}
	operations := 0
	for path, item := range paths {
		for method := range item.(map[string]any) {
			operations++
			concrete := strings.ReplaceAll(path, "{id}", uuid.NewString())
			res, body := f.do(strings.ToUpper(method), concrete, "admin", "")
			if res.StatusCode == 405 || (res.StatusCode == 404 && fmt.Sprint(body["error"]) == fmt.Sprint(map[string]any{"code": "not_found", "message": "no such route"})) {
				t.Errorf("%s %s is documented but not served (%d)", method, path, res.StatusCode)
			}
		}
	}
	if operations != len(Deps{}.routes()) {
		t.Errorf("%d documented operations, %d routes", operations, len(Deps{}.routes()))
	}
	for _, rt := range (Deps{}).routes() {
		if _, ok := docs[rt.method+" "+rt.path]; !ok {
			t.Errorf("%s %s has no documentation", rt.method, rt.path)
		}
	}
}

// A backup's copies, each with its state; an unknown backup is a 404.
func TestBackupCopies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now().UTC()
	boom := "connection refused"
	for _, c := range []catalog.Copy{
		{BackupID: f.backup.ID, Destination: "file:///nas", Location: "2026/02/x.dump.gz", VerifiedAt: &now},
		{BackupID: f.backup.ID, Destination: "sftp://rgz@b:22/srv", Location: "2026/02/x.dump.gz", LastError: &boom},
	} {
		if err := f.store.RecordCopy(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest("GET", f.server.URL+Prefix+"/copies/"+f.backup.ID, nil)
	req.Header.Set("Authorization", f.headers["noc"])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var copies []catalog.Copy
	json.NewDecoder(res.Body).Decode(&copies)
	res.Body.Close()
	if res.StatusCode != 200 || len(copies) != 2 || !copies[0].Verified() || copies[1].LastError == nil || *copies[1].LastError != boom {
		t.Fatalf("%d %+v", res.StatusCode, copies)
	}
	if res, _ := f.do("GET", Prefix+"/copies/"+uuid.NewString(), "noc", ""); res.StatusCode != 404 {
		t.Fatalf("an unknown backup's copies: %d", res.StatusCode)
	}
}

// An action whose audit row cannot be written is refused (503), and
// nothing is done: no job is queued. Once the audit can be written again,
// the same request is done and audited.
func TestActionRefusedWhenTheAuditCannotBeWritten(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	conn := cluster.Conn(t, dbNameOf(f.catalogURL))
	jobCount := func() int {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM river_job").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := conn.Exec(ctx, "ALTER TABLE api_audit RENAME TO api_audit_away"); err != nil {
		t.Fatal(err)
	}
	before := jobCount()
	res, body := f.do("POST", Prefix, "admin", "")
	if e, _ := body["error"].(map[string]any); res.StatusCode != http.StatusServiceUnavailable || e["code"] != "audit_unavailable" {
		t.Fatalf("a backup with no audit: %d %v", res.StatusCode, body)
	}
	if after := jobCount(); after != before {
		t.Fatalf("a job was queued unaudited (%d jobs, %d before)", after, before)
	}
	if _, err := conn.Exec(ctx, "ALTER TABLE api_audit_away RENAME TO api_audit"); err != nil {
		t.Fatal(err)
	}
	if res, body := f.do("POST", Prefix, "admin", ""); res.StatusCode != http.StatusAccepted {
		t.Fatalf("a backup once the audit is back: %d %v", res.StatusCode, body)
	}
	rows, _ := f.store.AuditPage(ctx, catalog.Audit{}, 10)
	if len(rows) != 1 || rows[0].Status != http.StatusAccepted || !strings.HasPrefix(rows[0].Detail, Prefix+"/") {
		t.Fatalf("audit after the backup: %+v", rows)
	}
}

// A flood of refused requests with huge paths costs a few bounded rows.
func TestRefusalFloodIsBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	long := Prefix + "/" + strings.Repeat("%C3%A9x", 20<<10) // a 120 kB path
	for range 300 {
		res, _ := f.do("POST", long, "noc", "")
		if res.StatusCode != http.StatusForbidden && res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed && res.StatusCode != http.StatusRequestURITooLong {
			t.Fatalf("status %d", res.StatusCode)
		}
		res, _ = f.do("POST", Prefix, "noc", "")
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("a NOC's POST: %d", res.StatusCode)
		}
	}
	rows, err := f.store.AuditPage(context.Background(), catalog.Audit{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) > audit.PerClient+1 {
		t.Fatalf("%d audit rows for one address in a minute", len(rows))
	}
	for _, r := range rows {
		if len(r.Path) > 600 || len(r.Detail) > 600 {
			t.Fatalf("an unbounded row: path %d bytes, detail %d", len(r.Path), len(r.Detail))
		}
	}
}

func dbNameOf(url string) string {
	name := url[strings.LastIndex(url, "/")+1:]
	name, _, _ = strings.Cut(name, "?")
	return name
}

// Every name the tool gives a backup is accepted where a name is asked
// for: an encrypted backup's (.dump.gz.age), a plain .dump, a .dump.zst.age.
// A test that cannot be queued is recorded as failed, never left running.
func TestTestRestoreAcceptsEveryNameTheToolWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for i, ext := range []string{".dump.gz.age", ".dump", ".dump.zst.age"} {
		date := time.Now().UTC().Add(-time.Duration(i+2) * time.Hour).Truncate(time.Second)
		row := catalog.Execution{ID: uuid.NewString(), BackupType: "pg_dump", BackupDate: date, Filename: date.Format("20060102_150405") + ext,
			Status: catalog.StatusSuccess, TriggeredBy: catalog.TriggerScheduled, Attempt: 1, Encrypted: strings.HasSuffix(ext, ".age")}
		if err := f.store.Insert(ctx, &row); err != nil {
			t.Fatal(err)
		}
		res, body := f.do("POST", Prefix+"/test-restore", "admin", `{"backup_filename": "`+row.Filename+`"}`)
		if res.StatusCode != 202 || body["backup_filename"] != row.Filename {
			t.Fatalf("test-restore of %s: %d %v", row.Filename, res.StatusCode, body)
		}
		// Done with: the next one may start.
		if _, err := cluster.Conn(t, dbNameOf(f.catalogURL)).Exec(ctx, "UPDATE backup_restore_tests SET status = 'success' WHERE status = 'running'; DELETE FROM river_job"); err != nil {
			t.Fatal(err)
		}
	}

	// The job queue cannot take it: 500, and the record says it failed.
	conn := cluster.Conn(t, dbNameOf(f.catalogURL))
	if _, err := conn.Exec(ctx, "ALTER TABLE river_job RENAME TO river_job_away"); err != nil {
		t.Fatal(err)
	}
	res, body := f.do("POST", Prefix+"/test-restore", "admin", "")
	conn.Exec(ctx, "ALTER TABLE river_job_away RENAME TO river_job")
	if res.StatusCode != 500 {
		t.Fatalf("test-restore with no job queue: %d %v", res.StatusCode, body)
	}
	var running int
	var why string
	if err := conn.QueryRow(ctx, "SELECT count(*) FILTER (WHERE status = 'running'), coalesce(max(error_message) FILTER (WHERE status = 'failed'), '') FROM backup_restore_tests").Scan(&running, &why); err != nil {
		t.Fatal(err)
	}
	if running != 0 || !strings.HasPrefix(why, "not started: ") {
		t.Fatalf("after a failed enqueue: %d running, failed with %q", running, why)
	}
	// A test queued that has not written its record yet (a scheduled one):
	// 409, and no record of the refused one is left.
	if _, err := jobs.EnqueueRestoreTest(ctx, f.queue, "", catalog.TriggerScheduled, ""); err != nil {
		t.Fatal(err)
	}
	if res, body := f.do("POST", Prefix+"/test-restore", "admin", ""); res.StatusCode != 409 {
		t.Fatalf("test-restore while one is queued: %d %v", res.StatusCode, body)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM backup_restore_tests WHERE status = 'running'").Scan(&running); err != nil || running != 0 {
		t.Fatalf("%d records left running by a refused start (%v)", running, err)
	}
	// ... without marking a backup's restore test failed (nothing was tested).
	var marked int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM backup_executions WHERE restore_test_status = 'failed'").Scan(&marked); err != nil || marked != 0 {
		t.Fatalf("%d backups marked as failing their restore test by a test that never started (%v)", marked, err)
	}
}
