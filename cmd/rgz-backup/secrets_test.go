package main

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/api"
	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/dump"
)

// Issue 12, point 5: every secret-bearing variable holds a unique marker;
// backups that succeed and fail, config, list, the daemon and its API run;
// no marker appears on stdout, stderr, in the logs, in the catalog or in
// any file written.
func TestNoSecretEverShows(t *testing.T) {
	t.Parallel()
	env := s3Env(t)
	mail := startMail(t)
	mailEnv(t, env, mail)
	markers := map[string]string{}
	marker := func(name string) string {
		m := "MRK" + strings.ReplaceAll(name, "_", "") + "q7Z"
		markers[name] = m
		return m
	}
	dbPassword := marker("POSTGRES_PASSWORD")
	roleURL := cluster.PasswordRole(t, "rgz_secret_role", dbPassword, dbName(env["BACKUP_DATABASE_URL"]))
	withPassword := func(url string) string {
		return strings.Replace(url, "rgz_secret_role@", "rgz_secret_role:"+dbPassword+"@", 1)
	}
	env["BACKUP_DATABASE_URL"] = withPassword(roleURL)
	env["BACKUP_CATALOG_DATABASE_URL"] = withPassword(strings.Replace(env["BACKUP_CATALOG_DATABASE_URL"], "postgres@", "rgz_secret_role@", 1))
	env["BACKUP_S3_SECRET_ACCESS_KEY"] = marker("BACKUP_S3_SECRET_ACCESS_KEY") // refused by MinIO: the partial path
	env["SMTP_USERNAME"], env["SMTP_PASSWORD"] = "noc", marker("SMTP_PASSWORD")
	env["BACKUP_NOTIFY_WEBHOOK_URL"] = "http://" + freeAddr(t) + "/hooks/" + marker("BACKUP_NOTIFY_WEBHOOK_URL") // nothing listens: the failure path
	env["BACKUP_API_JWT_SECRET"] = marker("BACKUP_API_JWT_SECRET") + "-padded-to-32-bytes"                       // the marker is inside
	token, entry, err := auth.NewToken("admin")
	if err != nil {
		t.Fatal(err)
	}
	env["BACKUP_API_TOKENS"] = entry
	markers["api token"], markers["BACKUP_API_TOKENS"] = token, entry[strings.Index(entry, ":")+1:]

	var seen []string // everything printed or logged
	run := func(extra map[string]string, args ...string) result {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		for k, v := range extra {
			e[k] = v
		}
		r := rgz(t, e, args...)
		seen = append(seen, strings.Join(args, " ")+": "+r.stdout+r.stderr)
		return r
	}
	if r := run(nil, "backup"); r.code != 0 || !strings.Contains(r.stdout, "PARTIAL") && !strings.Contains(r.stdout, "partial") {
		t.Fatalf("backup with a refused S3 key: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(map[string]string{"BACKUP_MIN_FREE_SPACE_GB": "1000000"}, "backup"); r.code != 1 {
		t.Fatalf("failing backup: exit %d", r.code)
	}
	run(nil, "config")
	run(nil, "list")
	run(nil, "list", "--json")
	if r := run(map[string]string{"BACKUP_DATABASE_URL": strings.Replace(env["BACKUP_DATABASE_URL"], dbPassword, dbPassword+"wrong", 1)}, "backup"); r.code == 0 {
		t.Fatal("a wrong password worked")
	}
	waitFor(t, 30*time.Second, "the success mail", func() bool { ms, _ := mail.Messages(); return len(ms) > 0 })

	d := startServe(t, env)
	for _, path := range []string{"/latest", "/list?days=7", "/restore-history?days=7"} {
		req, _ := http.NewRequest("GET", "http://"+d.addr+api.Prefix+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, body.String())
		}
		seen = append(seen, path+": "+body.String())
	}
	d.stop(syscall.SIGTERM, 30*time.Second)
	seen = append(seen, "serve logs: "+d.logs.String())

	// Every file written, hidden ones too.
	filepath.WalkDir(env["BACKUP_LOCAL_DIR"], func(path string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			b, _ := os.ReadFile(path)
			seen = append(seen, path+": "+string(b))
		}
		return nil
	})
	// The whole catalog, as text.
	pgDump, err := dump.Tools{}.Path("pg_dump")
	if err != nil {
		t.Fatal(err)
	}
	catalogURL := strings.Replace(env["BACKUP_CATALOG_DATABASE_URL"], "rgz_secret_role:"+dbPassword+"@", "postgres@", 1)
	out, err := exec.CommandContext(context.Background(), pgDump, "--data-only", "--dbname="+catalogURL).Output()
	if err != nil || !bytes.Contains(out, []byte("backup_executions")) {
		t.Fatalf("catalog dump: %v", err)
	}
	seen = append(seen, "catalog: "+string(out))

	for name, m := range markers {
		for _, s := range seen {
			if i := strings.Index(s, m); i >= 0 {
				t.Errorf("%s shows in %s", name, s[:min(len(s), max(i+80, 200))])
			}
		}
	}
}

// A wrong password is one line naming the user and the server, not the
// driver's list of TLS fallbacks.
func TestWrongPasswordIsOneLine(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	url := cluster.PasswordRole(t, "rgz_pw_role", "right-password", dbName(env["BACKUP_DATABASE_URL"]))
	env["BACKUP_DATABASE_URL"] = strings.Replace(url, "rgz_pw_role@", "rgz_pw_role:wrong-password@", 1)
	delete(env, "BACKUP_CATALOG_DATABASE_URL")
	r := rgz(t, env, "backup")
	msg := strings.TrimSpace(r.stderr)
	if r.code != 1 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "authentication failed for user rgz_pw_role on 127.0.0.1:") ||
		strings.Contains(msg, "tls") || strings.Contains(msg, "wrong-password") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// Settings that can only fail later are refused at start, exit 2.
func TestUnusableSettingsExit2AtStart(t *testing.T) {
	t.Parallel()
	env := s3Env(t)
	for _, tc := range []struct {
		name, variable, value, want string
	}{
		{"empty bucket", "BACKUP_S3_BUCKET", "", "set but empty"},
		{"invalid bucket", "BACKUP_S3_BUCKET", "Not_A_Bucket", "valid S3 bucket name"},
		{"endpoint with credentials", "BACKUP_S3_ENDPOINT", strings.Replace(s3srv.Endpoint, "http://", "http://key:hush-hush@", 1), "must not hold credentials"},
		{"no client programs", "BACKUP_PG_BIN_DIR", "/nonexistent", "pg_dump not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range env {
				e[k] = v
			}
			e[tc.variable] = tc.value
			verbs := [][]string{{"serve"}}
			if tc.variable != "BACKUP_PG_BIN_DIR" {
				verbs = append(verbs, []string{"backup"}, []string{"config"})
			}
			for _, args := range verbs {
				r := rgz(t, e, args...)
				if r.code != 2 || !strings.Contains(r.stderr, tc.variable) || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "hush-hush") {
					t.Errorf("%s: exit %d, stderr %s", args[0], r.code, r.stderr)
				}
			}
		})
	}
}

// /readyz says so while a client program is unusable (removed by an
// upgrade gone wrong), and recovers when it is back: from checks run on a
// timer, never on a request (a flood of probes starts no process), and
// its body says which check fails, never why — the log does.
func TestReadyzFailsWhileAClientProgramIsMissing(t *testing.T) {
	t.Parallel()
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	env["BACKUP_READYZ_INTERVAL_SECONDS"] = "1"
	bin := clientProgramsDir(t)
	env["BACKUP_PG_BIN_DIR"] = bin
	d := startServe(t, env)
	ready := func() (int, string) {
		res, err := http.Get("http://" + d.addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body bytes.Buffer
		body.ReadFrom(res.Body)
		return res.StatusCode, body.String()
	}
	if code, body := ready(); code != 200 {
		t.Fatalf("ready at start: %d %s", code, body)
	}
	real, _ := os.Readlink(filepath.Join(bin, "pg_restore"))
	os.Remove(filepath.Join(bin, "pg_restore"))
	waitFor(t, 10*time.Second, "/readyz to see pg_restore gone", func() bool { code, _ := ready(); return code == 503 })
	if code, body := ready(); code != 503 || !strings.Contains(body, `"client_programs":"failing"`) || strings.Contains(body, "pg_restore") {
		t.Fatalf("pg_restore gone: %d %s", code, body)
	}
	if !strings.Contains(d.logs.String(), "pg_restore not found") {
		t.Fatalf("the log does not say why:\n%s", d.logs.String())
	}
	os.Symlink(real, filepath.Join(bin, "pg_restore"))
	waitFor(t, 10*time.Second, "/readyz to see pg_restore back", func() bool { code, _ := ready(); return code == 200 })
}

// /readyz answers from its last checks: with the interval long, a client
// program removed meanwhile does not show (no request ran a check), and a
// burst of probes starts no process. A catalog that cannot be reached is
// "failing", without its user, host or database in the body.
func TestReadyzAnswersFromItsTimer(t *testing.T) {
	t.Parallel()
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	env["BACKUP_READYZ_INTERVAL_SECONDS"] = "3600"
	bin := clientProgramsDir(t)
	env["BACKUP_PG_BIN_DIR"] = bin
	d := startServe(t, env)
	os.Remove(filepath.Join(bin, "pg_restore"))
	for range 200 {
		res, err := http.Get("http://" + d.addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("/readyz ran a check on a request: %d", res.StatusCode)
		}
	}
	if kids := descendants(d.cmd.Process.Pid); len(kids) != 0 {
		t.Fatalf("processes started by probes: %v", kids)
	}
	// A person who types the daemon's address finds the console.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if res, err := noFollow.Get("http://" + d.addr + "/"); err != nil || res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/" {
		t.Fatalf("GET /: %v %v", res, err)
	}

	// The catalog gone: "failing", and nothing of its address.
	env2 := serveEnv(t)
	env2["POSTGRES_BACKUP_ENABLED"] = "false"
	env2["BACKUP_READYZ_INTERVAL_SECONDS"] = "1"
	d2 := startServe(t, env2)
	if err := cluster.DropDatabase(context.Background(), dbName(env2["BACKUP_CATALOG_DATABASE_URL"])); err != nil {
		t.Fatal(err)
	}
	var body string
	waitFor(t, 20*time.Second, "/readyz to see the catalog gone", func() bool {
		res, err := http.Get("http://" + d2.addr + "/readyz")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		body = string(b)
		return res.StatusCode == 503
	})
	name := dbName(env2["BACKUP_CATALOG_DATABASE_URL"])
	if !strings.Contains(body, `"catalog":"failing"`) || strings.Contains(body, name) || strings.Contains(body, "127.0.0.1") || strings.Contains(body, "postgres") {
		t.Fatalf("/readyz with the catalog gone: %s", body)
	}
}

// clientProgramsDir is a BACKUP_PG_BIN_DIR of the test's own: links to the
// real pg_dump, pg_restore and pg_dumpall, for a test to take away.
func clientProgramsDir(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	for _, name := range []string{"pg_dump", "pg_restore", "pg_dumpall"} {
		real, err := dump.Tools{}.Path(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(real, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}
