package config

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func base() map[string]string {
	return map[string]string{"POSTGRES_USER": "rgz", "POSTGRES_DB": "rgz", "POSTGRES_PASSWORD": "s3cret"}
}

func with(extra map[string]string) map[string]string {
	m := base()
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(base()))
	if err != nil {
		t.Fatal(err)
	}
	if c.LocalDir != "/backups" || c.LocalRetentionDays != 30 || c.CriticalRetentionDays != 2555 ||
		c.MinFreeSpaceGB != 10 || c.WarningUsedPercent != 80 || c.CompressionFormat != "gzip" ||
		c.CompressionLevel != 9 || c.MinSizeMB != 100 || c.Timeout != 600*time.Second {
		t.Fatalf("defaults wrong: %+v", c)
	}
	if c.Database.URL != "postgres://rgz@localhost:5432/rgz" || c.Database.Password != "s3cret" {
		t.Fatalf("database = %+v", c.Database)
	}
	if c.Catalog != c.Database {
		t.Fatalf("catalog should default to the backed-up database, got %+v", c.Catalog)
	}
}

func TestDaemonSettings(t *testing.T) {
	t.Parallel()
	c, err := Load(env(base()))
	if err != nil {
		t.Fatal(err)
	}
	if !c.ScheduleEnabled || c.Schedule.Spec != "0 3 * * *" || c.Tolerance != 5*time.Minute ||
		c.ShutdownGrace != time.Minute || c.HTTPAddr != ":8080" || fmt.Sprint(c.RetryDelays) != "[30s 1m0s 2m0s]" {
		t.Fatalf("daemon defaults wrong: %+v", c)
	}
	c, err = Load(env(with(map[string]string{
		"POSTGRES_BACKUP_ENABLED": "false", "POSTGRES_BACKUP_HOUR_UTC": "22", "POSTGRES_BACKUP_MINUTE_UTC": "45",
		"POSTGRES_BACKUP_TIME_TOLERANCE_MIN": "0", "BACKUP_RETRY_DELAYS": "1s, 2s,3s",
	})))
	if err != nil || c.ScheduleEnabled || c.Schedule.Spec != "45 22 * * *" || c.Tolerance != 0 || fmt.Sprint(c.RetryDelays) != "[1s 2s 3s]" {
		t.Fatalf("%v %+v", err, c)
	}
	// The cron expression wins over the hour and minute.
	c, err = Load(env(with(map[string]string{"BACKUP_SCHEDULE_CRON": "*/15 * * * * *", "POSTGRES_BACKUP_HOUR_UTC": "4"})))
	if err != nil || c.Schedule.Spec != "*/15 * * * * *" {
		t.Fatalf("%v %q", err, c.Schedule.Spec)
	}
}

func TestLevelDefaultsPerFormat(t *testing.T) {
	t.Parallel()
	for format, want := range map[string]int{"gzip": 9, "zstd": 1, "bzip2": 9, "none": 0, "ZSTD": 1} {
		c, err := Load(env(with(map[string]string{"BACKUP_COMPRESSION_FORMAT": format})))
		if err != nil {
			t.Fatal(err)
		}
		if c.CompressionLevel != want {
			t.Errorf("%s: level %d, want %d", format, c.CompressionLevel, want)
		}
	}
	c, _ := Load(env(with(map[string]string{"BACKUP_COMPRESSION_FORMAT": "zstd", "BACKUP_COMPRESSION_LEVEL": "7"})))
	if c.CompressionLevel != 7 {
		t.Errorf("explicit level ignored: %d", c.CompressionLevel)
	}
}

func TestInvalidValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, value, wantVar, wantAllowed string
	}{
		{"BACKUP_COMPRESSION_FORMAT", "lz4", "BACKUP_COMPRESSION_FORMAT", "gzip, zstd, bzip2, none"},
		{"BACKUP_COMPRESSION_LEVEL", "0", "BACKUP_COMPRESSION_LEVEL", "from 1 to 9"},
		{"BACKUP_COMPRESSION_LEVEL", "12", "BACKUP_COMPRESSION_LEVEL", "from 1 to 9"},
		{"BACKUP_COMPRESSION_LEVEL", "fast", "BACKUP_COMPRESSION_LEVEL", "from 1 to 9"},
		{"BACKUP_LOCAL_RETENTION_DAYS", "-1", "BACKUP_LOCAL_RETENTION_DAYS", "integer"},
		{"BACKUP_CRITICAL_RETENTION_DAYS", "-5", "BACKUP_CRITICAL_RETENTION_DAYS", "integer"},
		{"BACKUP_MIN_FREE_SPACE_GB", "-1", "BACKUP_MIN_FREE_SPACE_GB", "integer"},
		{"BACKUP_WARNING_USED_PERCENT", "101", "BACKUP_WARNING_USED_PERCENT", "from 1 to 100"},
		{"BACKUP_MIN_SIZE_MB", "ten", "BACKUP_MIN_SIZE_MB", "integer"},
		{"BACKUP_TIMEOUT_SECONDS", "0", "BACKUP_TIMEOUT_SECONDS", "integer"},
		{"POSTGRES_PORT", "abc", "POSTGRES_PORT", "from 1 to 65535"},
		{"POSTGRES_PORT", "70000", "POSTGRES_PORT", "from 1 to 65535"},
		{"BACKUP_DATABASE_URL", "mysql://x@y/z", "BACKUP_DATABASE_URL", "postgres://"},
		{"BACKUP_DATABASE_URL", "postgres://u:pw@h:5432/", "BACKUP_DATABASE_URL", "must name a database"},
		{"BACKUP_LOG_LEVEL", "verbose", "BACKUP_LOG_LEVEL", "debug, info, warn, error"},
		{"BACKUP_CATALOG_DATABASE_URL", "http://h/db", "BACKUP_CATALOG_DATABASE_URL", "postgres://"},
		{"POSTGRES_BACKUP_ENABLED", "maybe", "POSTGRES_BACKUP_ENABLED", "true or false"},
		{"POSTGRES_BACKUP_HOUR_UTC", "24", "POSTGRES_BACKUP_HOUR_UTC", "from 0 to 23"},
		{"POSTGRES_BACKUP_MINUTE_UTC", "60", "POSTGRES_BACKUP_MINUTE_UTC", "from 0 to 59"},
		{"POSTGRES_BACKUP_TIME_TOLERANCE_MIN", "-5", "POSTGRES_BACKUP_TIME_TOLERANCE_MIN", "integer"},
		{"BACKUP_SCHEDULE_CRON", "@daily", "BACKUP_SCHEDULE_CRON", "5 fields"},
		{"BACKUP_SCHEDULE_CRON", "0 27 * * *", "BACKUP_SCHEDULE_CRON", "cron expression"},
		{"BACKUP_SHUTDOWN_GRACE_SECONDS", "soon", "BACKUP_SHUTDOWN_GRACE_SECONDS", "integer"},
		{"BACKUP_HTTP_ADDR", "8080", "BACKUP_HTTP_ADDR", ":8080"},
		{"BACKUP_HTTP_ADDR", "localhost:http", "BACKUP_HTTP_ADDR", "host:port"},
		{"BACKUP_HTTP_TLS_KEY_FILE", "/etc/ssl/private/k.pem", "BACKUP_HTTP_TLS_CERT_FILE", "must be set with BACKUP_HTTP_TLS_KEY_FILE"},
		{"BACKUP_HTTP_TLS_CERT_FILE", "/etc/ssl/c.pem", "BACKUP_HTTP_TLS_KEY_FILE", "must be set with BACKUP_HTTP_TLS_CERT_FILE"},
		{"BACKUP_HTTP_TRUSTED_PROXIES", "10.0.0.1, proxy.lan", "BACKUP_HTTP_TRUSTED_PROXIES", "entry 2 must be an IP address or a CIDR"},
		{"BACKUP_HTTP_TRUSTED_PROXIES", "10.0.0.0/33", "BACKUP_HTTP_TRUSTED_PROXIES", "entry 1"},
		{"BACKUP_RETRY_DELAYS", "30s,60s", "BACKUP_RETRY_DELAYS", "must be 3 durations"},
		{"BACKUP_RETRY_DELAYS", "30s,60s,soon", "BACKUP_RETRY_DELAYS", "must be 3 durations"},
		{"BACKUP_RETRY_DELAYS", "30s,60s,500ms", "BACKUP_RETRY_DELAYS", "from 1s to 24h0m0s"},
		{"BACKUP_RESTORE_TEST_SCHEDULE", "fortnightly", "BACKUP_RESTORE_TEST_SCHEDULE", "daily, weekly, monthly"},
		{"BACKUP_RESTORE_TEST_TIMEOUT_SECONDS", "0", "BACKUP_RESTORE_TEST_TIMEOUT_SECONDS", "integer"},
		{"BACKUP_RESTORE_TEST_DATABASE_URL", "mysql://h/db", "BACKUP_RESTORE_TEST_DATABASE_URL", "postgres://"},
		{"BACKUP_S3_ENABLED", "sometimes", "BACKUP_S3_ENABLED", "true or false"},
		{"BACKUP_S3_RETENTION_DAYS", "0", "BACKUP_S3_RETENTION_DAYS", "integer"},
		{"BACKUP_S3_OBJECT_LOCK", "2", "BACKUP_S3_OBJECT_LOCK", "true or false"},
	}
	for _, tc := range cases {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			_, err := Load(env(with(map[string]string{tc.name: tc.value})))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.wantVar+"=") || !strings.Contains(msg, tc.wantAllowed) || strings.Contains(msg, "\n") {
				t.Fatalf("message %q should be one line naming %s and %q", msg, tc.wantVar, tc.wantAllowed)
			}
			if strings.Contains(msg, "pw") && strings.Contains(tc.value, ":pw@") && !strings.Contains(msg, "xxxxx") {
				t.Fatalf("password leaked: %q", msg)
			}
		})
	}
}

func TestMissingConnection(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{"POSTGRES_DB": "x"}))
	if err == nil || !strings.HasPrefix(err.Error(), "POSTGRES_USER=") {
		t.Fatalf("err = %v", err)
	}
}

func TestDatabaseURLPasswordIsSeparated(t *testing.T) {
	t.Parallel()
	cases := map[string]struct{ url, pw string }{
		"postgres://backup:p%40ss@db.example:6432/rgz?sslmode=require": {"postgres://backup@db.example:6432/rgz?sslmode=require", "p@ss"},
		"postgresql://backup@db/rgz?password=qs&sslmode=disable":       {"postgresql://backup@db/rgz?sslmode=disable", "qs"},
		"postgres://backup@db/rgz":                                     {"postgres://backup@db/rgz", ""},
	}
	for raw, want := range cases {
		c, err := Load(env(map[string]string{"BACKUP_DATABASE_URL": raw}))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if c.Database.URL != want.url || c.Database.Password != want.pw {
			t.Errorf("%s: got %+v", raw, c.Database)
		}
	}
}

func TestUnixSocketHost(t *testing.T) {
	t.Parallel()
	c, err := Load(env(with(map[string]string{"POSTGRES_HOST": "/var/run/postgresql"})))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.URL != "postgres://rgz@/rgz?host=%2Fvar%2Frun%2Fpostgresql&port=5432" {
		t.Fatalf("url = %s", c.Database.URL)
	}
}

func TestDescribeRedactsSecrets(t *testing.T) {
	t.Parallel()
	out := Describe(env(with(map[string]string{
		"BACKUP_CATALOG_DATABASE_URL": "postgres://cat:catpw@h/c",
		"BACKUP_DATABASE_URL":         "postgres://u@h/d?password=qspw",
	})))
	for _, secret := range []string{"s3cret", "catpw", "qspw"} {
		if strings.Contains(out, secret) {
			t.Fatalf("secret %q in:\n%s", secret, out)
		}
	}
	for _, want := range []string{"POSTGRES_PASSWORD=***", "BACKUP_LOCAL_DIR=/backups  # default", "BACKUP_COMPRESSION_LEVEL=  # unset"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestS3Settings(t *testing.T) {
	t.Parallel()
	on := func(m map[string]string) map[string]string {
		m["BACKUP_S3_ENABLED"] = "true"
		return with(m)
	}
	c, err := Load(env(on(map[string]string{"BACKUP_S3_ENDPOINT": "http://127.0.0.1:9000", "BACKUP_S3_PREFIX": "/prod/rgz/",
		"BACKUP_S3_ACCESS_KEY_ID": "AK", "BACKUP_S3_SECRET_ACCESS_KEY": "SK", "BACKUP_S3_STORAGE_CLASS": "standard_ia"})))
	if err != nil {
		t.Fatal(err)
	}
	if !c.S3.Enabled || c.S3.Bucket != "rgz-backups" || c.S3.Region != "us-east-1" || c.S3.Prefix != "prod/rgz" ||
		c.S3.StorageClass != "STANDARD_IA" || c.S3.RetentionDays != 90 || c.S3.ObjectLock {
		t.Fatalf("%+v", c.S3)
	}
	for _, tc := range []struct {
		vars    map[string]string
		wantVar string
	}{
		{map[string]string{"BACKUP_S3_ACCESS_KEY_ID": "AK"}, "BACKUP_S3_ACCESS_KEY_ID"},
		{map[string]string{"BACKUP_S3_ENDPOINT": "minio:9000"}, "BACKUP_S3_ENDPOINT"},
		{map[string]string{"BACKUP_S3_ENDPOINT": "https://h/bucket"}, "BACKUP_S3_ENDPOINT"},
		{map[string]string{"BACKUP_S3_STORAGE_CLASS": "COLD"}, "BACKUP_S3_STORAGE_CLASS"},
	} {
		_, err := Load(env(on(tc.vars)))
		if err == nil || !strings.HasPrefix(err.Error(), tc.wantVar+"=") || strings.Contains(err.Error(), "SK") {
			t.Errorf("%v: %v", tc.vars, err)
		}
	}
	// Disabled, the other S3 settings are not checked: they may be staged.
	if _, err := Load(env(with(map[string]string{"BACKUP_S3_ENDPOINT": "nonsense"}))); err != nil {
		t.Errorf("disabled S3: %v", err)
	}
	out := Describe(env(on(map[string]string{"BACKUP_S3_SECRET_ACCESS_KEY": "wJalrSECRET"})))
	if strings.Contains(out, "wJalrSECRET") || !strings.Contains(out, "BACKUP_S3_SECRET_ACCESS_KEY=***") {
		t.Errorf("secret key shown:\n%s", out)
	}
}

func TestRestoreTestSettings(t *testing.T) {
	t.Parallel()
	c, err := Load(env(with(map[string]string{})))
	if err != nil {
		t.Fatal(err)
	}
	sunday := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	if !c.RestoreTest.Enabled || c.RestoreTest.BackupAgeDays != 7 || c.RestoreTest.Timeout != 3600 ||
		!c.RestoreTest.Schedule.Next(sunday.Add(-time.Hour)).Equal(sunday) || c.RestoreTest.Target != c.Database {
		t.Fatalf("%+v", c.RestoreTest)
	}
	c, err = Load(env(with(map[string]string{"BACKUP_RESTORE_TEST_SCHEDULE": "*/20 * * * * *",
		"BACKUP_RESTORE_TEST_DATABASE_URL": "postgres://u:pw@scratch:5432/postgres"})))
	if err != nil {
		t.Fatal(err)
	}
	if c.RestoreTest.Target.URL != "postgres://u@scratch:5432/postgres" || c.RestoreTest.Target.Password != "pw" {
		t.Fatalf("target %+v", c.RestoreTest.Target)
	}
	if got := c.RestoreTest.Target.WithDatabase("rgz_restore_test_x").URL; got != "postgres://u@scratch:5432/rgz_restore_test_x" {
		t.Fatalf("WithDatabase: %s", got)
	}
}

func TestAPISettings(t *testing.T) {
	t.Parallel()
	digest := strings.Repeat("ab", 32)
	c, err := Load(env(with(map[string]string{"BACKUP_API_TOKENS": "noc:" + digest + ", admin:" + strings.Repeat("cd", 32)})))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.API.Tokens) != 2 || c.API.Tokens[0].Role != "noc" || c.API.Tokens[1].Role != "admin" || c.API.RoleClaim != "role" ||
		c.API.Tokens[0].Name != "sha256-abababababab" || c.API.Tokens[1].Name != "sha256-cdcdcdcdcdcd" {
		t.Fatalf("%+v", c.API)
	}
	for _, bad := range []string{"noc", "noc:xyz", ":" + digest, "noc:" + digest[:60], "a:b:c:" + digest, "with space:noc:" + digest,
		"ops:noc:" + digest + ",ops:admin:" + strings.Repeat("cd", 32), "-x:noc:" + digest} {
		_, err := Load(env(with(map[string]string{"BACKUP_API_TOKENS": bad})))
		if err == nil || !strings.HasPrefix(err.Error(), "BACKUP_API_TOKENS=\"entry ") || strings.Contains(err.Error(), digest[:20]) {
			t.Errorf("%q: %v", bad, err)
		}
	}

	// Named entries, one per line in a file, with comments.
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("# the NOC's dashboards\nnoc-grafana:noc:"+digest+"\n\n  # ops\nops.script:admin:"+strings.Repeat("cd", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(env(with(map[string]string{"BACKUP_API_TOKENS_FILE": file})))
	if err != nil || len(c.API.Tokens) != 2 || c.API.Tokens[0].Name != "noc-grafana" || c.API.Tokens[1].Name != "ops.script" || c.API.Tokens[1].Role != "admin" || c.API.TokensFile != file {
		t.Fatalf("%+v %v", c.API, err)
	}
	for name, set := range map[string]map[string]string{
		"BACKUP_API_TOKENS=":      {"BACKUP_API_TOKENS_FILE": file, "BACKUP_API_TOKENS": "noc:" + digest},
		"BACKUP_API_TOKENS_FILE=": {"BACKUP_API_TOKENS_FILE": file + ".missing"},
		"BACKUP_API_JWT_SECRET=":  {"BACKUP_API_JWT_SECRET": "short but secret"},
	} {
		_, err := Load(env(with(set)))
		if err == nil || !strings.HasPrefix(err.Error(), name) || strings.Contains(err.Error(), "short but secret") {
			t.Errorf("%v: %v", set, err)
		}
	}
	if _, err := Load(env(with(map[string]string{"BACKUP_API_JWT_SECRET": strings.Repeat("s", MinJWTSecret)}))); err != nil {
		t.Fatal(err)
	}
}

func TestEveryReadVariableIsDeclared(t *testing.T) {
	t.Parallel()
	// Load panics on an undeclared variable; reading every path proves the list complete.
	for _, m := range []map[string]string{base(), {"BACKUP_DATABASE_URL": "postgres://u@h/d", "BACKUP_CATALOG_DATABASE_URL": "postgres://u@h/c", "BACKUP_COMPRESSION_LEVEL": "3"}} {
		if _, err := Load(env(m)); err != nil {
			t.Fatal(err)
		}
	}
}

// Trusted proxies: addresses (IPv4-mapped ones read as IPv4) and CIDRs,
// masked; a TLS pair that is not one is refused in the other tests.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	c, err := Load(env(with(map[string]string{"BACKUP_HTTP_TRUSTED_PROXIES": " 10.1.2.3/8 ,::ffff:192.0.2.1,, 2001:db8::/32"})))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.HTTP.TrustedProxies); got != "[10.0.0.0/8 192.0.2.1/32 2001:db8::/32]" || c.HTTP.Clear() || c.HTTP.TLS() {
		t.Fatalf("proxies %s, clear %v", got, c.HTTP.Clear())
	}
	if c, _ := Load(env(with(nil))); !c.HTTP.Clear() {
		t.Fatal("without TLS or proxies, HTTP is not said to be in clear")
	}
}

// Single sign-on: all of it or none; the secret from a file (its trailing
// newline not part of it), never from both; the redirect URL is the
// callback's; roles map claim values to admin and noc.
func TestOIDCSettings(t *testing.T) {
	t.Parallel()
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := map[string]string{"BACKUP_OIDC_ISSUER": "https://sso.example/realms/rgz", "BACKUP_OIDC_CLIENT_ID": "rgz-backup",
		"BACKUP_OIDC_CLIENT_SECRET_FILE": secretFile, "BACKUP_OIDC_REDIRECT_URL": "https://backup.example/console/oidc/callback",
		"BACKUP_OIDC_ROLES": "admin=rgz-admins, noc=rgz-noc, noc=support"}
	c, err := Load(env(with(good)))
	if err != nil {
		t.Fatal(err)
	}
	o := c.API.OIDC
	if !o.On() || o.ClientSecret != "s3cr3t" || o.RoleClaim != "groups" || fmt.Sprint(o.Roles) != "map[admin:[rgz-admins] noc:[rgz-noc support]]" {
		t.Fatalf("%+v", o)
	}
	for name, change := range map[string]map[string]string{
		"BACKUP_OIDC_ISSUER=":             {"BACKUP_OIDC_ISSUER": ""},
		"BACKUP_OIDC_ISSUER=\"ftp":        {"BACKUP_OIDC_ISSUER": "ftp://sso.example"},
		"BACKUP_OIDC_CLIENT_ID=":          {"BACKUP_OIDC_CLIENT_ID": ""},
		"BACKUP_OIDC_REDIRECT_URL=":       {"BACKUP_OIDC_REDIRECT_URL": "https://backup.example/callback"},
		"BACKUP_OIDC_ROLES=\"admin":       {"BACKUP_OIDC_ROLES": "admin"},
		"BACKUP_OIDC_ROLES=\"\"":          {"BACKUP_OIDC_ROLES": ""},
		"BACKUP_OIDC_CLIENT_SECRET=":      {"BACKUP_OIDC_CLIENT_SECRET": "also"},
		"BACKUP_OIDC_CLIENT_SECRET_FILE=": {"BACKUP_OIDC_CLIENT_SECRET_FILE": secretFile + ".missing"},
	} {
		m := maps.Clone(good)
		for k, v := range change {
			m[k] = v
		}
		_, err := Load(env(with(m)))
		if err == nil || !strings.HasPrefix(err.Error(), name) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%v: %v", change, err)
		}
	}
}
