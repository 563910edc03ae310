// Package dbconn opens connections to the PostgreSQL servers the
// configuration names: the password goes to the driver, never into a URL
// or argv; the session names itself in pg_stat_activity; and a connection
// that fails is explained in one line an operator acts on (Explain).
package dbconn

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/config"
)

// Connect opens one connection to d, naming itself appName in
// pg_stat_activity.
func Connect(ctx context.Context, d config.Database, appName string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(d.URL)
	if err != nil {
		return nil, fmt.Errorf("database address: %w", err)
	}
	cfg.Password = d.Password
	cfg.RuntimeParams["application_name"] = appName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, Explain(d, err)
	}
	return conn, nil
}
