package config

import (
	"errors"
	"os"
	"path/filepath"
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

// Issue 31: every secret is also read from NAME_FILE (a compose or
// Kubernetes secret), without the file's trailing newline; both set, or a
// file that cannot be read or is empty, is one error naming them, never
// showing the secret.
func TestSecretsFromFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const secret = "Z3cr3t-from-a-file-0123456789-abcdef"
	withNewline := write("secret", secret+"\n")
	files := 0
	for _, v := range Variables {
		if !FromFile(v) {
			continue
		}
		files++
		lookup, err := withSecretFiles(func(name string) (string, bool) {
			if name == v.Name+"_FILE" {
				return withNewline, true
			}
			return "", false
		})
		if err != nil {
			t.Fatalf("%s_FILE: %v", v.Name, err)
		}
		if got, ok := lookup(v.Name); !ok || got != secret {
			t.Errorf("%s from %s_FILE = %q, want the file's contents without its newline", v.Name, v.Name, got)
		}
		if d := Describe(env(map[string]string{v.Name + "_FILE": withNewline})); strings.Contains(d, secret) ||
			!strings.Contains(d, v.Name+"=***  # from "+v.Name+"_FILE=") {
			t.Errorf("config does not say %s comes from its file, or shows it:\n%s", v.Name, d)
		}
	}
	if files < 9 {
		t.Fatalf("only %d secrets can come from files", files)
	}

	c, err := Load(env(with(map[string]string{"POSTGRES_PASSWORD": "", "POSTGRES_PASSWORD_FILE": write("crlf", "pa ss\r\n\r\n"),
		"SMTP_PASSWORD_FILE": withNewline})))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.Password != "pa ss" || c.Notify.SMTP.Password != secret {
		t.Fatalf("password %q, SMTP password %q", c.Database.Password, c.Notify.SMTP.Password)
	}

	for _, tc := range []struct {
		name, want string
		vars       map[string]string
	}{
		{"both set", "POSTGRES_PASSWORD=\"\" is not valid: and POSTGRES_PASSWORD_FILE are both set",
			map[string]string{"POSTGRES_PASSWORD_FILE": withNewline}},
		{"no such file", "POSTGRES_PASSWORD_FILE=\"" + dir + "/missing\" is not valid: must be a file this user can read",
			map[string]string{"POSTGRES_PASSWORD": "", "POSTGRES_PASSWORD_FILE": dir + "/missing"}},
		{"an empty file", "BACKUP_S3_SECRET_ACCESS_KEY_FILE=\"" + dir + "/empty\" is not valid: names an empty file",
			map[string]string{"BACKUP_S3_SECRET_ACCESS_KEY_FILE": write("empty", "\n")}},
		{"a directory", "SMTP_PASSWORD_FILE=\"" + dir + "\" is not valid: must be a file",
			map[string]string{"SMTP_PASSWORD_FILE": dir}},
	} {
		_, err := Load(env(with(tc.vars)))
		var cfgErr *Error
		if err == nil || !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}
