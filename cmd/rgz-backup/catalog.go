package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/jobs"
	"github.com/mosaique/rgz-backup/internal/records"
)

// openCatalog opens the catalog, creating its schema when missing so that
// reading a fresh catalog shows "no backups" rather than an SQL error.
func openCatalog(ctx context.Context, cfg config.Config) (*catalog.Store, error) {
	_, store, err := openCatalogPool(ctx, cfg, "rgz-backup", 4, false)
	return store, err
}

// openCatalogPool is openCatalog that also returns the pool, which the job
// queue shares. Closing the store closes the pool. create makes a missing
// catalog database first (catalog.OpenPoolCreating): what `serve` does at
// start, and `migrate`; the other verbs do not, so that a catalog lost
// with its database is seen as lost (the manifests answer), not replaced
// by an empty one.
func openCatalogPool(ctx context.Context, cfg config.Config, appName string, maxConns int32, create bool) (*pgxpool.Pool, *catalog.Store, error) {
	open := catalog.OpenPool
	if create {
		open = catalog.OpenPoolCreating
	}
	pool, err := open(ctx, cfg.Catalog, appName, maxConns)
	if err != nil {
		return nil, nil, err
	}
	store := catalog.NewStore(pool)
	if _, err := store.Migrate(ctx); err != nil {
		store.Close()
		return nil, nil, err
	}
	return pool, store, nil
}

// withCatalog runs fn with the configuration's catalog, and closes it.
func withCatalog(ctx context.Context, fn func(*catalog.Store) error) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	store, err := openCatalog(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	return fn(store)
}

// withQueue runs fn with the open catalog and a client of the daemon's job
// queue that only inserts and reads jobs.
func withQueue(ctx context.Context, cfg config.Config, fn func(*catalog.Store, *jobs.Client) error) error {
	pool, store, err := openCatalogPool(ctx, cfg, "rgz-backup", 4, false)
	if err != nil {
		return err
	}
	defer store.Close()
	client, err := jobs.NewInserter(pool)
	if err != nil {
		return err
	}
	return fn(store, client)
}

// errNoBackup is returned by lookups that find nothing.
var errNoBackup = errors.New("no backup")

// findRow looks a backup up by id or by file name (a path is reduced to its name).
//
// ref is an id, a file name (with or without .age), a stem or a path
// (records.Find).
func findRow(ctx context.Context, store *catalog.Store, ref string) (catalog.Execution, error) {
	row, _, err := records.Find(ctx, records.For(store, "", false), ref)
	if errors.Is(err, catalog.ErrNotFound) {
		return row, fmt.Errorf("%w named %q in the catalog (see rgz-backup list)", errNoBackup, ref)
	}
	return row, err
}
