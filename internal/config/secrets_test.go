package config

import (
	"errors"
	"strings"
	"testing"
)

// Issue 12, point 5: URLs that must not carry credentials are refused
// without being echoed; printed URLs never show a secret.
func TestURLsNeverShowSecrets(t *testing.T) {
	t.Parallel()
	const secret = "Z3cr3tMarker"
	tests := []struct {
		name, variable, value string
		wantErr               bool
	}{
		{"S3 endpoint with key:secret", "BACKUP_S3_ENDPOINT", "https://AKIAKEY:" + secret + "@s3.example.net", true},
		{"S3 endpoint with a user only", "BACKUP_S3_ENDPOINT", "https://" + secret + "@s3.example.net", true},
		{"unparseable S3 endpoint with a secret", "BACKUP_S3_ENDPOINT", "https://k:" + secret + "@s3 example", true},
		{"webhook with credentials", "BACKUP_NOTIFY_WEBHOOK_URL", "https://u:" + secret + "@hooks.example.net/x", true},
		{"webhook that is no URL", "BACKUP_NOTIFY_WEBHOOK_URL", "hooks.example.net/services/" + secret, true},
		{"database URL with a password", "BACKUP_DATABASE_URL", "postgres://rgz:" + secret + "@db:5432/rgz", false},
		{"bad database URL with a password", "BACKUP_DATABASE_URL", "postgres://rgz:" + secret + "@db:5432/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := with(map[string]string{tt.variable: tt.value, "BACKUP_S3_ENABLED": "true"})
			_, err := Load(env(vars))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Fatalf("the error shows the secret: %v", err)
			}
			var cfgErr *Error
			if err != nil && (!errors.As(err, &cfgErr) || cfgErr.Var != tt.variable) {
				t.Fatalf("the error does not name %s: %v", tt.variable, err)
			}
			if d := Describe(env(vars)); strings.Contains(d, secret) {
				t.Fatalf("config shows the secret:\n%s", d)
			}
		})
	}
}

func TestWebhookShownAsOriginOnly(t *testing.T) {
	t.Parallel()
	d := Describe(env(with(map[string]string{"BACKUP_NOTIFY_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXX"})))
	if !strings.Contains(d, "BACKUP_NOTIFY_WEBHOOK_URL=https://hooks.slack.com/…\n") || strings.Contains(d, "T000") {
		t.Fatalf("webhook shown as:\n%s", d)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw        string
		originOnly bool
		want       string
	}{
		{"postgres://rgz:pw@db:5432/rgz", false, "postgres://rgz:xxxxx@db:5432/rgz"},
		{"postgres://rgz@db/rgz?password=pw&sslmode=require", false, "postgres://rgz@db/rgz?password=xxxxx&sslmode=require"},
		{"https://key:secret@s3.example.net", false, "https://s3.example.net"},
		{"https://hooks.example.net/a/b", true, "https://hooks.example.net/…"},
		{"https://u:p@hooks.example.net/a/b", true, "https://hooks.example.net/…"},
		{"not a url@all\x7f", false, "(unparseable URL, not shown: it may contain a secret)"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.raw, tt.originOnly); got != tt.want {
			t.Errorf("RedactURL(%q, %v) = %q, want %q", tt.raw, tt.originOnly, got, tt.want)
		}
	}
}

func TestBucketName(t *testing.T) {
	t.Parallel()
	for name, ok := range map[string]bool{
		"rgz-backups": true, "a.b-c1": true, "abc": true, strings.Repeat("a", 63): true,
		"": false, "ab": false, strings.Repeat("a", 64): false, "Upper": false, "under_score": false,
		"-start": false, "end-": false, "two..dots": false, "192.168.1.1": false, "has space": false,
	} {
		if got := BucketNameProblem(name) == ""; got != ok {
			t.Errorf("%q: valid %v, want %v", name, got, ok)
		}
	}
}

func TestBucketSetButEmpty(t *testing.T) {
	t.Parallel()
	vars := with(map[string]string{"BACKUP_S3_ENABLED": "true", "BACKUP_S3_BUCKET": ""})
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	if _, err := LoadLookup(lookup); err == nil || !strings.Contains(err.Error(), "BACKUP_S3_BUCKET") || !strings.Contains(err.Error(), "set but empty") {
		t.Fatalf("err = %v", err)
	}
	delete(vars, "BACKUP_S3_BUCKET")
	if c, err := LoadLookup(lookup); err != nil || c.S3.Bucket != "rgz-backups" {
		t.Fatalf("unset bucket: %v, %q", err, c.S3.Bucket)
	}
	vars["BACKUP_S3_BUCKET"] = "Bad_Bucket"
	if _, err := LoadLookup(lookup); err == nil || !strings.Contains(err.Error(), "valid S3 bucket name") {
		t.Fatalf("bad bucket: %v", err)
	}
	vars["BACKUP_S3_ENABLED"] = "false" // S3 off: the bucket is not looked at
	if _, err := LoadLookup(lookup); err != nil {
		t.Fatalf("S3 disabled: %v", err)
	}
}
