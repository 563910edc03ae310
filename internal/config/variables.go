package config

import (
	"fmt"
	"strings"
)

// Variable documents one environment variable. The list below is the single
// source for defaults, for `rgz-backup config` and for the help text.
type Variable struct {
	Name    string
	Default string
	Secret  bool // never printed
	// SecretPath: a URL whose path is the secret (a webhook): printed as
	// scheme://host only.
	SecretPath bool
	Help       string
}

// Variables are the settings this version reads. Settings of features that
// are not built yet are not listed; they are accepted and ignored.
var Variables = []Variable{
	{Name: "BACKUP_DATABASE_URL", Help: "libpq URL of the database to back up; overrides POSTGRES_*"},
	{Name: "POSTGRES_HOST", Default: "localhost", Help: "database host (or Unix socket directory)"},
	{Name: "POSTGRES_PORT", Default: "5432", Help: "database port"},
	{Name: "POSTGRES_USER", Help: "database role"},
	{Name: "POSTGRES_PASSWORD", Secret: true, Help: "database password (given to pg_dump through its environment, never argv)"},
	{Name: "POSTGRES_DB", Help: "database to back up"},
	{Name: "BACKUP_DATABASES", Help: "several databases on that server: names, comma-separated, or * for every one that accepts connections (docs/TARGETS.md)"},
	{Name: "BACKUP_DATABASES_EXCLUDE", Help: "with BACKUP_DATABASES: names or patterns (test_*) to leave out"},
	{Name: "BACKUP_TARGETS_FILE", Help: "a YAML file listing several servers to back up (docs/TARGETS.md); the connection settings then reach the catalog"},
	{Name: "BACKUP_MAX_PARALLEL_PER_SERVER", Default: "1", Help: "with several databases: backups at once on one server, across every replica"},
	{Name: "BACKUP_MAX_PARALLEL", Default: "4", Help: "with several databases: backups at once in all, across every replica"},
	{Name: "BACKUP_CATALOG_DATABASE_URL", Help: "where backup_executions lives; default: the backed-up database"},
	{Name: "BACKUP_LOCAL_DIR", Default: "/backups", Help: "directory of the backup files"},
	{Name: "BACKUP_LOCAL_RETENTION_DAYS", Default: "30", Help: "days a daily backup is kept (sets retention_until)"},
	{Name: "BACKUP_CRITICAL_RETENTION_DAYS", Default: "2555", Help: "days a compliance copy is kept (7 years)"},
	{Name: "BACKUP_MIN_KEEP", Default: "7", Help: "retention never leaves fewer successful backups than this, whatever their age"},
	{Name: "BACKUP_MIN_FREE_SPACE_GB", Default: "10", Help: "a backup is refused when BACKUP_LOCAL_DIR has less free space"},
	{Name: "BACKUP_WARNING_USED_PERCENT", Default: "80", Help: "disk use that deserves a warning"},
	{Name: "BACKUP_COMPRESSION_FORMAT", Default: "gzip", Help: "gzip, zstd, bzip2 or none"},
	{Name: "BACKUP_COMPRESSION_LEVEL", Help: "1-9; unset: gzip 9, zstd 1, bzip2 9"},
	{Name: "BACKUP_MIN_SIZE_MB", Default: "100", Help: "a smaller backup fails as suspicious (0 disables the floor)"},
	{Name: "BACKUP_TIMEOUT_SECONDS", Default: "600", Help: "a backup running longer is cancelled"},
	{Name: "BACKUP_LOG_LEVEL", Default: "warn", Help: "debug, info, warn or error (logs go to stderr)"},
	{Name: "POSTGRES_BACKUP_ENABLED", Default: "true", Help: "false: `serve` schedules nothing (manual runs still work)"},
	{Name: "POSTGRES_BACKUP_HOUR_UTC", Default: "3", Help: "hour (UTC) of the daily backup"},
	{Name: "POSTGRES_BACKUP_MINUTE_UTC", Default: "0", Help: "minute of the daily backup"},
	{Name: "POSTGRES_BACKUP_TIME_TOLERANCE_MIN", Default: "5", Help: "a scheduled backup starting later than this is a catch-up"},
	{Name: "BACKUP_SCHEDULE_CRON", Help: "cron expression (5 fields, or 6 with seconds first, UTC) overriding the hour and minute"},
	{Name: "BACKUP_SHUTDOWN_GRACE_SECONDS", Default: "60", Help: "on SIGTERM, how long a running backup may finish before it is cancelled"},
	{Name: "BACKUP_HTTP_ADDR", Default: ":8080", Help: "where `serve` listens (/healthz, /readyz, the API under /api/v1)"},
	{Name: "BACKUP_HTTP_TLS_CERT_FILE", Help: "PEM certificate (chain): `serve` speaks HTTPS (TLS 1.2+, HSTS), read again on SIGHUP; with BACKUP_HTTP_TLS_KEY_FILE"},
	{Name: "BACKUP_HTTP_TLS_KEY_FILE", Help: "the certificate's PEM private key"},
	{Name: "BACKUP_HTTP_TRUSTED_PROXIES", Help: "addresses or CIDRs of TLS-terminating proxies whose X-Forwarded-Proto and X-Forwarded-For are believed (from no other peer)"},
	{Name: "BACKUP_READYZ_INTERVAL_SECONDS", Default: "15", Help: "how often /readyz's checks (catalog, client programs) run; /readyz answers from the last, and the log says why one fails"},
	{Name: "BACKUP_RETRY_DELAYS", Default: "30s,60s,120s", Help: "the waits before the 3 retries of a failed backup (and the first of a notification's)"},
	{Name: "BACKUP_S3_ENABLED", Default: "false", Help: "true: archive every good backup to S3"},
	{Name: "BACKUP_S3_BUCKET", Default: "rgz-backups", Help: "S3 bucket"},
	{Name: "BACKUP_S3_REGION", Default: "us-east-1", Help: "S3 region"},
	{Name: "BACKUP_S3_ACCESS_KEY_ID", Help: "S3 access key; unset with the secret: the instance's role"},
	{Name: "BACKUP_S3_SECRET_ACCESS_KEY", Secret: true, Help: "S3 secret key"},
	{Name: "BACKUP_S3_ENDPOINT", Help: "URL of an S3-compatible store (MinIO…), path-style; unset: AWS"},
	{Name: "BACKUP_S3_PREFIX", Help: "key prefix: s3://BUCKET/PREFIX/YYYY/MM/FILE"},
	{Name: "BACKUP_S3_STORAGE_CLASS", Help: "storage class of the objects; unset: the bucket's default"},
	{Name: "BACKUP_S3_RETENTION_DAYS", Default: "90", Help: "days a daily copy is kept in S3 (compliance copies: BACKUP_CRITICAL_RETENTION_DAYS)"},
	{Name: "BACKUP_S3_OBJECT_LOCK", Default: "false", Help: "true: compliance copies under S3 Object Lock (compliance mode) until their retention ends"},
	{Name: "BACKUP_DESTINATIONS", Help: "more places for a copy of every good backup, comma-separated: file:///DIR, sftp://USER@HOST:PORT/DIR, azblob://ACCOUNT/CONTAINER/PREFIX"},
	{Name: "BACKUP_SFTP_KEY_FILE", Help: "private key the sftp:// destinations log in with"},
	{Name: "BACKUP_SFTP_KNOWN_HOSTS", Help: "known_hosts file holding the sftp:// servers' host keys (no trust on first use)"},
	{Name: "BACKUP_AZURE_ACCOUNT_KEY", Secret: true, Help: "account key of the azblob:// destinations"},
	{Name: "BACKUP_AZURE_CONNECTION_STRING", Secret: true, Help: "instead of the account key: a connection string (account key or SAS token) for the azblob:// destinations"},
	{Name: "BACKUP_AZURE_ENDPOINT", Help: "blob endpoint of the azblob:// destinations; unset: https://ACCOUNT.blob.core.windows.net"},
	{Name: "BACKUP_ENCRYPTION_RECIPIENTS", Help: "age public keys (age1…, ssh-ed25519 …, ssh-rsa …), comma- or newline-separated: every new backup is encrypted to them"},
	{Name: "BACKUP_ENCRYPTION_RECIPIENTS_FILE", Help: "instead: a file of recipients, one per line (# comments), as age -R reads"},
	{Name: "BACKUP_ENCRYPTION_IDENTITY_FILE", Help: "age identity (or unencrypted SSH private key) that reads backups: verify's deep check, restore, restore tests"},
	{Name: "BACKUP_ENCRYPTION_REQUIRED", Default: "false", Help: "true: refuse to run (exit 2) when no recipient is configured"},
	{Name: "BACKUP_RESTORE_TEST_ENABLED", Default: "true", Help: "false: `serve` schedules no restore test (manual ones still work)"},
	{Name: "BACKUP_RESTORE_TEST_SCHEDULE", Default: "weekly", Help: "daily, weekly (Sundays 02:00 UTC), monthly, or a cron expression"},
	{Name: "BACKUP_RESTORE_TEST_BACKUP_AGE_DAYS", Default: "7", Help: "the restore test takes the good backup closest to this age"},
	{Name: "BACKUP_RESTORE_TEST_DATABASE_URL", Help: "server (libpq URL, any database) where scratch databases are created; default: the backed-up server"},
	{Name: "BACKUP_RESTORE_TEST_TIMEOUT_SECONDS", Default: "3600", Help: "a restore test running longer is cancelled (its scratch database dropped)"},
	{Name: "BACKUP_PITR_ENABLED", Default: "false", Help: "true: `serve` streams the server's WAL and takes base backups for point-in-time recovery (docs/PITR.md); the role needs REPLICATION"},
	{Name: "BACKUP_PITR_SLOT", Default: "rgz_backup", Help: "the physical replication slot the WAL stream reads (created when missing)"},
	{Name: "BACKUP_PITR_SHIP_SECONDS", Default: "30", Help: "the WAL segment being written is copied to the archive this often (the archive's RPO on a quiet server)"},
	{Name: "BACKUP_PITR_BASE_SCHEDULE", Default: "weekly", Help: "base backups: daily, weekly (Sundays 01:00 UTC), monthly, or a cron expression; the first is taken as soon as the archive streams"},
	{Name: "BACKUP_PITR_RETENTION_DAYS", Default: "14", Help: "point-in-time recovery reaches back this many days: older base backups and WAL are deleted (docs/PITR.md)"},
	{Name: "BACKUP_PITR_RESTORE_TEST_SCHEDULE", Default: "weekly", Help: "the point-in-time restore test (with BACKUP_RESTORE_TEST_ENABLED): daily, weekly (Wednesdays 03:00 UTC), monthly, or a cron expression; it restores the archive to a random moment of its window (the oldest, once a month) and checks the copy"},
	{Name: "BACKUP_API_JWT_SECRET", Secret: true, Help: "HS256 secret of the platform's JWTs (API access)"},
	{Name: "BACKUP_API_JWT_PUBLIC_KEY_FILE", Help: "PEM public key of the platform's RS256/ES256 JWTs"},
	{Name: "BACKUP_API_JWT_ROLE_CLAIM", Default: "role", Help: "the JWT claim holding the caller's role (admin, noc, …)"},
	{Name: "BACKUP_CONSOLE_SESSION_HOURS", Default: "12", Help: "how long a web console login lasts (1-720)"},
	{Name: "BACKUP_AUDIT_RETENTION_DAYS", Default: "400", Help: "days the audit of the API and console (actions, refusals) is kept; the daily retention job prunes older rows"},
	{Name: "BACKUP_API_JWT_ISSUER", Help: "when set, a JWT's iss must be this (recommended)"},
	{Name: "BACKUP_API_JWT_AUDIENCE", Help: "when set, a JWT's aud must include this, e.g. rgz-backup (recommended: a token minted for another service is refused)"},
	{Name: "BACKUP_API_TOKENS", Secret: true, Help: "static API tokens: NAME:ROLE:SHA256HEX,… (rgz-backup token new prints one; the older ROLE:SHA256HEX is named sha256-<12 hex digits>)"},
	{Name: "BACKUP_OIDC_ISSUER", Help: "single sign-on: the OpenID provider's issuer URL (the console offers \"Log in with SSO\")"},
	{Name: "BACKUP_OIDC_CLIENT_ID", Help: "the client id the provider gave rgz-backup"},
	{Name: "BACKUP_OIDC_CLIENT_SECRET", Secret: true, Help: "its client secret (unset: a public client, PKCE alone)"},
	{Name: "BACKUP_OIDC_CLIENT_SECRET_FILE", Help: "instead of BACKUP_OIDC_CLIENT_SECRET: a file holding it"},
	{Name: "BACKUP_OIDC_REDIRECT_URL", Help: "the external URL of /console/oidc/callback, as registered with the provider"},
	{Name: "BACKUP_OIDC_ROLE_CLAIM", Default: "groups", Help: "the ID token's (else userinfo's) claim holding who may do what: a string or a list"},
	{Name: "BACKUP_OIDC_ROLES", Help: "the claim's values that make an admin or a NOC operator: admin=rgz-admins,noc=rgz-noc (a value may be repeated per role)"},
	{Name: "BACKUP_API_TOKENS_FILE", Help: "instead of BACKUP_API_TOKENS: a file of its entries, one per line or comma-separated (# comments), read again on SIGHUP; a console session opened with a token that left the list ends"},
	{Name: "BACKUP_METRICS_ADDR", Help: "where `serve` answers /metrics instead of BACKUP_HTTP_ADDR (host:port, e.g. 127.0.0.1:9187); unset: beside the API"},
	{Name: "BACKUP_METRICS_TOKEN", Secret: true, Help: "when set, /metrics asks for it as a bearer token (Prometheus: authorization.credentials_file)"},
	{Name: "BACKUP_METRICS_TEXTFILE", Help: "after a CLI backup or restore test, write the metrics here (node_exporter textfile, atomically)"},
	{Name: "BACKUP_NOTIFY_ON_SUCCESS", Default: "true", Help: "email (and webhook) after a successful backup"},
	{Name: "BACKUP_NOTIFY_ON_FAILURE", Default: "true", Help: "email (and webhook) after a failed backup, restore test or S3 copy"},
	{Name: "BACKUP_NOTIFY_RECIPIENTS", Help: "email addresses, comma-separated"},
	{Name: "BACKUP_NOTIFY_LANGUAGE", Default: "fr", Help: "fr or en"},
	{Name: "BACKUP_NOTIFY_WEBHOOK_URL", SecretPath: true, Help: "the same events as a JSON POST (Slack/Mattermost show its text)"},
	{Name: "SMTP_HOST", Help: "mail server; unset: no email"},
	{Name: "SMTP_PORT", Default: "587", Help: "mail server port"},
	{Name: "SMTP_USERNAME", Help: "SMTP login; unset: no authentication"},
	{Name: "SMTP_PASSWORD", Secret: true, Help: "SMTP password"},
	{Name: "SMTP_FROM", Help: "sender address"},
	{Name: "SMTP_TLS", Default: "starttls", Help: "starttls, tls or none"},
	{Name: "BACKUP_PG_BIN_DIR", Help: "directory holding pg_dump, pg_restore, pg_dumpall; default: PATH, then the newest /usr/lib/postgresql/*/bin"},
}

func lookup(name string) Variable {
	for _, v := range Variables {
		if v.Name == name {
			return v
		}
	}
	panic("config: undeclared variable " + name) // a programming error, caught by tests
}

// Describe prints every variable as NAME=value, the value as the process
// sees it (or its default), with secrets and URL passwords redacted.
func Describe(getenv func(string) string) string {
	var b strings.Builder
	for _, v := range Variables {
		val, origin := getenv(v.Name), ""
		if file := getenv(v.Name + "_FILE"); val == "" && file != "" && FromFile(v) {
			val, origin = "***", "  # from "+v.Name+"_FILE="+file
		}
		switch {
		case origin != "":
		case val == "" && v.Default == "":
			val, origin = "", "  # unset"
		case val == "":
			val, origin = v.Default, "  # default"
		case v.Secret:
			val = "***"
		case v.SecretPath:
			val = RedactURL(val, true)
		case strings.HasSuffix(v.Name, "_URL") || strings.HasSuffix(v.Name, "_ENDPOINT"):
			val = RedactURL(val, false)
		}
		fmt.Fprintf(&b, "%s=%s%s\n", v.Name, val, origin)
	}
	return b.String()
}

// HelpText lists the variables for `rgz-backup --help`.
func HelpText() string {
	var b strings.Builder
	for _, v := range Variables {
		def := ""
		if v.Default != "" {
			def = " (default " + v.Default + ")"
		}
		if FromFile(v) {
			def += "; or read from the file " + v.Name + "_FILE names"
		}
		fmt.Fprintf(&b, "  %-35s %s%s\n", v.Name, v.Help, def)
	}
	return b.String()
}

// EnvTemplate is /etc/rgz-backup/rgz-backup.env as the Debian package
// installs it (deploy/debian/rgz-backup.env, held equal by a test): every
// variable, commented out at its default, with its help; what must be
// filled (POSTGRES_USER, POSTGRES_DB) and the package's own backup
// directory are set.
func EnvTemplate() string {
	var b strings.Builder
	b.WriteString(`# /etc/rgz-backup/rgz-backup.env: rgz-backup's settings, read by the
# rgz-backup.service and rgz-backup-backup.service units (docs/INSTALL.md,
# every variable: docs/CONFIGURATION.md). Mode 0640 root:rgz-backup: it holds
# secrets. Fill POSTGRES_USER and POSTGRES_DB (or BACKUP_DATABASE_URL), then
# check it (values stay out of argv):
#   sudo sh -c 'set -a; . /etc/rgz-backup/rgz-backup.env; exec rgz-backup config'
`)
	set := map[string]string{"POSTGRES_USER": "", "POSTGRES_DB": "", "BACKUP_LOCAL_DIR": "/var/lib/rgz-backup/backups"}
	for _, v := range Variables {
		fmt.Fprintf(&b, "\n# %s", v.Help)
		if v.Secret {
			b.WriteString(" (secret)")
		}
		b.WriteString("\n")
		if value, ok := set[v.Name]; ok {
			fmt.Fprintf(&b, "%s=%s\n", v.Name, value)
			continue
		}
		fmt.Fprintf(&b, "#%s=%s\n", v.Name, v.Default)
	}
	return b.String()
}
