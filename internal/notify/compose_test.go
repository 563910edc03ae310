package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
)

func ptr[T any](v T) *T { return &v }

func seedBackup() catalog.Execution {
	return catalog.Execution{ID: "b1", BackupDate: time.Date(2026, 2, 5, 3, 0, 0, 0, time.UTC), Filename: "20260205_030000.dump.gz",
		FileSizeBytes: ptr(int64(1_240_000_000)), ChecksumCRC32: ptr("f7e42c9f"), Status: catalog.StatusSuccess, DatabaseName: ptr("rgz"),
		DurationSeconds: ptr(107), Attempt: 2, TriggeredBy: catalog.TriggerScheduled, RestoreTestStatus: catalog.TestNotTested}
}

func TestCompose(t *testing.T) {
	t.Parallel()
	ok := seedBackup()
	failedAttempt := catalog.Execution{Attempt: 1, BackupDate: ok.BackupDate.Add(-time.Minute), Status: catalog.StatusFailed, ErrorMessage: ptr("connection refused")}
	failed := catalog.Execution{Filename: "20260206_030000.dump.gz", BackupDate: ok.BackupDate.AddDate(0, 0, 1), Status: catalog.StatusFailed,
		ErrorMessage: ptr("pg_dump: error: connection to server failed"), Attempt: 4}
	partial := ok
	partial.Status, partial.ErrorMessage = "partial", ptr("S3 archive failed: cannot reach S3 at http://minio:9000")
	billing := ok
	billing.Filename, billing.DatabaseName, billing.FileSizeBytes = "20260205_030002.dump.gz", ptr("billing"), ptr(int64(12_000_000))
	billingPartial := billing
	billingPartial.Status, billingPartial.ErrorMessage = "partial", ptr("copy to sftp://rgz@b/srv failed: refused")
	radius := catalog.Execution{Filename: "20260205_030004.dump.gz", Status: catalog.StatusFailed, DatabaseName: ptr("radius"), ErrorMessage: ptr("connect to the database to back up: refused")}
	rt := &catalog.RestoreTest{BackupFilename: ok.Filename, ErrorMessage: ptr("the restored copy differs"), Mismatches: []string{"table public.incidents is missing"}}
	tests := []struct {
		name    string
		event   Event
		lang    string
		subject string
		body    []string
	}{
		{"success after a failed attempt, in English", Event{Kind: BackupSuccess, Backup: ok, Attempts: []catalog.Execution{failedAttempt, ok},
			NextRun: ok.BackupDate.AddDate(0, 0, 1), Host: "vm"}, "en",
			"Backup OK — 1.2 GB — checksum f7e42c9f",
			[]string{"succeeded after 1 failed attempt", "BACKUP POSTGRESQL", "Checksum CRC32", "Next: 2026-02-06 03:00:00 UTC"}},
		{"success in French", Event{Kind: BackupSuccess, Backup: ok, Attempts: []catalog.Execution{ok}, Server: "rgz-db:5432"}, "fr",
			"Backup OK — 1.2 GB — checksum f7e42c9f", []string{"La sauvegarde PostgreSQL de rgz sur rgz-db:5432 a réussi.", "SAUVEGARDE POSTGRESQL", "octets"}},
		// A failure before the server was reached still names the database
		// and the server (the mail once said "of ?").
		{"a failure before connecting", Event{Kind: BackupFailed, Backup: catalog.Execution{Status: catalog.StatusFailed, DatabaseName: ptr("rgz"),
			ErrorMessage: ptr("connect to the database to back up: refused")}, Server: "rgz-db:5432"}, "en",
			"Backup FAILED — connect to the database to back up: refused", []string{"The PostgreSQL backup of rgz on rgz-db:5432 FAILED"}},
		{"failure with its attempts and the action", Event{Kind: BackupFailed, Backup: failed,
			Attempts: []catalog.Execution{failedAttempt, failed}, Host: "vm"}, "en",
			"Backup FAILED — pg_dump: error: connection to server failed",
			[]string{"FAILED after 2 attempt(s)", "attempt 1 at 2026-02-05 02:59:00 UTC: connection refused", "rgz-backup backup", "docs/RESTORE.md"}},
		{"failure in French", Event{Kind: BackupFailed, Backup: failed, Attempts: []catalog.Execution{failed}}, "fr",
			"Backup FAILED — pg_dump: error: connection to server failed", []string{"a ÉCHOUÉ après 1 tentative(s)", "Action requise"}},
		{"partial", Event{Kind: BackupPartial, Backup: partial}, "en",
			"Backup PARTIAL — a copy is missing — S3 archive failed: cannot reach S3 at http://minio:9000", []string{"rgz-backup archive"}},
		{"a run over several databases, all good", ForRun([]catalog.Execution{ok, billing}, "vm"), "en",
			"Backup OK — 2 databases — 1.3 GB", []string{"backups of 2 databases succeeded", "rgz: success, 20260205_030000.dump.gz, 1.2 GB", "billing: success"}},
		{"a run with a failed and a partial database, in French", ForRun([]catalog.Execution{ok, radius, billingPartial}, "vm"), "fr",
			"Backup FAILED — 2 of 3 databases — radius, billing",
			[]string{"de 2 bases sur 3 ont ÉCHOUÉ", "radius : en échec, 20260205_030004.dump.gz : connect to the database to back up: refused", "billing : partielle", "rgz-backup backup --database NOM", "rgz-backup archive"}},
		{"restore test failed", Event{Kind: RestoreTestFailed, Backup: ok, RestoreTest: rt}, "fr",
			"Restore test FAILED — 20260205_030000.dump.gz", []string{"table public.incidents is missing", "--keep"}},
		{"a point-in-time restore test failed", Event{Kind: PITRRestoreTestFailed, Host: "vm", PITRRestoreTest: &catalog.PITRRestoreTest{
			SystemID: 7716197208024236931, Target: ptr(ok.BackupDate), BaseBackupLabel: "20260201T010000Z-000000010000000000000002",
			Error: "the copy lacks the server's heartbeat", Problems: []string{"the copy lacks the server's heartbeat of 2026-02-05T02:59:30Z"}}}, "en",
			"Point-in-time restore test FAILED — 2026-02-05T03:00:00Z",
			[]string{"of cluster 7716197208024236931, to 2026-02-05 03:00:00 UTC from base backup 20260201T010000Z", "heartbeat of 2026-02-05T02:59:30Z", "rgz-backup restore-test --pitr"}},
		{"a point-in-time restore test failed, in French", Event{Kind: PITRRestoreTestFailed, PITRRestoreTest: &catalog.PITRRestoreTest{
			Target: ptr(ok.BackupDate), Error: "restore to 2026-02-05T03:00:00Z: the target is outside the restorable window"}}, "fr",
			"Point-in-time restore test FAILED — 2026-02-05T03:00:00Z", []string{"a ÉCHOUÉ", "outside the restorable window", "rgz-backup pitr window"}},
		{"an archive broken", Event{Kind: PITRArchiveBroken, Host: "vm", PITRCheck: &catalog.ArchiveCheck{SystemID: 7716197208024236931,
			Problems: []string{"the archive lacks WAL from 0/3000000 to 0/5000000: no moment after it is restorable"}}}, "en",
			"Point-in-time archive BROKEN — the archive lacks WAL from 0/3000000 to 0/5000000: no moment after it is restorable",
			[]string{"cluster 7716197208024236931 is BROKEN", "rgz-backup pitr base-backup --enqueue", "nightly dumps are not affected"}},
		{"an archive broken, in French", Event{Kind: PITRArchiveBroken, PITRCheck: &catalog.ArchiveCheck{SystemID: 1,
			Problems: []string{"the replication slot rgz_backup was lost"}}}, "fr",
			"Point-in-time archive BROKEN — the replication slot rgz_backup was lost", []string{"est CASSÉE", "sauvegardes nocturnes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Compose(tt.event, tt.lang)
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != tt.subject {
				t.Errorf("subject %q, want %q", m.Subject, tt.subject)
			}
			for _, want := range tt.body {
				if !strings.Contains(m.Text, want) {
					t.Errorf("text lacks %q:\n%s", want, m.Text)
				}
			}
			if !strings.Contains(m.HTML, "<pre") || !strings.Contains(m.HTML, htmlEscaped(tt.subject)) {
				t.Errorf("HTML part:\n%s", m.HTML)
			}
		})
	}
}

// Each language whole: a French mail has no English label in its body, an
// English one no French; a next run that is not known is not announced
// (the CLI's mail once said "Next: " and nothing).
func TestEachLanguageWhole(t *testing.T) {
	t.Parallel()
	ok := seedBackup()
	fr, err := Compose(Event{Kind: BackupSuccess, Backup: ok, Attempts: []catalog.Execution{ok}}, "fr")
	if err != nil {
		t.Fatal(err)
	}
	for _, english := range []string{"BACKUP POSTGRESQL", "Status:", "Metadata", "bytes", "Next", "Prochaine", "succeeded"} {
		if strings.Contains(fr.Text, english) {
			t.Errorf("the French mail says %q:\n%s", english, fr.Text)
		}
	}
	en, err := Compose(Event{Kind: BackupSuccess, Backup: ok, Attempts: []catalog.Execution{ok}}, "en")
	if err != nil {
		t.Fatal(err)
	}
	for _, french := range []string{"SAUVEGARDE", "Statut", "octets", "Next:", "réussi"} {
		if strings.Contains(en.Text, french) {
			t.Errorf("the English mail says %q:\n%s", french, en.Text)
		}
	}
}

func htmlEscaped(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func TestOneDecimal(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{999: "999 bytes", 1_240_000_000: "1.2 GB", 262_701: "262.7 kB"} {
		if got := OneDecimal(n); got != want {
			t.Errorf("%d: %s, want %s", n, got, want)
		}
	}
}

// The webhook gets the event as JSON with a text field; its URL (a secret,
// for Slack) never appears in an error.
func TestWebhook(t *testing.T) {
	t.Parallel()
	got := make(chan map[string]any, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		got <- body
	}))
	defer srv.Close()
	cfg := config.Notify{OnSuccess: true, OnFailure: true, Language: "en", WebhookURL: srv.URL + "/hooks/SECRET"}
	if err := Deliver(context.Background(), cfg, Event{Kind: BackupSuccess, Backup: seedBackup()}); err != nil {
		t.Fatal(err)
	}
	body := <-got
	if !strings.HasPrefix(body["text"].(string), "Backup OK — 1.2 GB — checksum f7e42c9f") || body["event"] != BackupSuccess {
		t.Fatalf("webhook body %v", body)
	}
	cfg.OnSuccess = false
	if err := Deliver(context.Background(), cfg, Event{Kind: BackupSuccess, Backup: seedBackup()}); err != nil || len(got) != 0 {
		t.Fatalf("BACKUP_NOTIFY_ON_SUCCESS=false still posted: %v", err)
	}
	cfg.WebhookURL = "http://127.0.0.1:1/hooks/SECRET"
	err := Deliver(context.Background(), cfg, Event{Kind: BackupFailed, Backup: seedBackup()})
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("unreachable webhook: %v", err)
	}
}
