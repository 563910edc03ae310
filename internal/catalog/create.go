package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dbconn"
)

// OpenPoolCreating is OpenPool for the verbs that migrate the catalog:
// a catalog database that does not exist yet is created first, as
// `createdb` would, from the server's postgres (else template1) database,
// so that BACKUP_CATALOG_DATABASE_URL alone is enough. A role that may not
// create databases gets the createdb command to ask for.
func OpenPoolCreating(ctx context.Context, db config.Database, appName string, maxConns int32) (*pgxpool.Pool, error) {
	pool, err := OpenPool(ctx, db, appName, maxConns)
	var pgErr *pgconn.PgError
	if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "3D000" {
		return pool, err
	}
	name := db.Name()
	if cerr := createDatabase(ctx, db, name); cerr != nil {
		return nil, fmt.Errorf("the catalog database %q does not exist, and it could not be created (%v): create it (createdb %s) or grant CREATEDB", name, cerr, name)
	}
	return OpenPool(ctx, db, appName, maxConns)
}

// createDatabase creates database name on db's server, connected as db's
// role to the server's postgres database, else template1.
func createDatabase(ctx context.Context, db config.Database, name string) error {
	var lastErr error
	for _, admin := range []string{"postgres", "template1"} {
		connectCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		conn, err := dbconn.Connect(connectCtx, db.WithDatabase(admin), "rgz-backup migrate")
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		conn.Close(context.WithoutCancel(ctx))
		var exists *pgconn.PgError
		if errors.As(err, &exists) && exists.Code == "42P04" { // created meanwhile
			return nil
		}
		return err
	}
	return lastErr
}
