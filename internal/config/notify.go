package config

import "strings"

// Notify is who is told what, and how (BACKUP_NOTIFY_*, SMTP_*).
type Notify struct {
	OnSuccess  bool
	OnFailure  bool
	Recipients []string
	Language   string // fr or en
	WebhookURL string // JSON POST of the same events; empty: none
	SMTP       SMTP
}

// SMTP is the mail server.
type SMTP struct {
	Host     string // empty: no email
	Port     int
	Username string
	Password string // never printed
	From     string
	TLS      string // starttls, tls or none
}

func (r *reader) notify() Notify {
	n := Notify{
		OnSuccess:  r.boolean("BACKUP_NOTIFY_ON_SUCCESS"),
		OnFailure:  r.boolean("BACKUP_NOTIFY_ON_FAILURE"),
		Language:   r.oneOf("BACKUP_NOTIFY_LANGUAGE", []string{"fr", "en"}),
		WebhookURL: r.str("BACKUP_NOTIFY_WEBHOOK_URL"),
		SMTP: SMTP{
			Host:     r.str("SMTP_HOST"),
			Port:     r.intRange("SMTP_PORT", 1, 65535),
			Username: r.str("SMTP_USERNAME"),
			Password: r.getenv("SMTP_PASSWORD"),
			From:     r.str("SMTP_FROM"),
			TLS:      r.oneOf("SMTP_TLS", []string{"starttls", "tls", "none"}),
		},
	}
	for _, addr := range strings.Split(r.str("BACKUP_NOTIFY_RECIPIENTS"), ",") {
		if addr = strings.TrimSpace(addr); addr != "" {
			if !strings.Contains(addr, "@") {
				r.fail("BACKUP_NOTIFY_RECIPIENTS", addr, "must be email addresses separated by commas")
			}
			n.Recipients = append(n.Recipients, addr)
		}
	}
	switch {
	case n.WebhookURL == "":
	case !strings.HasPrefix(n.WebhookURL, "http://") && !strings.HasPrefix(n.WebhookURL, "https://"):
		r.fail("BACKUP_NOTIFY_WEBHOOK_URL", RedactURL(n.WebhookURL, true), "must be an http:// or https:// URL")
	case HasUserInfo(n.WebhookURL):
		r.fail("BACKUP_NOTIFY_WEBHOOK_URL", RedactURL(n.WebhookURL, true), "must not hold credentials (user:secret@)")
	}
	if n.SMTP.Host != "" && len(n.Recipients) > 0 && n.SMTP.From == "" {
		r.fail("SMTP_FROM", "", "must be the sender's address when SMTP_HOST and BACKUP_NOTIFY_RECIPIENTS are set")
	}
	return n
}
