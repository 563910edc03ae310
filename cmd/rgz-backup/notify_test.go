package main

import (
	"encoding/json"
	"maps"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/testenv/mailtest"
)

// startMail runs a Mailpit for one test.
func startMail(t *testing.T) *mailtest.Server {
	t.Helper()
	srv, err := mailtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

func mailEnv(t *testing.T, env map[string]string, srv *mailtest.Server) {
	env["SMTP_HOST"], env["SMTP_PORT"], env["SMTP_TLS"] = srv.SMTPHost, strconv.Itoa(srv.SMTPPort), "none"
	env["SMTP_FROM"], env["BACKUP_NOTIFY_RECIPIENTS"] = "rgz-backup@mosaique.example", "noc@mosaique.example"
	env["BACKUP_NOTIFY_LANGUAGE"] = "en"
}

func waitForMail(t *testing.T, srv *mailtest.Server, subjectPrefix string) mailtest.Mail {
	t.Helper()
	var found mailtest.Mail
	waitFor(t, 60*time.Second, "a mail "+subjectPrefix, func() bool {
		mails, _ := srv.Messages()
		for _, m := range mails {
			if strings.HasPrefix(m.Subject, subjectPrefix) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// The CLI tells of its one attempt: success with the report, failure with
// the error and what to do.
func TestMailsFromTheCLI(t *testing.T) {
	t.Parallel()
	srv := startMail(t)
	env := sampleEnv(t)
	mailEnv(t, env, srv)
	r := rgz(t, env, "backup", "--json")
	var row catalog.Execution
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &row) != nil {
		t.Fatalf("backup: %+v", r)
	}
	ok := waitForMail(t, srv, "Backup OK — ")
	if !strings.HasSuffix(ok.Subject, "— checksum "+*row.ChecksumCRC32) || !strings.Contains(ok.Text, "BACKUP POSTGRESQL") ||
		!strings.Contains(ok.Text, row.Filename) || len(ok.To) != 1 || ok.To[0] != "noc@mosaique.example" {
		t.Fatalf("success mail: %+v", ok)
	}

	env["BACKUP_DATABASE_URL"] = strings.Replace(env["BACKUP_DATABASE_URL"], "/t", "/missing_t", 1)
	if r := rgz(t, env, "backup"); r.code != 1 {
		t.Fatalf("a backup of a missing database: %+v", r)
	}
	failed := waitForMail(t, srv, "Backup FAILED — ")
	if !strings.Contains(failed.Text, "FAILED after 1 attempt") || !strings.Contains(failed.Text, "Action required") ||
		!strings.Contains(failed.Text, "docs/RESTORE.md") {
		t.Fatalf("failure mail: %+v", failed)
	}
}

// With the mail server down, the backup still succeeds at once; the mail
// waits (counted in the metrics) and goes out through the daemon's retries
// once the server is back. A mail the CLI queued is sent with the daemon's
// settings, and a daemon that does not want it says so.
func TestSMTPOutageNeverFailsABackup(t *testing.T) {
	t.Parallel()
	srv := startMail(t)
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"], env["BACKUP_RESTORE_TEST_ENABLED"] = "false", "false"
	mailEnv(t, env, srv)
	srv.Stop()
	d := startServe(t, env)
	if r := rgz(t, env, "backup"); r.code != 0 || !strings.Contains(r.stderr, "queued for the daemon") {
		t.Fatalf("backup with SMTP down: %+v", r)
	}
	waitFor(t, 30*time.Second, "a failed delivery", func() bool { return strings.Contains(d.logs.String(), "notification not sent; retrying") })
	waitFor(t, 15*time.Second, "the waiting notification in the metrics", func() bool {
		lines := scrape(t, d.addr)
		return has(lines, "rgz_backup_notifications_waiting 1") && !has(lines, "rgz_backup_notification_oldest_waiting_timestamp_seconds 0")
	})
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitForMail(t, srv, "Backup OK — ")
	waitFor(t, 15*time.Second, "no notification waiting", func() bool {
		lines := scrape(t, d.addr)
		return has(lines, "rgz_backup_notifications_waiting 0") && has(lines, "rgz_backup_notification_oldest_waiting_timestamp_seconds 0")
	})
	d.stop(syscall.SIGTERM, 30*time.Second)
	if !strings.Contains(d.logs.String(), "notification not sent; retrying") || !strings.Contains(d.logs.String(), "notification sent") {
		t.Fatalf("daemon logs:\n%s", d.logs.String())
	}

	// No daemon: the CLI's own try fails (nothing listens there), it queues.
	cli := maps.Clone(env)
	_, port, _ := net.SplitHostPort(freeAddr(t))
	cli["SMTP_PORT"] = port
	if r := rgz(t, cli, "backup"); r.code != 0 || !strings.Contains(r.stderr, "queued for the daemon to retry") {
		t.Fatalf("backup by the CLI with its SMTP down: %+v", r)
	}
	env["BACKUP_NOTIFY_ON_SUCCESS"] = "false"
	d = startServe(t, env)
	waitFor(t, 30*time.Second, "the daemon's word on the queued mail", func() bool {
		return strings.Contains(d.logs.String(), "notification not sent: BACKUP_NOTIFY_ON_SUCCESS is false in this daemon's settings")
	})
	d.stop(syscall.SIGTERM, 30*time.Second)
	if strings.Contains(d.logs.String(), "notification sent") {
		t.Fatalf("a daemon that sent nothing says it did:\n%s", d.logs.String())
	}
	if mails, _ := srv.Messages(); len(mails) != 1 {
		t.Fatalf("%d mails, want the first backup's only", len(mails))
	}
}

// A backup that fails before it reaches the server still names its
// database and server, and a French mail is French from its first line to
// its last; the CLI's success mail has no empty "Next" line.
func TestMailsNameTheDatabaseWhateverFailed(t *testing.T) {
	t.Parallel()
	srv := startMail(t)
	env := sampleEnv(t)
	mailEnv(t, env, srv)
	env["BACKUP_NOTIFY_LANGUAGE"] = "fr"
	name := dbName(env["BACKUP_DATABASE_URL"])
	u, err := url.Parse(env["BACKUP_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	u.Host = "127.0.0.1:1"
	env["BACKUP_DATABASE_URL"] = u.String()
	if r := rgz(t, env, "backup"); r.code != 1 {
		t.Fatalf("a backup of an unreachable server: %+v", r)
	}
	failed := waitForMail(t, srv, "Backup FAILED — ")
	first := strings.SplitN(failed.Text, "\n", 2)[0]
	if !strings.Contains(first, name) || !strings.Contains(first, "127.0.0.1:1") || !strings.Contains(first, "a ÉCHOUÉ") {
		t.Fatalf("failure mail of an unreachable server:\n%s\n%s", failed.Subject, failed.Text)
	}
	for _, english := range []string{"Action required", "Attempts", "Error :", "Host:"} {
		if strings.Contains(failed.Text, english) {
			t.Errorf("the French failure mail says %q:\n%s", english, failed.Text)
		}
	}

	env = sampleEnv(t)
	mailEnv(t, env, srv)
	env["BACKUP_NOTIFY_LANGUAGE"] = "fr"
	if r := rgz(t, env, "backup"); r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	ok := waitForMail(t, srv, "Backup OK — ")
	for _, english := range []string{"Duration", "Size", "Checksum", "Next", "manual", " on "} {
		if strings.Contains(ok.Text, english) {
			t.Errorf("the French success mail says %q:\n%s", english, ok.Text)
		}
	}
	for _, line := range strings.Split(ok.Text, "\n") {
		if l := strings.TrimSpace(line); l == "Prochaine :" || l == "Next:" {
			t.Errorf("an empty line in the success mail: %q\n%s", line, ok.Text)
		}
	}
}
