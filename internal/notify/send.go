package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/mosaique/rgz-backup/internal/config"
)

// JobKind is the daemon's job that sends a notification and retries it
// (internal/jobs works it; the metrics count those still waiting).
const JobKind = "rgz.backup.notify"

// Wanted says whether cfg asks to be told of this event at all.
func Wanted(cfg config.Notify, kind string) bool {
	if kind == BackupSuccess || kind == BackupRunSuccess {
		return cfg.OnSuccess
	}
	return cfg.OnFailure
}

// Unsent says why cfg sends no notification of this kind, for a log line
// that tells the truth; "" when it sends one.
func Unsent(cfg config.Notify, kind string) string {
	switch {
	case !Wanted(cfg, kind) && (kind == BackupSuccess || kind == BackupRunSuccess):
		return "BACKUP_NOTIFY_ON_SUCCESS is false"
	case !Wanted(cfg, kind):
		return "BACKUP_NOTIFY_ON_FAILURE is false"
	case (cfg.SMTP.Host == "" || len(cfg.Recipients) == 0) && cfg.WebhookURL == "":
		return "no channel: neither SMTP_HOST with BACKUP_NOTIFY_RECIPIENTS nor BACKUP_NOTIFY_WEBHOOK_URL is set"
	}
	return ""
}

// Deliver composes the event and sends it: by email when SMTP_HOST and
// recipients are set, and to the webhook when one is. What Unsent names a
// reason for is not sent, and is no error.
func Deliver(ctx context.Context, cfg config.Notify, e Event) error {
	if Unsent(cfg, e.Kind) != "" {
		return nil
	}
	m, err := Compose(e, cfg.Language)
	if err != nil {
		return err
	}
	var errs []error
	if cfg.SMTP.Host != "" && len(cfg.Recipients) > 0 {
		if err := SendMail(ctx, cfg.SMTP, cfg.Recipients, m); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.WebhookURL != "" {
		if err := PostWebhook(ctx, cfg.WebhookURL, e, m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SendMail sends m to the recipients through the SMTP server.
func SendMail(ctx context.Context, s config.SMTP, to []string, m Message) error {
	msg := mail.NewMsg()
	if err := msg.From(s.From); err != nil {
		return fmt.Errorf("SMTP_FROM %q: %w", s.From, err)
	}
	if err := msg.To(to...); err != nil {
		return fmt.Errorf("BACKUP_NOTIFY_RECIPIENTS: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	opts := []mail.Option{mail.WithPort(s.Port), mail.WithTimeout(20 * time.Second)}
	switch s.TLS {
	case "tls":
		opts = append(opts, mail.WithSSL())
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if s.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(s.Username), mail.WithPassword(s.Password))
	}
	client, err := mail.NewClient(s.Host, opts...)
	if err != nil {
		return fmt.Errorf("SMTP %s:%d: %w", s.Host, s.Port, err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("send mail through %s:%d: %w", s.Host, s.Port, err)
	}
	return nil
}

// PostWebhook posts the event as JSON with a "text" field (what Slack and
// Mattermost show): the subject, then the message.
func PostWebhook(ctx context.Context, url string, e Event, m Message) error {
	body, err := json.Marshal(map[string]any{"text": m.Subject + "\n\n" + m.Text, "subject": m.Subject, "event": e.Kind, "details": e})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("BACKUP_NOTIFY_WEBHOOK_URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		// A webhook URL often is a secret (Slack's): never repeat it.
		var urlErr *neturl.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return fmt.Errorf("webhook: %w", err)
	}
	res.Body.Close()
	if res.StatusCode >= 300 {
		return fmt.Errorf("webhook answered %s", res.Status)
	}
	return nil
}
