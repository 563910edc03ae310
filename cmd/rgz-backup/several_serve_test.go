package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// The daemon backs up several servers from a targets file: each database
// its own job, row and directory; a database that fails (it is gone) is
// retried and fails alone; a server that is down is told, not hidden; the
// run is one mail. SIGHUP reloads the file: the next run backs up the
// targets it lists now.
func TestDaemonBacksUpSeveralServers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := cluster.NewDatabase(t), cluster.NewDatabase(t)
	for _, db := range []string{a, b} {
		if _, err := cluster.Conn(t, db).Exec(ctx, "CREATE TABLE note (id int); INSERT INTO note SELECT generate_series(1, 1000)"); err != nil {
			t.Fatal(err)
		}
	}
	gone := a + "_gone"
	const password = "tgt-s3cret-pw"
	role := "tgt_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	mainURL := cluster.PasswordRole(t, role, password, "postgres")
	proxy := cluster.NewProxy(t) // another address: another server, as the service sees it
	downURL := "postgres://nobody@" + freeAddr(t) + "/postgres"
	file := filepath.Join(t.TempDir(), "targets.yaml")
	writeTargets := func(body string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeTargets(fmt.Sprintf(`targets:
  - name: main
    url: %s
    password_env: MAIN_DB_PASSWORD
    databases: [%s, %s, %s]
  - name: replica
    url: %s
    databases: [%s]
  - name: down
    url: %s
    databases: ["*"]
`, mainURL, a, b, gone, proxy.URL(cluster, "postgres"), a, downURL))

	catalogURL := cluster.URL(cluster.NewDatabase(t))
	dir := t.TempDir()
	env := map[string]string{
		"BACKUP_DATABASE_URL":            catalogURL, // the environment's settings reach the catalog only
		"BACKUP_CATALOG_DATABASE_URL":    catalogURL,
		"BACKUP_TARGETS_FILE":            file,
		"MAIN_DB_PASSWORD":               password,
		"BACKUP_MAX_PARALLEL_PER_SERVER": "2",
		"BACKUP_LOCAL_DIR":               dir,
		"BACKUP_MIN_SIZE_MB":             "0",
		"BACKUP_MIN_FREE_SPACE_GB":       "0",
		"BACKUP_RETRY_DELAYS":            "1s,1s,1s",
		"BACKUP_LOG_LEVEL":               "info",
		"POSTGRES_BACKUP_ENABLED":        "false",
	}
	mail := startMail(t)
	mailEnv(t, env, mail)
	store := openStore(t, env)
	d := startServe(t, env)

	enqueue(t, env)
	failed := waitForMail(t, mail, "Backup FAILED — 2 of 5 databases — ")
	for _, want := range []string{"main/" + a + ": success", "main/" + b + ": success", "replica/" + a + ": success",
		"main/" + gone + ": failed", "down/*: failed", "list the databases"} {
		if !strings.Contains(failed.Text, want) {
			t.Fatalf("the run's mail lacks %q:\n%s", want, failed.Text)
		}
	}
	rows := catalogRows(t, store)
	byName := map[string][]catalog.Execution{}
	for _, r := range rows {
		name := r.TargetName + "/" + deref(r.DatabaseName)
		byName[name] = append(byName[name], r)
	}
	for _, name := range []string{"main/" + a, "main/" + b, "replica/" + a} {
		got := byName[name]
		if len(got) != 1 || got[0].Status != catalog.StatusSuccess {
			t.Fatalf("%s: %+v", name, got)
		}
		if want := filepath.Join(dir, name, got[0].Filename); deref(got[0].FilePath) != want {
			t.Fatalf("%s: file %s, want %s", name, deref(got[0].FilePath), want)
		}
	}
	if got := byName["main/"+gone]; len(got) != 4 || got[0].Status != catalog.StatusFailed {
		t.Fatalf("the database that is gone: %d rows, want its 4 failed attempts: %+v", len(got), got)
	}
	if len(rows) != 7 {
		t.Fatalf("%d rows, want 3 successes and 4 failed attempts", len(rows))
	}
	if strings.Contains(d.logs.String(), password) {
		t.Fatal("a target's password is in the daemon's logs")
	}
	// Each server's globals dumped once for the run (main has two good
	// databases, replica one).
	if n := strings.Count(d.logs.String(), "globals dumped once for the run"); n != 2 {
		t.Fatalf("globals dumped %d times for a run over two reachable servers, want 2", n)
	}
	// Each database's metrics, labelled with its target.
	res, err := http.Get("http://" + d.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`rgz_backup_database_status{database="` + gone + `",status="failed",target="main"} 1`,
		`rgz_backup_database_status{database="` + a + `",status="success",target="replica"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("/metrics lacks %s:\n%s", want, body)
		}
	}

	// SIGHUP: down and the missing database leave, a target arrives.
	writeTargets(fmt.Sprintf(`targets:
  - name: main
    url: %s
    password_env: MAIN_DB_PASSWORD
    databases: [%s, %s]
  - name: extra
    url: %s
    databases: [%s]
`, mainURL, a, b, proxy.URL(cluster, "postgres"), b))
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the targets to be reloaded", func() bool { return strings.Contains(d.logs.String(), "SIGHUP: targets reloaded") })
	enqueue(t, env)
	ok := waitForMail(t, mail, "Backup OK — 3 databases — ")
	if !strings.Contains(ok.Text, "extra/"+b+": success") || strings.Contains(ok.Text, "down") || strings.Contains(ok.Text, "replica") {
		t.Fatalf("the run after the reload:\n%s", ok.Text)
	}
	if mails, _ := mail.Messages(); len(mails) != 2 {
		t.Fatalf("%d mails for two runs", len(mails))
	}
	// A file that no longer reads changes nothing.
	writeTargets("targets: [oops\n")
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 30*time.Second, "the bad file to be refused", func() bool {
		return strings.Contains(d.logs.String(), "the targets file was not reloaded; the servers stay as they were")
	})
	select {
	case <-d.exited:
		t.Fatalf("serve exited on a bad targets file: %d", d.code)
	default:
	}
}
