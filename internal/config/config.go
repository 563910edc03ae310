// Package config turns the process environment into a validated, typed
// Config. Every variable is checked at start; a bad value yields one error
// that names the variable, the value and what is allowed. Secrets are kept
// out of every string this package produces.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/schedule"
)

// Database says how to reach one PostgreSQL database. The password is kept
// apart from the URL so that the URL can go on a command line or in a log.
type Database struct {
	URL      string // libpq URL, never containing the password
	Password string // empty when none was given (trust, .pgpass, peer)
}

// String redacts nothing because URL holds no secret; it exists so that a
// Database printed with %v never shows the password field.
func (d Database) String() string { return d.URL }

// Config is the whole validated configuration of rgz-backup.
type Config struct {
	Database  Database  // the database that is backed up (with Databases: the server, and its default)
	Databases Databases // BACKUP_DATABASES, BACKUP_DATABASES_EXCLUDE (issue 16)
	// TargetsFile (BACKUP_TARGETS_FILE) lists the servers to back up
	// (package targets reads it); the environment's connection settings
	// then reach the catalog only.
	TargetsFile string
	// TargetDestinations are the targets file's own destinations, by
	// target (its "destinations:" override): a backup of such a target is
	// copied there instead of BACKUP_DESTINATIONS (DestinationsFor).
	TargetDestinations map[string][]destination.Spec
	Catalog            Database // where backup_executions lives (default: Database)

	LocalDir              string
	LocalRetentionDays    int
	CriticalRetentionDays int
	MinKeep               int
	MinFreeSpaceGB        int
	WarningUsedPercent    int
	CompressionFormat     archive.Format
	CompressionLevel      int // resolved: DefaultLevel when unset
	MinSizeMB             int
	Timeout               time.Duration
	PgBinDir              string // where pg_dump & co. live; empty = search
	LogLevel              slog.Level

	// The daemon (`serve`).
	ScheduleEnabled bool              // POSTGRES_BACKUP_ENABLED
	Schedule        schedule.Schedule // BACKUP_SCHEDULE_CRON, else the daily hour and minute
	Tolerance       time.Duration     // POSTGRES_BACKUP_TIME_TOLERANCE_MIN
	ShutdownGrace   time.Duration
	HTTPAddr        string
	HTTP            HTTP // TLS, trusted proxies
	// ReadyzInterval is how often /readyz's checks run
	// (BACKUP_READYZ_INTERVAL_SECONDS); /readyz answers from the last.
	ReadyzInterval time.Duration
	RetryDelays    []time.Duration // before each of the 3 retries

	S3 S3 // the archive copy

	Encryption Encryption // age: to whom new backups are encrypted, and the identity that reads them

	Destinations Destinations // where copies go besides S3

	RestoreTest RestoreTest

	PITR PITR // point-in-time recovery of the environment's server

	API API // who may call the HTTP API

	MetricsTextfile string // BACKUP_METRICS_TEXTFILE; empty: none

	Notify Notify // email and webhook
}

// Error is a configuration error about one variable.
type Error struct {
	Var     string
	Value   string
	Allowed string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s=%q is not valid: %s", e.Var, e.Value, e.Allowed)
}

// Load reads the configuration through getenv (a map in tests) and
// validates every value. An empty value counts as unset.
func Load(getenv func(string) string) (Config, error) {
	return LoadLookup(func(name string) (string, bool) { v := getenv(name); return v, v != "" })
}

// LoadLookup is Load through lookup (os.LookupEnv in production), which
// tells a variable set to "" from an unset one, where that matters: an
// empty BACKUP_S3_BUCKET is a mistake, not a wish for the default.
func LoadLookup(lookup func(string) (string, bool)) (Config, error) {
	lookup, err := withSecretFiles(lookup)
	if err != nil {
		return Config{}, err
	}
	getenv := func(name string) string { v, _ := lookup(name); return v }
	r := reader{getenv: getenv, lookup: lookup}
	c := Config{
		LocalDir:              r.str("BACKUP_LOCAL_DIR"),
		LocalRetentionDays:    r.intRange("BACKUP_LOCAL_RETENTION_DAYS", 1, 36500),
		CriticalRetentionDays: r.intRange("BACKUP_CRITICAL_RETENTION_DAYS", 1, 36500),
		MinKeep:               r.intRange("BACKUP_MIN_KEEP", 1, 10000),
		MinFreeSpaceGB:        r.intRange("BACKUP_MIN_FREE_SPACE_GB", 0, 1<<20),
		WarningUsedPercent:    r.intRange("BACKUP_WARNING_USED_PERCENT", 1, 100),
		CompressionFormat:     archive.Format(r.oneOf("BACKUP_COMPRESSION_FORMAT", formatNames())),
		MinSizeMB:             r.intRange("BACKUP_MIN_SIZE_MB", 0, 1<<30),
		Timeout:               time.Duration(r.intRange("BACKUP_TIMEOUT_SECONDS", 1, 7*24*3600)) * time.Second,
		PgBinDir:              r.str("BACKUP_PG_BIN_DIR"),
	}
	c.ScheduleEnabled = r.boolean("POSTGRES_BACKUP_ENABLED")
	c.Schedule = r.schedule()
	c.Tolerance = time.Duration(r.intRange("POSTGRES_BACKUP_TIME_TOLERANCE_MIN", 0, 24*60)) * time.Minute
	c.ShutdownGrace = time.Duration(r.intRange("BACKUP_SHUTDOWN_GRACE_SECONDS", 0, 24*3600)) * time.Second
	c.HTTPAddr = r.listenAddr("BACKUP_HTTP_ADDR")
	c.HTTP = r.http()
	c.ReadyzInterval = time.Duration(r.intRange("BACKUP_READYZ_INTERVAL_SECONDS", 1, 3600)) * time.Second
	c.RetryDelays = r.durations("BACKUP_RETRY_DELAYS", schedule.Retries, time.Second, 24*time.Hour)
	c.S3 = r.s3()
	c.Encryption = r.encryption()
	c.Destinations = r.destinations(c.S3)
	c.API = r.api()
	c.MetricsTextfile = r.str("BACKUP_METRICS_TEXTFILE")
	c.Notify = r.notify()
	if err := c.LogLevel.UnmarshalText([]byte(r.oneOf("BACKUP_LOG_LEVEL", []string{"debug", "info", "warn", "error"}))); err != nil {
		r.fail("BACKUP_LOG_LEVEL", r.str("BACKUP_LOG_LEVEL"), "must be one of debug, info, warn, error")
	}
	if c.LocalDir == "" {
		r.fail("BACKUP_LOCAL_DIR", "", "must be a directory path")
	}
	c.CompressionLevel = archive.DefaultLevel[c.CompressionFormat]
	if getenv("BACKUP_COMPRESSION_LEVEL") != "" {
		c.CompressionLevel = r.intRange("BACKUP_COMPRESSION_LEVEL", 1, 9)
	}
	if r.getenv("BACKUP_TARGETS_FILE") != "" && r.getenv("BACKUP_CATALOG_DATABASE_URL") != "" &&
		r.getenv("BACKUP_DATABASE_URL") == "" && r.getenv("POSTGRES_USER") == "" {
		// The targets file names the servers; the environment's settings
		// only reach the catalog.
		c.Database = r.url("BACKUP_CATALOG_DATABASE_URL")
	} else {
		c.Database = r.database()
	}
	c.Databases = r.databases()
	c.TargetsFile = r.str("BACKUP_TARGETS_FILE")
	if c.TargetsFile != "" && c.Databases.Set() {
		r.fail("BACKUP_DATABASES", r.getenv("BACKUP_DATABASES"), "and BACKUP_TARGETS_FILE are both set: list the environment's server in the targets file")
	}
	c.Catalog = c.Database
	c.RestoreTest = r.restoreTest(c.Database)
	c.PITR = r.pitr()
	if getenv("BACKUP_CATALOG_DATABASE_URL") != "" {
		c.Catalog = r.url("BACKUP_CATALOG_DATABASE_URL")
	}
	if r.err != nil {
		return Config{}, r.err
	}
	return c, nil
}

// reader reads variables, applying defaults and remembering the first error,
// so that Load reads as a list of declarations.
type reader struct {
	getenv func(string) string
	lookup func(string) (string, bool)
	err    error
}

func (r *reader) fail(name, value, allowed string) {
	if r.err == nil {
		r.err = &Error{Var: name, Value: value, Allowed: allowed}
	}
}

func (r *reader) str(name string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return lookup(name).Default
}

func (r *reader) intRange(name string, lo, hi int) int {
	raw := r.str(name)
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		r.fail(name, raw, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
		return 0
	}
	return n
}

func (r *reader) oneOf(name string, allowed []string) string {
	raw := strings.ToLower(r.str(name))
	for _, a := range allowed {
		if raw == a {
			return a
		}
	}
	r.fail(name, raw, "must be one of "+strings.Join(allowed, ", "))
	return ""
}

func (r *reader) boolean(name string) bool {
	raw := strings.ToLower(r.str(name))
	switch raw {
	case "true", "1", "yes", "on":
		return true
	case "false", "0", "no", "off":
		return false
	}
	r.fail(name, raw, "must be true or false")
	return false
}

// fraction reads a number in (0, 1].
// durations reads exactly n comma-separated durations ("30s,60s,120s"),
// each from least to most.
func (r *reader) durations(name string, n int, least, most time.Duration) []time.Duration {
	raw := r.str(name)
	parts := strings.Split(raw, ",")
	out := make([]time.Duration, 0, n)
	for _, p := range parts {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil || d < least || d > most {
			out = nil
			break
		}
		out = append(out, d)
	}
	if len(out) != n {
		r.fail(name, raw, fmt.Sprintf("must be %d durations separated by commas, each from %s to %s, like 30s,60s,120s", n, least, most))
		return nil
	}
	return out
}

// listenAddr reads host:port, where host may be empty (all interfaces).
func (r *reader) listenAddr(name string) string {
	raw := r.str(name)
	_, port, err := net.SplitHostPort(raw)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		r.fail(name, raw, "must be host:port or :port, like :8080 or 127.0.0.1:8080")
	}
	return raw
}

// schedule is BACKUP_SCHEDULE_CRON when set, else every day at
// POSTGRES_BACKUP_HOUR_UTC:POSTGRES_BACKUP_MINUTE_UTC.
func (r *reader) schedule() schedule.Schedule {
	if raw := strings.TrimSpace(r.getenv("BACKUP_SCHEDULE_CRON")); raw != "" {
		s, err := schedule.Parse(raw)
		if err != nil {
			r.fail("BACKUP_SCHEDULE_CRON", raw, err.Error())
		}
		return s
	}
	hour := r.intRange("POSTGRES_BACKUP_HOUR_UTC", 0, 23)
	minute := r.intRange("POSTGRES_BACKUP_MINUTE_UTC", 0, 59)
	s, err := schedule.Daily(hour, minute)
	if err != nil && r.err == nil { // out-of-range values were reported above
		r.fail("POSTGRES_BACKUP_HOUR_UTC", strconv.Itoa(hour), err.Error())
	}
	return s
}

// database builds the backed-up database's address from BACKUP_DATABASE_URL
// or, when that is unset, from the POSTGRES_* variables.
func (r *reader) database() Database {
	if r.getenv("BACKUP_DATABASE_URL") != "" {
		return r.url("BACKUP_DATABASE_URL")
	}
	host := r.str("POSTGRES_HOST")
	port := r.intRange("POSTGRES_PORT", 1, 65535)
	user, db := r.str("POSTGRES_USER"), r.str("POSTGRES_DB")
	if user == "" {
		r.fail("POSTGRES_USER", "", "must name the PostgreSQL role (or set BACKUP_DATABASE_URL)")
	}
	if db == "" && (len(splitList(r.getenv("BACKUP_DATABASES"))) > 0 || r.getenv("BACKUP_TARGETS_FILE") != "") {
		db = "postgres" // where the databases are discovered from (or the catalog's server)
	} else if db == "" {
		r.fail("POSTGRES_DB", "", "must name the database to back up (or set BACKUP_DATABASE_URL)")
	}
	u := url.URL{Scheme: "postgres", User: url.User(user), Path: "/" + db}
	if strings.HasPrefix(host, "/") { // a Unix socket directory
		u.RawQuery = url.Values{"host": {host}, "port": {strconv.Itoa(port)}}.Encode()
	} else {
		u.Host = host + ":" + strconv.Itoa(port)
	}
	return Database{URL: u.String(), Password: r.getenv("POSTGRES_PASSWORD")}
}

// url parses a libpq URL and moves its password, wherever it was written,
// out of the URL.
func (r *reader) url(name string) Database {
	raw := strings.TrimSpace(r.getenv(name))
	d, err := ParseDatabaseURL(raw)
	if err != nil {
		r.fail(name, RedactURL(raw, false), err.Error())
	}
	return d
}

// ParseDatabaseURL splits a libpq URL (postgres:// or postgresql://) into a
// password-free URL and the password.
func ParseDatabaseURL(raw string) (Database, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return Database{}, fmt.Errorf("must be a URL like postgres://user@host:5432/dbname")
	}
	if strings.Trim(u.Path, "/") == "" && u.Query().Get("dbname") == "" {
		return Database{}, fmt.Errorf("must name a database, like postgres://user@host:5432/dbname")
	}
	var d Database
	if pw, ok := u.User.Password(); ok {
		d.Password = pw
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	if pw := q.Get("password"); pw != "" {
		d.Password = pw
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	d.URL = u.String()
	return d, nil
}

// RedactURL is the one form in which a URL from the configuration is
// printed, logged or stored: no password ever. A postgres:// URL keeps its
// user name (a role, useful to see) and loses its password; any other URL
// loses its whole user info, which may be an access key. A password given
// as a query parameter is masked. With originOnly, only scheme://host:port
// is kept: for URLs whose path is the secret (a Slack-style webhook).
func RedactURL(raw string, originOnly bool) string {
	u, err := url.Parse(raw)
	if err != nil || (originOnly && u.Host == "") {
		if strings.Contains(raw, "@") || originOnly {
			return "(unparseable URL, not shown: it may contain a secret)"
		}
		return raw
	}
	if originOnly {
		return u.Scheme + "://" + u.Host + "/…"
	}
	switch {
	case u.User == nil:
	case u.Scheme == "postgres" || u.Scheme == "postgresql":
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	default:
		u.User = nil
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// HasUserInfo says whether raw is a URL with user info (user@ or
// user:secret@): refused in URLs that are not meant to carry credentials.
func HasUserInfo(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.User != nil
}

func formatNames() []string {
	names := make([]string, len(archive.Formats))
	for i, f := range archive.Formats {
		names[i] = string(f)
	}
	return names
}

// StuckJobRescue is how long the daemon's job of a process that died stays
// "running" before River rescues it and runs it again: the backup's
// timeout, the shutdown grace and a margin, so that no live attempt is
// ever rescued.
func (c Config) StuckJobRescue() time.Duration { return c.Timeout + c.ShutdownGrace + 5*time.Minute }
