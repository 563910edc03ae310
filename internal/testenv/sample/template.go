package sample

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
)

// templates are the sample databases loaded once per cluster and scale,
// that tests copy.
var templates struct {
	sync.Mutex
	of map[templateKey]*template
}

type templateKey struct {
	cluster *pgtest.Cluster
	scale   int
}

type template struct {
	once sync.Once
	name string
	err  error
}

// Database creates a database on c for one test, holding the sample at
// scale, and dropped when the test ends. It is a copy (CREATE DATABASE …
// TEMPLATE) of one loaded once per cluster and scale: a copy costs a
// fraction of loading the sample again, and the suite makes a hundred.
func Database(t testing.TB, c *pgtest.Cluster, scale int) string {
	t.Helper()
	templates.Lock()
	if templates.of == nil {
		templates.of = map[templateKey]*template{}
	}
	key := templateKey{c, scale}
	tpl := templates.of[key]
	if tpl == nil {
		tpl = &template{name: fmt.Sprintf("sample_template_%d", scale)}
		templates.of[key] = tpl
	}
	templates.Unlock()
	tpl.once.Do(func() { tpl.err = loadTemplate(context.Background(), c, tpl.name, scale) })
	if tpl.err != nil {
		t.Fatalf("the sample at scale %d: %v", scale, tpl.err)
	}
	return c.NewDatabaseFrom(t, tpl.name)
}

// loadTemplate loads the sample into a new database name and makes it a
// template nobody connects to (a connection, autovacuum's included, would
// make every copy wait or fail).
func loadTemplate(ctx context.Context, c *pgtest.Cluster, name string, scale int) error {
	if err := c.CreateDatabase(ctx, name); err != nil {
		return err
	}
	if err := Load(ctx, c.URL(name), scale); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
	return err
}
