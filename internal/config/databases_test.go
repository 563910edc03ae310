package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDatabasesSetting(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		vars   map[string]string
		want   Databases
		errVar string
		errHas string
	}{
		{"unset", nil, Databases{}, "", ""},
		{"names", map[string]string{"BACKUP_DATABASES": " rgz, billing ,,"}, Databases{Names: []string{"rgz", "billing"}}, "", ""},
		{"every database less patterns", map[string]string{"BACKUP_DATABASES": "*", "BACKUP_DATABASES_EXCLUDE": "test_*, scratch"}, Databases{All: true, Exclude: []string{"test_*", "scratch"}}, "", ""},
		{"star and names", map[string]string{"BACKUP_DATABASES": "*,rgz"}, Databases{}, "BACKUP_DATABASES", `"*" alone`},
		{"a pattern among names", map[string]string{"BACKUP_DATABASES": "rgz_*"}, Databases{}, "BACKUP_DATABASES", "BACKUP_DATABASES_EXCLUDE"},
		{"a malformed exclusion", map[string]string{"BACKUP_DATABASES": "*", "BACKUP_DATABASES_EXCLUDE": "test_["}, Databases{}, "BACKUP_DATABASES_EXCLUDE", "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load(env(with(c.vars)))
			if c.errVar == "" {
				if err != nil || !slices.Equal(cfg.Databases.Names, c.want.Names) || cfg.Databases.All != c.want.All || !slices.Equal(cfg.Databases.Exclude, c.want.Exclude) {
					t.Fatalf("%v: %+v", err, cfg.Databases)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Var != c.errVar || !strings.Contains(err.Error(), c.errHas) {
				t.Fatalf("%v, want an error about %s saying %q", err, c.errVar, c.errHas)
			}
		})
	}
}

// With BACKUP_DATABASES, POSTGRES_DB may be left out: the server is
// reached through its postgres database.
func TestDatabasesWithoutPostgresDB(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"POSTGRES_USER": "rgz", "POSTGRES_DB": "", "BACKUP_DATABASES": "*"}
	cfg, err := Load(env(with(vars)))
	if err != nil || cfg.Database.Name() != "postgres" {
		t.Fatalf("%v: %s", err, cfg.Database.Name())
	}
	delete(vars, "BACKUP_DATABASES")
	if _, err := Load(env(with(vars))); err == nil || !strings.Contains(err.Error(), "POSTGRES_DB") {
		t.Fatalf("one database, none named: %v", err)
	}
}

// With a targets file the environment's settings reach the catalog only:
// BACKUP_CATALOG_DATABASE_URL alone is enough.
func TestTargetsFileNeedsOnlyTheCatalog(t *testing.T) {
	t.Parallel()
	env := map[string]string{"BACKUP_TARGETS_FILE": "/etc/rgz-backup/targets.yaml", "BACKUP_CATALOG_DATABASE_URL": "postgres://rgz@catalog/rgz_backup"}
	cfg, err := Load(func(k string) string { return env[k] })
	if err != nil || cfg.Catalog.URL != "postgres://rgz@catalog/rgz_backup" || !cfg.Several() {
		t.Fatalf("%v %+v", err, cfg.Catalog)
	}
	delete(env, "BACKUP_CATALOG_DATABASE_URL")
	if _, err := Load(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "POSTGRES_USER") {
		t.Fatalf("no way to the catalog: %v", err)
	}
}
