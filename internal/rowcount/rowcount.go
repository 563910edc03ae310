// Package rowcount counts the exact rows of every table pg_dump backs up:
// the backup counts them in its snapshot, restore and the restore test
// count them again in the copy, and the two must match.
package rowcount

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Querier is what Count needs: a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Count counts the exact rows of every table whose data pg_dump
// writes: ordinary tables and partitions, outside the system schemas and
// not owned by an extension. Keys are "schema.table". The backup counts
// them in its snapshot; the restore test counts them again in the copy.
func Count(ctx context.Context, db Querier) (map[string]int64, error) {
	rows, err := db.Query(ctx, `
		SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r'
		  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
		  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d
		                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
		ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var t [2]string
		return t, r.Scan(&t[0], &t[1])
	})
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	counts := make(map[string]int64, len(tables))
	for _, t := range tables {
		var n int64
		if err := db.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{t[0], t[1]}.Sanitize()).Scan(&n); err != nil {
			return nil, fmt.Errorf("count rows of %s.%s: %w", t[0], t[1], err)
		}
		counts[Key(t[0], t[1])] = n
	}
	return counts, nil
}

// Key names a table in row_counts.
func Key(schema, table string) string { return schema + "." + table }
