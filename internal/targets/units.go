package targets

import (
	"errors"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/layout"
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
//
// A name is whatever the server says (any bytes a CREATE DATABASE took):
// it becomes a folder only through layout.DatabaseDir. A name no folder
// can hold is refused, in the error, and the others go on.
func Units(cfg config.Config, target string, databases []string) ([]Unit, error) {
	if target == DefaultTarget && !cfg.Databases.Set() && len(databases) == 1 {
		return []Unit{{Target: target, Database: databases[0], Config: cfg}}, nil
	}
	out := make([]Unit, 0, len(databases))
	var refused []error
	for _, db := range databases {
		dir, err := Dir(cfg, target, db)
		if err != nil {
			refused = append(refused, err)
			continue
		}
		c := cfg
		c.Database = cfg.Database.WithDatabase(db)
		c.LocalDir = dir
		out = append(out, Unit{Target: target, Database: db, Config: c})
	}
	return out, errors.Join(refused...)
}

// Dir is where the backups of database on target go when the service
// backs up several: BACKUP_LOCAL_DIR/TARGET/DATABASE, each name encoded
// as one folder (layout.DatabaseDir).
func Dir(cfg config.Config, target, database string) (string, error) {
	return layout.DatabaseDir(cfg.LocalDir, target, database)
}
