package targets

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/destination"
)

// Server is one server to back up: its target name and the configuration
// its backups run with — the environment's, with the target's connection,
// its databases and its overrides.
type Server struct {
	Target string
	Config config.Config
	// Schedule and RestoreTestSchedule override the environment's when
	// set (the daemon's periodic jobs); empty: the environment's.
	Schedule, RestoreTestSchedule string
}

// Servers are what cfg backs up: the targets of BACKUP_TARGETS_FILE, read
// now (getenv finds the passwords it names), or else the environment's
// server as the target "default".
func Servers(cfg config.Config, getenv func(string) string) ([]Server, error) {
	if cfg.TargetsFile == "" {
		return []Server{{Target: DefaultTarget, Config: cfg}}, nil
	}
	file, err := ReadFile(cfg.TargetsFile)
	if err != nil {
		return nil, err
	}
	return file.Servers(cfg, getenv)
}

// Servers are the file's targets, each with the configuration its backups
// run with: the environment's cfg, its connection (the password read from
// its variable or file), its databases and its overrides.
func (f File) Servers(cfg config.Config, getenv func(string) string) ([]Server, error) {
	var out []Server
	for _, t := range f.Targets {
		c := cfg
		db, err := config.ParseDatabaseURL(t.URL)
		if err != nil { // checked when read: only a file changed meanwhile
			return nil, fmt.Errorf("target %s: url: %w", t.Name, err)
		}
		if db.Password, err = password(t, getenv); err != nil {
			return nil, err
		}
		c.Database = db
		c.TargetsFile = ""
		c.Databases = config.Databases{Exclude: t.Exclude,
			MaxParallelPerServer: cfg.Databases.MaxParallelPerServer, MaxParallel: cfg.Databases.MaxParallel}
		if slices.Equal(t.Databases, []string{"*"}) {
			c.Databases.All = true
		} else {
			c.Databases.Names = t.Databases
		}
		if t.Compression != "" {
			c.CompressionFormat = archive.Format(t.Compression)
			c.CompressionLevel = archive.DefaultLevel[c.CompressionFormat]
		}
		if t.RetentionDays != 0 {
			c.LocalRetentionDays = t.RetentionDays
		}
		if t.TimeoutSeconds != 0 {
			c.Timeout = time.Duration(t.TimeoutSeconds) * time.Second
		}
		if t.Destinations != nil {
			c.Destinations.List = nil
			for _, raw := range t.Destinations {
				spec, err := destination.ParseURL(raw)
				if err != nil {
					return nil, fmt.Errorf("target %s: destination %s: %w", t.Name, config.RedactURL(raw, false), err)
				}
				c.Destinations.List = append(c.Destinations.List, spec)
			}
		}
		out = append(out, Server{Target: t.Name, Config: c, Schedule: t.Schedule, RestoreTestSchedule: t.RestoreTestSchedule})
	}
	return out, nil
}

// Destinations are the targets' own destinations (their "destinations:"
// override), by target: config.Config.TargetDestinations.
func (f File) Destinations() (map[string][]destination.Spec, error) {
	out := map[string][]destination.Spec{}
	for _, t := range f.Targets {
		if t.Destinations == nil {
			continue
		}
		specs := []destination.Spec{}
		for _, raw := range t.Destinations {
			spec, err := destination.ParseURL(raw)
			if err != nil {
				return nil, fmt.Errorf("target %s: destination %s: %w", t.Name, config.RedactURL(raw, false), err)
			}
			specs = append(specs, spec)
		}
		out[t.Name] = specs
	}
	return out, nil
}

// WithTargetDestinations is cfg knowing its targets file's own
// destinations (TargetDestinations), for the copies' healing and
// retention; without a targets file, cfg as it is.
func WithTargetDestinations(cfg config.Config) (config.Config, error) {
	if cfg.TargetsFile == "" {
		return cfg, nil
	}
	file, err := ReadFile(cfg.TargetsFile)
	if err != nil {
		return cfg, err
	}
	cfg.TargetDestinations, err = file.Destinations()
	return cfg, err
}

// password is a target's password: from its variable, or its file's first
// line; none named: empty (.pgpass, trust, peer).
func password(t Target, getenv func(string) string) (string, error) {
	switch {
	case t.PasswordEnv != "":
		pw := getenv(t.PasswordEnv)
		if pw == "" {
			return "", fmt.Errorf("target %s: password_env %s is not set", t.Name, t.PasswordEnv)
		}
		return pw, nil
	case t.PasswordFile != "":
		b, err := os.ReadFile(t.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("target %s: password_file: %w", t.Name, err)
		}
		pw, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(pw, "\r"), nil
	}
	return "", nil
}

// Unreachable is a server whose databases could not be listed this run.
type Unreachable struct {
	Target string
	Err    error
}

func (u Unreachable) Error() string { return fmt.Sprintf("target %s: %v", u.Target, u.Err) }

// Plan lists every server's databases now (Of) and returns the backups of
// the run; a server that cannot be reached is reported, the others go on.
func Plan(ctx context.Context, servers []Server) ([]Unit, []Unreachable) {
	var units []Unit
	var down []Unreachable
	for _, s := range servers {
		dbs, err := Of(ctx, s.Config)
		if err != nil {
			down = append(down, Unreachable{Target: s.Target, Err: fmt.Errorf("list the databases: %w", err)})
			continue
		}
		some, err := Units(s.Config, s.Target, dbs)
		if err != nil {
			down = append(down, Unreachable{Target: s.Target, Err: err})
		}
		units = append(units, some...)
	}
	return units, down
}
