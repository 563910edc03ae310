package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DayStat sums up one day (UTC) of backups: its attempts, how many were
// good, and its newest good backup's size, duration and suspicion.
type DayStat struct {
	Day        time.Time
	Attempts   int
	Good       int
	Size       int64
	Seconds    int
	Suspect    bool
	Compliance bool // a good compliance copy that day
}

// Days are the days since since that have backups (of database, when not
// empty), oldest first: one row a day, however many backups (the charts
// read a year without reading a year of rows).
func (s *Store) Days(ctx context.Context, since time.Time, database string) ([]DayStat, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT date_trunc('day', backup_date) AS day, count(*),
			count(*) FILTER (WHERE status IN ('success', 'partial')),
			coalesce((array_agg(file_size_bytes ORDER BY backup_date DESC) FILTER (WHERE status IN ('success', 'partial')))[1], 0),
			coalesce((array_agg(duration_seconds ORDER BY backup_date DESC) FILTER (WHERE status IN ('success', 'partial')))[1], 0),
			coalesce((array_agg(suspect ORDER BY backup_date DESC) FILTER (WHERE status IN ('success', 'partial')))[1], false),
			coalesce(bool_or(retention_class = 'compliance' AND status IN ('success', 'partial')), false)
		FROM backup_executions
		WHERE backup_type = 'pg_dump' AND backup_date >= $1 AND ($2 = '' OR database_name = $2)
		GROUP BY 1 ORDER BY 1`, since.UTC(), database)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DayStat, error) {
		var d DayStat
		err := r.Scan(&d.Day, &d.Attempts, &d.Good, &d.Size, &d.Seconds, &d.Suspect, &d.Compliance)
		d.Day = d.Day.UTC()
		return d, err
	})
}
