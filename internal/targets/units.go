package targets

import (
	"path/filepath"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
)

// DefaultTarget names the server of the environment's connection
// settings: the target of every row from before targets existed.
const DefaultTarget = catalog.DefaultTarget

// Unit is one database to back up and the configuration its backup runs
// with.
type Unit struct {
	Target   string
	Database string
	Config   config.Config
}

// Units are the backups of one run on one target. Today's configuration
// (no BACKUP_DATABASES, the environment's server) keeps the configuration
// as it is, and so the flat layout; otherwise each database gets
// BACKUP_LOCAL_DIR/TARGET/DATABASE and a connection to itself, even when
// there is one: a "*" that finds one database today and two tomorrow
// must not move the first one's backups.
func Units(cfg config.Config, target string, databases []string) []Unit {
	if target == DefaultTarget && !cfg.Databases.Set() && len(databases) == 1 {
		return []Unit{{Target: target, Database: databases[0], Config: cfg}}
	}
	out := make([]Unit, 0, len(databases))
	for _, db := range databases {
		c := cfg
		c.Database = cfg.Database.WithDatabase(db)
		c.LocalDir = Dir(cfg, target, db)
		out = append(out, Unit{Target: target, Database: db, Config: c})
	}
	return out
}

// Dir is where the backups of database on target go when the service
// backs up several: BACKUP_LOCAL_DIR/TARGET/DATABASE.
func Dir(cfg config.Config, target, database string) string {
	return filepath.Join(cfg.LocalDir, target, database)
}
