// Package backuprun decides what a run of backups is and what it tells,
// whoever runs it — the CLI in one process, or the daemon's jobs: which
// servers and databases a run takes, the row that stands for a server
// whose databases could not be listed, the rows and the one mail of a run
// over several databases, and whether a backup's outcome is told at all.
// Plain functions over plain values; the callers do the I/O.
package backuprun

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mosaique/rgz-backup/internal/backup"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/notify"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// AllDatabases names, in a run's rows, every database of a server that
// could not be listed.
const AllDatabases = "*"

// Servers are the servers a run takes: target's alone when one is named
// (an error naming the targets when it is none of them); a scheduled run
// leaves out the servers with a schedule of their own (their own slots
// run them).
func Servers(all []targets.Server, target string, scheduled bool) ([]targets.Server, error) {
	var names []string
	out := slices.DeleteFunc(slices.Clone(all), func(s targets.Server) bool {
		names = append(names, s.Target)
		if target != "" {
			return s.Target != target
		}
		return scheduled && s.Schedule != ""
	})
	if target != "" && len(out) == 0 {
		return nil, &config.Error{Var: "--target", Value: target, Allowed: "must be one of the targets: " + strings.Join(names, ", ")}
	}
	return out, nil
}

// Only narrows a run's databases to the one named, which must be on one
// server only; a server that cannot be listed then stands for it.
func Only(units []targets.Unit, down []targets.Unreachable, database string) ([]targets.Unit, error) {
	var names []string
	units = slices.DeleteFunc(slices.Clone(units), func(u targets.Unit) bool {
		names = append(names, u.Database)
		return u.Database != database
	})
	switch {
	case len(units) == 0 && len(down) > 0:
		return nil, down[0]
	case len(units) == 0:
		return nil, &config.Error{Var: "--database", Value: database, Allowed: "must be one of the databases selected: " + strings.Join(names, ", ")}
	case len(units) > 1:
		return nil, &config.Error{Var: "--database", Value: database, Allowed: "is on several targets: choose one with --target"}
	}
	return units, nil
}

// Outcome is one database's backup in a run: the row recorded (ID empty:
// none) and the error.
type Outcome struct {
	Target, Database string
	Row              catalog.Execution
	Err              error
}

// Unreachable is the outcome of a server whose databases could not be
// listed: none of them was backed up.
func Unreachable(target string, err error) Outcome {
	return Outcome{Target: target, Database: AllDatabases, Err: err}
}

// Rows are what a run's mail tells, by target and database: each
// database's last row as reported (backup.Reported), a failed row naming
// the database and why when nothing was recorded (a server that could not
// be listed, a catalog that was down); a backup that never started
// (another one held the lock, or the limits) is no news.
func Rows(outcomes []Outcome) []catalog.Execution {
	var rows []catalog.Execution
	for _, o := range outcomes {
		if o.Row.ID == "" && o.Err != nil && backup.NotStarted(o.Err) {
			continue
		}
		row := backup.Reported(o.Row, o.Err)
		if row.ID == "" {
			db, msg := o.Database, "not recorded"
			if o.Err != nil {
				msg, _, _ = strings.Cut(o.Err.Error(), "\n")
			}
			row = catalog.Execution{Status: catalog.StatusFailed, TargetName: o.Target, DatabaseName: &db, ErrorMessage: &msg}
		}
		rows = append(rows, row)
	}
	slices.SortStableFunc(rows, func(a, b catalog.Execution) int {
		if c := strings.Compare(a.TargetName, b.TargetName); c != 0 {
			return c
		}
		return strings.Compare(deref(a.DatabaseName), deref(b.DatabaseName))
	})
	return rows
}

// AnyGood says whether a row is a good backup: the run's copies and
// retention are then worth running once.
func AnyGood(rows []catalog.Execution) bool {
	return slices.ContainsFunc(rows, func(r catalog.Execution) bool { return r.ID != "" && r.Status.Good() })
}

// Event is the one notification of a run: one database recorded alone is
// told as a backup is (its report; server names its server), several in
// one mail (notify.ForRun). ok is false when there is nothing to tell.
func Event(rows []catalog.Execution, host string, server func(target string) string) (e notify.Event, ok bool) {
	switch {
	case len(rows) == 1 && rows[0].ID != "":
		return notify.ForBackup(rows[0], host, server(rows[0].TargetName)), true
	case len(rows) > 0:
		return notify.ForRun(rows, host), true
	}
	return notify.Event{}, false
}

// Told says whether a backup's outcome is told on its own: a success or a
// partial one, a failure that retrying cannot heal, or the last attempt's
// failure — never an attempt a retry follows, nor a backup that did not
// start (another one held the lock).
func Told(err error, lastAttempt bool) bool {
	switch {
	case err == nil:
		return true
	case backup.NotStarted(err):
		return false
	case backup.Permanent(err):
		return true
	}
	return lastAttempt
}

// Held is the error of a run that did nothing because another backup held
// a lock (exit 75 from the CLI: try again later), if that is all it did.
func Held(outcomes []Outcome) (*lock.HeldError, bool) {
	var held *lock.HeldError
	for _, o := range outcomes {
		if errors.As(o.Err, &held) {
			return held, true
		}
	}
	return nil, false
}

// Verdict is a run's outcome as one error: nil when every database
// succeeded; which failed; else which did not start.
func Verdict(outcomes []Outcome) error {
	var failed, notStarted []string
	for _, o := range outcomes {
		switch {
		case o.Err != nil && backup.NotStarted(o.Err):
			notStarted = append(notStarted, o.Name())
		case o.Err != nil:
			failed = append(failed, o.Name())
		}
	}
	switch {
	case len(failed) > 0:
		return fmt.Errorf("%d of %d databases failed: %s", len(failed), len(outcomes), strings.Join(failed, ", "))
	case len(notStarted) > 0:
		if held, ok := Held(outcomes); ok {
			return held
		}
		return fmt.Errorf("not started: %s", strings.Join(notStarted, ", "))
	}
	return nil
}

// Name is target/database, or the database alone on the default target.
func (o Outcome) Name() string {
	if o.Target == targets.DefaultTarget {
		return o.Database
	}
	return o.Target + "/" + o.Database
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
