package config

import (
	"net/url"
	"path"
	"strings"
)

// Databases says which databases of the server are backed up (issue 16):
// BACKUP_DATABASES, a list of names or "*" for every database that
// accepts connections (templates and the catalog left out), less
// BACKUP_DATABASES_EXCLUDE (names or shell patterns: "test_*"). Unset:
// the one database of BACKUP_DATABASE_URL or POSTGRES_DB, as before.
type Databases struct {
	Names   []string // as listed; empty with All or when unset
	All     bool     // "*"
	Exclude []string // names and patterns (path.Match)

	// How many backups run at once, with several databases: on one
	// server (BACKUP_MAX_PARALLEL_PER_SERVER) and in all
	// (BACKUP_MAX_PARALLEL), across every replica.
	MaxParallelPerServer, MaxParallel int
}

// Several says whether the service backs up several databases
// (BACKUP_DATABASES or BACKUP_TARGETS_FILE): each its own backup, lock
// and directory, BACKUP_LOCAL_DIR/TARGET/DATABASE.
func (c Config) Several() bool { return c.Databases.Set() || c.TargetsFile != "" }

// Set says whether BACKUP_DATABASES chose databases (else: the one of
// the connection settings).
func (d Databases) Set() bool { return d.All || len(d.Names) > 0 }

// MaxDatabaseName is PostgreSQL's limit on a name (NAMEDATALEN - 1 bytes).
const MaxDatabaseName = 63

func (r *reader) databases() Databases {
	d := Databases{MaxParallelPerServer: r.intRange("BACKUP_MAX_PARALLEL_PER_SERVER", 1, 64),
		MaxParallel: r.intRange("BACKUP_MAX_PARALLEL", 1, 256)}
	for _, name := range splitList(r.getenv("BACKUP_DATABASES")) {
		switch {
		case name == "*":
			d.All = true
		case strings.ContainsAny(name, "*?["):
			r.fail("BACKUP_DATABASES", name, `must be database names, or "*" alone for every database (patterns go in BACKUP_DATABASES_EXCLUDE)`)
		case len(name) > MaxDatabaseName:
			r.fail("BACKUP_DATABASES", name, "a PostgreSQL database name has at most 63 bytes")
		default:
			d.Names = append(d.Names, name)
		}
	}
	if d.All && len(d.Names) > 0 {
		r.fail("BACKUP_DATABASES", r.getenv("BACKUP_DATABASES"), `"*" means every database: list names, or "*" alone`)
	}
	for _, pattern := range splitList(r.getenv("BACKUP_DATABASES_EXCLUDE")) {
		if _, err := path.Match(pattern, ""); err != nil {
			r.fail("BACKUP_DATABASES_EXCLUDE", pattern, "must be names or patterns like test_* (a malformed pattern)")
			continue
		}
		d.Exclude = append(d.Exclude, pattern)
	}
	return d
}

// splitList reads a comma-separated list, blanks trimmed and dropped.
func splitList(raw string) []string {
	var out []string
	for _, item := range strings.Split(raw, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Server is where the database is, for people: HOST:PORT as the URL says
// it (the socket's directory for a local one), no user, no password.
func (d Database) Server() string {
	u, err := url.Parse(d.URL)
	if err != nil {
		return "?"
	}
	where := u.Host
	if h := u.Query().Get("host"); h != "" {
		where = h
		if p := u.Query().Get("port"); p != "" {
			where += ":" + p
		}
	}
	if where == "" {
		where = "the local socket"
	}
	return where
}

// Name is the database a connection setting names.
func (d Database) Name() string {
	u, err := url.Parse(d.URL)
	if err != nil {
		return ""
	}
	if name := u.Query().Get("dbname"); name != "" {
		return name
	}
	return strings.TrimPrefix(u.Path, "/")
}
