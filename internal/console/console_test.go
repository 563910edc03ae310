package console

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/jobs"
	fx "github.com/mosaique/rgz-backup/internal/testenv/fixture"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
)

var cluster *pgtest.Cluster

var jwtSecret = []byte("console-test-secret-0123456789ab")

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

// site is the console in-process on a real catalog with a good backup and
// a failed one, and a token per role.
type site struct {
	t      *testing.T
	server *httptest.Server
	store  *catalog.Store
	good   catalog.Execution
	tokens map[string]string // role → static token
}

func newSite(t *testing.T) *site { return newSiteWith(t, nil) }

// newSiteWith is newSite with its Deps and its HTTP server changed by
// adjust (nil: as they are).
func newSiteWith(t *testing.T, adjust func(*Deps, *http.Server)) *site {
	t.Helper()
	ctx := context.Background()
	db := config.Database{URL: cluster.URL(cluster.NewDatabase(t))}
	pool, store := fx.OpenCatalog(t, db)
	queue, err := jobs.NewInserter(pool)
	if err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, store: store, tokens: map[string]string{}}
	var entries []string
	for _, role := range []string{"admin", "noc", "reseller"} {
		token, entry, err := auth.NewToken(role)
		if err != nil {
			t.Fatal(err)
		}
		s.tokens[role], entries = token, append(entries, entry)
	}
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"BACKUP_DATABASE_URL": db.URL, "BACKUP_API_TOKENS": strings.Join(entries, ","), "BACKUP_LOCAL_DIR": t.TempDir(),
			"BACKUP_API_JWT_SECRET": string(jwtSecret), "BACKUP_API_JWT_AUDIENCE": "rgz-backup"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	date := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	size, crc, rgz := int64(98_920_000), "f7e42c9f", "rgz"
	name := date.Format("20060102_150405") + ".dump.gz"
	path := filepath.Join(cfg.LocalDir, name)
	if err := os.WriteFile(path, []byte("the dump's bytes"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path+".sha256", []byte("abc  "+name+"\n"), 0o640)
	s.good = catalog.Execution{ID: uuid.NewString(), BackupType: "pg_dump", BackupDate: date, Filename: name, FilePath: &path,
		Status: catalog.StatusSuccess, FileSizeBytes: &size, ChecksumCRC32: &crc, TriggeredBy: catalog.TriggerScheduled, Attempt: 1, DatabaseName: &rgz}
	if err := store.Insert(ctx, &s.good); err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(cfg.API)
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{Config: cfg, Store: store, Auth: authn, Queue: queue}
	s.server = httptest.NewUnstartedServer(nil)
	if adjust != nil {
		adjust(&deps, s.server.Config)
	}
	s.server.Config.Handler = Handler(deps)
	s.server.Start()
	t.Cleanup(s.server.Close)
	return s
}

// browser is a client with its own cookies, as a browser would be.
func (s *site) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

func (s *site) get(c *http.Client, path string) (int, string) {
	s.t.Helper()
	res, err := c.Get(s.server.URL + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (s *site) post(c *http.Client, path string, form url.Values) (int, string) {
	s.t.Helper()
	res, err := c.PostForm(s.server.URL+path, form)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// logIn logs c in with token as the login form does (console.LogIn).
func (s *site) logIn(c *http.Client, token string) (int, string) {
	s.t.Helper()
	res, err := LogIn(context.Background(), c, s.server.URL, token, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (s *site) login(role string) (*http.Client, string) {
	s.t.Helper()
	c := s.browser()
	code, page := s.logIn(c, s.tokens[role])
	m := csrfField.FindStringSubmatch(page)
	if code != 200 || m == nil {
		s.t.Fatalf("login as %s: %d\n%s", role, code, page)
	}
	return c, m[1]
}

func TestNOCSeesAndCannotAct(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	anonymous := s.browser()
	if _, page := s.get(anonymous, "/console/"); !strings.Contains(page, `name="token"`) {
		t.Fatalf("without a session, the login page: %s", page)
	}
	c, csrf := s.login("noc")
	code, page := s.get(c, "/console/")
	for _, want := range []string{s.good.Filename, "98.92 MB", "success", `class="big state OK"`} {
		if code != 200 || !strings.Contains(page, want) {
			t.Fatalf("the overview lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "start-backup") || strings.Contains(page, "start-restore-test") {
		t.Fatal("the NOC sees an admin button")
	}
	// Called anyway, with a valid CSRF token: 403, audited.
	if code, _ := s.post(c, "/console/actions/backup", url.Values{"csrf": {csrf}}); code != http.StatusForbidden {
		t.Fatalf("a NOC's backup: %d", code)
	}
	log, err := s.store.AuditPage(context.Background(), catalog.Audit{}, 100)
	if err != nil || len(log) == 0 || log[0].Status != 403 || log[0].Role != "noc" || log[0].Client != "127.0.0.1" {
		t.Fatalf("the refusal is not audited: %+v %v", log, err)
	}
	if code, page := s.get(c, "/console/backups/"+s.good.ID); code != 200 || !strings.Contains(page, "f7e42c9f") {
		t.Fatalf("a backup's page: %d", code)
	}
	if code, page := s.get(c, "/console/backups?status=success&days=30"); code != 200 || !strings.Contains(page, s.good.Filename) {
		t.Fatalf("the history: %d", code)
	}
	if code, page := s.get(c, "/console/charts"); code != 200 || strings.Count(page, "<svg") != 4 || !strings.Contains(page, `class="ok"`) {
		t.Fatalf("the charts: %d\n%s", code, page)
	}
	if code, _ := s.get(c, "/console/backups?days=0"); code != http.StatusBadRequest {
		t.Fatalf("a bad filter: %d", code)
	}
}

func TestSessionSafety(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	// A token of another role, or a wrong one, opens no session.
	for _, token := range []string{s.tokens["reseller"], "rgzb_wrong"} {
		if code, _ := s.logIn(s.browser(), token); code != http.StatusUnauthorized {
			t.Fatalf("login refused: %d", code)
		}
	}
	c, csrf := s.login("admin")
	res, err := c.Get(s.server.URL + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	h := res.Header
	if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") || h.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("security headers: %v", h)
	}
	u, _ := url.Parse(s.server.URL + "/console/")
	var cookie *http.Cookie
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == CookieName {
			cookie = ck
		}
	}
	if cookie == nil || strings.Contains(cookie.Value, s.tokens["admin"]) {
		t.Fatal("the session cookie is missing or carries the token")
	}
	// A forged POST without the CSRF token: refused, nothing queued.
	if code, _ := s.post(c, "/console/actions/backup", url.Values{}); code != http.StatusForbidden {
		t.Fatalf("a POST without the CSRF token: %d", code)
	}
	if code, _ := s.post(c, "/console/actions/backup", url.Values{"csrf": {"forged"}}); code != http.StatusForbidden {
		t.Fatalf("a POST with a forged CSRF token: %d", code)
	}
	// The admin starts a backup: queued and audited.
	if code, page := s.post(c, "/console/actions/backup", url.Values{"csrf": {csrf}}); code != 200 || !strings.Contains(page, "start-backup") {
		t.Fatalf("an admin's backup: %d", code)
	}
	log, _ := s.store.AuditPage(context.Background(), catalog.Audit{}, 100)
	if len(log) == 0 || log[0].Role != "admin" || !strings.Contains(log[0].Detail, "backup job") {
		t.Fatalf("the backup is not audited: %+v", log)
	}
	// Logout ends the session, even for a copy of the cookie.
	stolen := s.browser()
	stolen.Jar.SetCookies(u, []*http.Cookie{{Name: CookieName, Value: cookie.Value, Path: "/console"}})
	if _, page := s.get(stolen, "/console/"); !strings.Contains(page, s.good.Filename) {
		t.Fatal("the copied cookie does not work before logout")
	}
	if _, page := s.post(c, "/console/logout", url.Values{"csrf": {csrf}}); !strings.Contains(page, `name="token"`) {
		t.Fatal("logout does not lead to the login page")
	}
	if _, page := s.get(stolen, "/console/"); strings.Contains(page, s.good.Filename) || !strings.Contains(page, `name="token"`) {
		t.Fatal("the session outlives its logout")
	}
}

// A failed last backup is FAILED with its reason, on the overview.
func TestFailedBackupOnTheOverview(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	msg := "pg_dump: error: connection to server lost"
	date := time.Now().UTC().Truncate(time.Second)
	failed := catalog.Execution{ID: uuid.NewString(), BackupType: "pg_dump", BackupDate: date, Filename: date.Format("20060102_150405") + ".dump.gz",
		Status: catalog.StatusFailed, ErrorMessage: &msg, TriggeredBy: catalog.TriggerScheduled, Attempt: 1}
	if err := s.store.Insert(context.Background(), &failed); err != nil {
		t.Fatal(err)
	}
	c, _ := s.login("noc")
	_, page := s.get(c, "/console/?lang=en")
	if !strings.Contains(page, `class="big state FAILED"`) || !strings.Contains(page, "connection to server lost") || !strings.Contains(page, `lang="en"`) {
		t.Fatalf("the overview after a failure:\n%s", page)
	}
}

// The admin downloads a backup and its .sha256, audited; the NOC may not;
// only the backup's own files are served.
func TestDownload(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	base := "/console/backups/" + s.good.ID + "/download/"
	noc, _ := s.login("noc")
	if code, _ := s.get(noc, base+s.good.Filename); code != http.StatusForbidden {
		t.Fatalf("a NOC's download: %d", code)
	}
	admin, _ := s.login("admin")
	if code, body := s.get(admin, base+s.good.Filename); code != 200 || body != "the dump's bytes" {
		t.Fatalf("the admin's download: %d %q", code, body)
	}
	if code, body := s.get(admin, base+s.good.Filename+".sha256"); code != 200 || !strings.HasPrefix(body, "abc  ") {
		t.Fatalf("the .sha256: %d %q", code, body)
	}
	for _, other := range []string{s.good.Filename + ".manifest.json", "..%2F..%2Fetc%2Fpasswd", "passwd"} {
		if code, _ := s.get(admin, base+other); code != http.StatusNotFound && code != http.StatusForbidden {
			t.Fatalf("download of %s: %d", other, code)
		}
	}
	log, _ := s.store.AuditPage(context.Background(), catalog.Audit{}, 100)
	found := false
	for _, a := range log {
		found = found || (a.Role == "admin" && a.Status == 200 && strings.HasPrefix(a.Detail, "download "+s.good.Filename+": ") && strings.Contains(a.Detail, "complete"))
	}
	if !found {
		t.Fatalf("the download is not audited: %+v", log)
	}
}

// A platform JWT logs in too, when minted for this service; one for
// another audience does not.
func TestJWTLogin(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	sign := func(aud string) string {
		tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"role": "noc", "sub": "alice", "aud": aud,
			"exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwtSecret)
		return tok
	}
	if code, _ := s.logIn(s.browser(), sign("billing")); code != http.StatusUnauthorized {
		t.Fatalf("a JWT for another audience: %d", code)
	}
	c := s.browser()
	if code, page := s.logIn(c, sign("rgz-backup")); code != 200 || !strings.Contains(page, "jwt:alice (noc)") {
		t.Fatalf("a JWT for this service: %d\n%s", code, page)
	}
}

func TestBothLanguagesHaveEveryText(t *testing.T) {
	t.Parallel()
	for key := range words["en"] {
		if _, ok := words["fr"][key]; !ok {
			t.Errorf("no French for %q", key)
		}
	}
	for key := range words["fr"] {
		if _, ok := words["en"][key]; !ok {
			t.Errorf("no English for %q", key)
		}
	}
}

// What runs now: on the overview, and as a live stream of events.
func TestRunningNow(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	db := "rgz"
	row := catalog.Execution{ID: uuid.NewString(), BackupType: "pg_dump", BackupDate: time.Now().UTC(), Filename: "20991231_235959.dump.gz",
		Status: catalog.StatusFailed, TriggeredBy: catalog.TriggerManual, Attempt: 1, DatabaseName: &db}
	if err := s.store.BeginAttempt(ctx, catalog.Attempt{Execution: row, StartedAt: time.Now().Add(-10 * time.Second), Hostname: "db-1", PID: 42}); err != nil {
		t.Fatal(err)
	}
	if err := s.store.RecordProgress(ctx, row.ID, 50_000_000, 9_000_000, time.Now()); err != nil {
		t.Fatal(err)
	}
	c, _ := s.login("noc")
	if _, page := s.get(c, "/console/"); !strings.Contains(page, "20991231_235959.dump.gz") || !strings.Contains(page, "50.00 MB") {
		t.Fatalf("the overview does not show what runs:\n%s", page)
	}
	req, _ := http.NewRequest("GET", s.server.URL+"/console/events", nil)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := c.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	buf := make([]byte, 4096)
	n, _ := res.Body.Read(buf)
	event := string(buf[:n])
	if res.Header.Get("Content-Type") != "text/event-stream" || !strings.HasPrefix(event, "data: [") || !strings.Contains(event, `"file":"20991231_235959.dump.gz"`) ||
		!strings.Contains(event, `"read":"50.00 MB"`) {
		t.Fatalf("the live stream: %s %q", res.Header.Get("Content-Type"), event)
	}
	// Without a session: no stream.
	if code, _ := s.get(s.browser(), "/console/events"); code == 200 {
		if res, _ := http.Get(s.server.URL + "/console/events"); res != nil && res.Header.Get("Content-Type") == "text/event-stream" {
			t.Fatal("a stream without a session")
		}
	}
}

// The restore tests' history, and one test with what differed.
func TestRestoreTestPages(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	id, end, secs, msg := uuid.NewString(), time.Now().UTC(), 42, "2 tables differ"
	test := catalog.RestoreTest{ID: id, BackupID: s.good.ID, StartedAt: end.Add(-time.Minute), Status: catalog.TestRunning, TriggeredBy: catalog.TriggerScheduled}
	if err := s.store.BeginRestoreTest(ctx, test); err != nil {
		t.Fatal(err)
	}
	test.Status, test.FinishedAt, test.DurationSeconds, test.ErrorMessage = catalog.TestFailed, &end, &secs, &msg
	test.Mismatches = []string{"public.radius_sessions: 5000 rows in the backup, 4990 restored"}
	if err := s.store.FinishRestoreTest(ctx, test); err != nil {
		t.Fatal(err)
	}
	c, _ := s.login("noc")
	if code, page := s.get(c, "/console/restore-tests"); code != 200 || !strings.Contains(page, "/console/restore-tests/"+id) || !strings.Contains(page, "42 s") {
		t.Fatalf("the history: %d\n%s", code, page)
	}
	code, page := s.get(c, "/console/restore-tests/"+id)
	if code != 200 || !strings.Contains(page, "4990 restored") || !strings.Contains(page, `class="big state FAILED"`) || !strings.Contains(page, "2 tables differ") {
		t.Fatalf("a failed test's page: %d\n%s", code, page)
	}
	if code, _ := s.get(c, "/console/restore-tests/"+uuid.NewString()); code != http.StatusNotFound {
		t.Fatalf("an unknown test: %d", code)
	}
}
