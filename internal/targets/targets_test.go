package targets

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

func TestSelect(t *testing.T) {
	t.Parallel()
	server := []string{"billing", "postgres", "radius", "rgz", "rgz_catalog", "test_a", "test_b"}
	cases := []struct {
		name    string
		sel     config.Databases
		catalog string
		want    []string
	}{
		{"unset: the one database, as before", config.Databases{}, "rgz_catalog", []string{"rgz"}},
		{"names, sorted, once each", config.Databases{Names: []string{"radius", "billing", "radius"}}, "", []string{"billing", "radius"}},
		{"every database but the catalog", config.Databases{All: true}, "rgz_catalog", []string{"billing", "postgres", "radius", "rgz", "test_a", "test_b"}},
		{"every database, the catalog elsewhere", config.Databases{All: true}, "", server},
		{"excluded by name and pattern", config.Databases{All: true, Exclude: []string{"postgres", "test_*"}}, "rgz_catalog", []string{"billing", "radius", "rgz"}},
		{"a listed name excluded", config.Databases{Names: []string{"rgz", "test_a"}, Exclude: []string{"test_?"}}, "", []string{"rgz"}},
		{"everything excluded", config.Databases{All: true, Exclude: []string{"*"}}, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Select(c.sel, "rgz", server, c.catalog); !slices.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

// "*" asks the server each time: databases created and dropped between
// runs come and go; templates and the catalog never come.
func TestEveryDatabaseIsDiscovered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, db := range []string{"disc_billing", "disc_radius", "disc_catalog", "disc_scratch_1"} {
		if err := cluster.CreateDatabase(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Config{
		Database:  config.Database{URL: cluster.URL("postgres")},
		Catalog:   config.Database{URL: cluster.URL("disc_catalog")},
		Databases: config.Databases{All: true, Exclude: []string{"disc_scratch_*"}},
	}
	got, err := Of(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, "disc_billing") || !slices.Contains(got, "disc_radius") || !slices.Contains(got, "postgres") ||
		slices.Contains(got, "disc_catalog") || slices.Contains(got, "disc_scratch_1") || slices.Contains(got, "template1") || slices.Contains(got, "template0") {
		t.Fatalf("discovered %v", got)
	}
	if err := cluster.DropDatabase(ctx, "disc_radius"); err != nil {
		t.Fatal(err)
	}
	if err := cluster.CreateDatabase(ctx, "disc_invoices"); err != nil {
		t.Fatal(err)
	}
	got, err = Of(ctx, cfg)
	if err != nil || slices.Contains(got, "disc_radius") || !slices.Contains(got, "disc_invoices") {
		t.Fatalf("after a drop and a create: %v %v", got, err)
	}
	cfg.Database.URL = "postgres://nobody@127.0.0.1:1/postgres"
	if _, err := Of(ctx, cfg); err == nil {
		t.Fatal("an unreachable server listed databases")
	}
}

// Today's configuration keeps itself exactly; BACKUP_DATABASES gives each
// database its own directory and connection, even when it finds one.
func TestUnits(t *testing.T) {
	t.Parallel()
	cfg := config.Config{Database: config.Database{URL: "postgres://backup@db:5432/rgz?sslmode=require", Password: "pw"}, LocalDir: "/var/backups/rgz"}
	one, err := Units(cfg, DefaultTarget, []string{"rgz"})
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 || one[0].Config.LocalDir != cfg.LocalDir || one[0].Config.Database != cfg.Database {
		t.Fatalf("one database: %+v", one)
	}
	cfg.Databases = config.Databases{Names: []string{"billing", "rgz"}}
	many, err := Units(cfg, DefaultTarget, []string{"billing", "rgz"})
	if err != nil {
		t.Fatal(err)
	}
	if len(many) != 2 {
		t.Fatalf("%+v", many)
	}
	for _, u := range many {
		c := u.Config
		if c.LocalDir != "/var/backups/rgz/default/"+u.Database || c.Database.Name() != u.Database || c.Database.Password != "pw" ||
			!strings.Contains(c.Database.URL, "sslmode=require") {
			t.Fatalf("%s: %+v", u.Database, c)
		}
	}
	cfg.Databases = config.Databases{All: true}
	if found, _ := Units(cfg, DefaultTarget, []string{"rgz"}); found[0].Config.LocalDir != "/var/backups/rgz/default/rgz" {
		t.Fatalf(`"*" finding one database: %+v`, found)
	}
}

// A target's "pitr:" overrides BACKUP_PITR_ENABLED; a server streams once
// however many targets name it.
func TestStreaming(t *testing.T) {
	t.Parallel()
	file := func(extra string) File {
		f, err := Parse("targets.yaml", []byte(`targets:
  - name: rgz-db
    url: postgres://backup@rgz-db:5432/postgres
    databases: ["*"]
  - name: rgz-db-billing
    url: postgres://backup@rgz-db:5432/billing
    databases: [billing]
  - name: radius
    url: postgres://backup@radius:5432/radius
    databases: [radius]
`+extra))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	cases := []struct {
		name  string
		on    bool
		extra string
		want  []string
	}{
		{"off everywhere", false, "", nil},
		{"on everywhere: one stream per server", true, "", []string{"rgz-db", "radius"}},
		{"asked by one target", false, "    pitr: true\n", []string{"radius"}},
		{"refused by one target", true, "    pitr: false\n", []string{"rgz-db"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.Config{LocalDir: "/var/backups/rgz"}
			cfg.PITR.Enabled = c.on
			servers, err := file(c.extra).Servers(cfg, func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range Streaming(servers) {
				got = append(got, s.Target)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("streaming %v, want %v", got, c.want)
			}
		})
	}
	if _, err := Parse("targets.yaml", []byte("targets:\n  - name: a\n    url: postgres://u@h/db\n    databases: [db]\n    pitr: sometimes\n")); err == nil ||
		!strings.Contains(err.Error(), ":5: pitr") {
		t.Fatalf("pitr: sometimes: %v", err)
	}
}
