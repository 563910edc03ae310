package targets

import (
	"context"
	"errors"
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
	return f.servers(cfg, getenv, true)
}

// Settings are Servers without their passwords: for what reads the
// archive without connecting to the server (a restore on the day the
// server and its secrets are gone).
func Settings(cfg config.Config) ([]Server, error) {
	if cfg.TargetsFile == "" {
		return []Server{{Target: DefaultTarget, Config: cfg}}, nil
	}
	file, err := ReadFile(cfg.TargetsFile)
	if err != nil {
		return nil, err
	}
	return file.servers(cfg, nil, false)
}

func (f File) servers(cfg config.Config, getenv func(string) string, passwords bool) ([]Server, error) {
	var out []Server
	for _, t := range f.Targets {
		c := cfg
		db, err := config.ParseDatabaseURL(t.URL)
		if err != nil { // checked when read: only a file changed meanwhile
			return nil, fmt.Errorf("target %s: url: %w", t.Name, err)
		}
		if passwords {
			if db.Password, err = password(t, getenv); err != nil {
				return nil, err
			}
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
		if t.PITR != nil {
			c.PITR.Enabled = *t.PITR
		}
		out = append(out, Server{Target: t.Name, Config: c, Schedule: t.Schedule, RestoreTestSchedule: t.RestoreTestSchedule})
	}
	return out, nil
}

// ChooseStreaming is the streaming server named (a target's name), or,
// with no name, the only one (Streaming); the error says what to set.
func ChooseStreaming(servers []Server, name string) (Server, error) {
	streaming := Streaming(servers)
	names := make([]string, len(streaming))
	for i, s := range streaming {
		names[i] = s.Target
	}
	if name != "" {
		for _, s := range servers {
			if s.Target != name {
				continue
			}
			if !s.Config.PITR.Enabled {
				return Server{}, fmt.Errorf("target %s: point-in-time recovery is off for it (pitr: true in the targets file, or BACKUP_PITR_ENABLED=true)", name)
			}
			return s, nil
		}
		return Server{}, fmt.Errorf("no target %q (the servers that stream: %s)", name, strings.Join(names, ", "))
	}
	switch len(streaming) {
	case 0:
		return Server{}, errors.New("no server streams: set BACKUP_PITR_ENABLED=true, or pitr: true for a target of the targets file (docs/PITR.md)")
	case 1:
		return streaming[0], nil
	}
	return Server{}, fmt.Errorf("%d servers stream (%s): name one with --target", len(names), strings.Join(names, ", "))
}

// Streaming are the servers whose WAL serve streams for point-in-time
// recovery: those with PITR enabled, each server once (WAL belongs to the
// whole server: two targets on one server share its stream, the first
// one's settings win).
func Streaming(servers []Server) []Server {
	var out []Server
	seen := map[string]bool{}
	for _, s := range servers {
		where := serverOf(s.Config.Database)
		if !s.Config.PITR.Enabled || seen[where] {
			continue
		}
		seen[where] = true
		out = append(out, s)
	}
	return out
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
