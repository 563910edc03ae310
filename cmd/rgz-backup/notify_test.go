package main

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/mailtest"
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
// goes out (through the daemon's retries) once the server is back.
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
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitForMail(t, srv, "Backup OK — ")
	d.stop(syscall.SIGTERM, 30*time.Second)
	if !strings.Contains(d.logs.String(), "notification not sent; retrying") || !strings.Contains(d.logs.String(), "notification sent") {
		t.Fatalf("daemon logs:\n%s", d.logs.String())
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
