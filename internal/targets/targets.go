// Package targets says which databases a run backs up (issue 16): the one
// database of the connection settings, as before; the names
// BACKUP_DATABASES lists; or, with "*", every database of the server that
// accepts connections, except templates and the catalog; less
// BACKUP_DATABASES_EXCLUDE. Choosing is a plain function over names
// (Select); asking the server is Discover.
package targets

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dbconn"
)

// Select is the sorted list of databases to back up. onServer are the
// databases that accept connections (Discover); catalog is the catalog's
// database when it is on the same server (never backed up by "*": it
// changes while we write to it), "" otherwise.
func Select(sel config.Databases, defaultDB string, onServer []string, catalog string) []string {
	var chosen []string
	switch {
	case sel.All:
		for _, db := range onServer {
			if db != catalog {
				chosen = append(chosen, db)
			}
		}
	case len(sel.Names) > 0:
		chosen = append(chosen, sel.Names...)
	default:
		return []string{defaultDB}
	}
	var out []string
	for _, db := range chosen {
		if !excluded(db, sel.Exclude) && !slices.Contains(out, db) {
			out = append(out, db)
		}
	}
	slices.Sort(out)
	return out
}

func excluded(db string, patterns []string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, db); ok {
			return true
		}
	}
	return false
}

// Discover lists the server's databases that accept connections, templates
// left out.
func Discover(ctx context.Context, server config.Database) ([]string, error) {
	conn, err := dbconn.Connect(ctx, server, "rgz-backup discover")
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname`)
	if err != nil {
		return nil, fmt.Errorf("list the databases: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Of is the databases cfg backs up now: Select, after Discover when
// BACKUP_DATABASES is "*".
func Of(ctx context.Context, cfg config.Config) ([]string, error) {
	var onServer []string
	if cfg.Databases.All {
		var err error
		if onServer, err = Discover(ctx, cfg.Database); err != nil {
			return nil, err
		}
	}
	return Select(cfg.Databases, cfg.Database.Name(), onServer, sameServerCatalog(cfg)), nil
}

// sameServerCatalog is the catalog's database when it lives on the server
// backed up.
func sameServerCatalog(cfg config.Config) string {
	if serverOf(cfg.Catalog) == serverOf(cfg.Database) {
		return cfg.Catalog.Name()
	}
	return ""
}

// serverOf is where a connection setting goes: host and port, or the
// socket directory.
func serverOf(d config.Database) string {
	u, err := url.Parse(d.URL)
	if err != nil {
		return d.URL
	}
	q := u.Query()
	return u.Host + "|" + q.Get("host") + "|" + q.Get("port")
}
