package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scrape returns the rgz_backup_ samples of /metrics, sorted, without the
// disk's (they move with every file written anywhere on the machine).
func scrape(t *testing.T, addr string) []string {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("/metrics: %d", res.StatusCode)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "rgz_backup_") && !strings.HasPrefix(l, "rgz_backup_disk_") {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return lines
}

func has(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

// /metrics needs no token, carries the specification's names, and says the same
// after a restart: values come from the catalog.
func TestMetricsSurviveARestart(t *testing.T) {
	t.Parallel()
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	env["BACKUP_RESTORE_TEST_ENABLED"] = "false"
	if r := rgz(t, env, "backup"); r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	if r := rgz(t, env, "restore-test"); r.code != 0 {
		t.Fatalf("restore-test: %+v", r)
	}
	d := startServe(t, env)
	before := scrape(t, d.addr)
	for _, want := range []string{`rgz_backup_pg_dump_status{status="success"} 1`, `rgz_backup_pg_dump_status{status="failed"} 0`,
		`rgz_backup_pg_dump_runs_total{status="success"} 1`, `rgz_backup_local_backups 1`, `rgz_backup_pg_dump_running 0`,
		`rgz_backup_restore_test_status{status="success"} 1`, `rgz_backup_s3_partial_backups 0`, `rgz_backup_notification_failures_total 0`} {
		if !has(before, want) {
			t.Errorf("missing %q in:\n%s", want, strings.Join(before, "\n"))
		}
	}
	scraped := strings.Join(before, "\n") + "\n"
	// Durations are whole seconds (the catalog's column): a small backup
	// may well take 0 s, so only their presence is asserted.
	for _, name := range []string{"rgz_backup_pg_dump_duration_seconds ", "rgz_backup_restore_test_duration_seconds "} {
		if !strings.Contains(scraped, name) {
			t.Errorf("%s missing", name)
		}
	}
	for _, name := range []string{"rgz_backup_pg_dump_size_bytes ", "rgz_backup_pg_dump_last_success_timestamp_seconds ",
		"rgz_backup_restore_test_last_success_timestamp_seconds "} {
		if !strings.Contains(scraped, name) || strings.Contains(scraped, name+"0\n") {
			t.Errorf("%s missing or 0", name)
		}
	}
	d.stop(syscall.SIGTERM, 30*time.Second)
	d = startServe(t, env)
	after := scrape(t, d.addr)
	if strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("metrics changed across a restart:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
	d.stop(syscall.SIGTERM, 30*time.Second)
}

// A CLI run writes the same metrics for node_exporter's textfile collector.
func TestMetricsTextfile(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	path := filepath.Join(t.TempDir(), "rgz_backup.prom")
	env["BACKUP_METRICS_TEXTFILE"] = path
	if r := rgz(t, env, "backup"); r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), `rgz_backup_pg_dump_status{status="success"} 1`) || !strings.Contains(string(b), "# TYPE rgz_backup_pg_dump_runs_total counter") {
		t.Fatalf("textfile: %v\n%s", err, b)
	}
}
