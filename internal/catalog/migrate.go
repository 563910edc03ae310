package catalog

import (
	"context"
	"embed"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its number", e.Name())
		}
		body, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// SchemaVersion is the newest migration this binary knows.
func SchemaVersion() int {
	ms, _ := migrations()
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// migrationLock serialises migrations across processes (any value unique to us).
const migrationLock = 0x52475a4d // "RGZM"

// Migrate applies the migrations not yet applied: ours in one transaction
// (a failure leaves our schema as it was), then River's, the daemon's job
// tables, under an advisory lock so that replicas starting together do not
// race. It returns the names of those it applied.
//
// A current schema is detected read-only first, so that a role without the
// right to create tables (a least-privilege backup role, with migrations
// left to an administrator) can still record backups.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	if current, err := s.SchemaCurrent(ctx); err == nil && current {
		return nil, nil
	}
	// One connection holds a session advisory lock around both steps, so
	// that replicas starting together apply each migration once. River's
	// migrations need a transaction each (one adds an enum value that the
	// next statement uses), so they cannot share ours.
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate catalog: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return nil, fmt.Errorf("migrate catalog: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) // a closed session holds no lock
		}
	}()

	var applied []string
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS rgz_backup_schema_migrations (
			version INT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		current, err := currentVersion(ctx, tx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.version <= current {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO rgz_backup_schema_migrations(version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return err
			}
			applied = append(applied, m.name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrate catalog: %w", err)
	}
	// River's job tables, for the daemon.
	migrator, err := s.riverMigrator()
	if err != nil {
		return applied, err
	}
	res, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return applied, fmt.Errorf("migrate catalog: River's tables: %w", err)
	}
	for _, v := range res.Versions {
		applied = append(applied, fmt.Sprintf("river %03d", v.Version))
	}
	return applied, nil
}

// SchemaCurrent says whether every migration of this binary, ours and
// River's, is applied. It only reads.
func (s *Store) SchemaCurrent(ctx context.Context) (bool, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('rgz_backup_schema_migrations') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return false, err
	}
	v, err := currentVersion(ctx, s.pool)
	if err != nil || v < SchemaVersion() {
		return false, err
	}
	migrator, err := s.riverMigrator()
	if err != nil {
		return false, err
	}
	res, err := migrator.Validate(ctx, nil)
	if err != nil {
		return false, err
	}
	return res.OK, nil
}

// riverMigrator migrates River's tables (the daemon's job queue) in the
// catalog database.
func (s *Store) riverMigrator() (*rivermigrate.Migrator[pgx.Tx], error) {
	return rivermigrate.New(riverpgxv5.New(s.pool), nil)
}

// RiverMigrations is how many migrations River's tables have in this binary.
func RiverMigrations() int {
	m, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	if err != nil {
		return 0
	}
	return len(m.AllVersions())
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func currentVersion(ctx context.Context, q querier) (int, error) {
	var v int
	err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM rgz_backup_schema_migrations`).Scan(&v)
	return v, err
}

// Columns describes the catalog's own tables (River's left out), one line
// per column: "column TABLE.COLUMN TYPE [not null]", in name order. The
// platform reads these tables: tests hold them to a golden list.
func (s *Store) Columns(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT table_name, column_name, data_type, is_nullable
		FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name NOT LIKE 'river%'
		ORDER BY table_name, column_name`)
	if err != nil {
		return nil, fmt.Errorf("describe the catalog: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var table, column, typ, nullable string
		if err := rows.Scan(&table, &column, &typ, &nullable); err != nil {
			return nil, err
		}
		line := "column " + table + "." + column + " " + typ
		if nullable == "NO" {
			line += " not null"
		}
		out = append(out, line)
	}
	return out, rows.Err()
}
