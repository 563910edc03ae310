package notify

import (
	"context"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/testenv/mailtest"
)

// A success mail arrives at a real SMTP server with its subject, text
// (the specification's report) and HTML parts.
func TestMailArrives(t *testing.T) {
	t.Parallel()
	srv, err := mailtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	cfg := config.Notify{OnSuccess: true, OnFailure: true, Language: "fr", Recipients: []string{"noc@mosaique.example", "admin@mosaique.example"},
		SMTP: config.SMTP{Host: srv.SMTPHost, Port: srv.SMTPPort, From: "rgz-backup@mosaique.example", TLS: "none", Username: "u", Password: "p"}}
	if err := Deliver(context.Background(), cfg, Event{Kind: BackupSuccess, Backup: seedBackup()}); err != nil {
		t.Fatal(err)
	}
	mails, err := srv.Messages()
	if err != nil || len(mails) != 1 {
		t.Fatalf("%d mails, %v", len(mails), err)
	}
	m := mails[0]
	if m.Subject != "Backup OK — 1.2 GB — checksum f7e42c9f" || len(m.To) != 2 || !strings.Contains(m.Text, "SAUVEGARDE POSTGRESQL") ||
		!strings.Contains(m.HTML, "<pre") {
		t.Fatalf("mail %+v", m)
	}
	srv.Stop()
	if err := Deliver(context.Background(), cfg, Event{Kind: BackupFailed, Backup: seedBackup()}); err == nil || strings.Contains(err.Error(), "p\"") {
		t.Fatalf("SMTP down: %v", err)
	}
}
