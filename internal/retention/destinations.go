package retention

import (
	"context"
	"errors"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/layout"
)

// DestinationPlan is the policy's plan for one of BACKUP_DESTINATIONS,
// and the backups whose copies it removed there.
type DestinationPlan struct {
	Destination string   `json:"destination"`
	Plan        Plan     `json:"plan"`
	Deleted     []string `json:"deleted"`
}

// DestinationCopies are the live copies in the destination spec names,
// each expiring after the destination's retention_days (default
// BACKUP_LOCAL_RETENTION_DAYS), compliance copies after
// BACKUP_CRITICAL_RETENTION_DAYS.
func DestinationCopies(live []catalog.LiveCopy, spec destination.Spec, cfg config.Config) []Copy {
	days := spec.RetentionDays
	if days == 0 {
		days = cfg.LocalRetentionDays
	}
	var out []Copy
	for _, lc := range live {
		if lc.Destination != spec.URL {
			continue
		}
		c := CopyOf(lc.Backup)
		if !c.Good {
			continue
		}
		c.Expires = Expiry(lc.Backup.BackupDate, lc.Backup.RetentionClass, days, cfg.CriticalRetentionDays)
		out = append(out, c)
	}
	return out
}

// decideDestinations adds each destination's plan to the report.
// Every destination: BACKUP_DESTINATIONS and the targets' own.
func (o Options) decideDestinations(ctx context.Context, store *catalog.Store, report *Report) error {
	every := o.Config.EveryDestination()
	if len(every) == 0 {
		return nil
	}
	live, err := store.LiveCopies(ctx)
	if err != nil {
		return err
	}
	for _, spec := range every {
		plan := Decide(DestinationCopies(live, spec, o.Config), o.At, Rules{MinKeep: o.Config.MinKeep})
		if o.AllowMassDelete {
			plan = plan.AllowMassDelete()
		}
		report.Destinations = append(report.Destinations, DestinationPlan{Destination: spec.URL, Plan: plan, Deleted: []string{}})
	}
	return nil
}

// carryOutDestinations deletes what each destination's plan says, as any
// place's deletions are carried out (place.carryOut). A destination that
// cannot be reached delays its own deletions (a problem reported), never
// another's.
func (o Options) carryOutDestinations(ctx context.Context, store *catalog.Store, byID map[string]catalog.Execution, report *Report) error {
	opened, err := o.Config.OpenDestinations(o.Config.EveryDestination())
	if err != nil {
		report.Problems = append(report.Problems, err.Error())
		return nil
	}
	defer opened.Close()
	for i := range report.Destinations {
		dp, st := &report.Destinations[i], opened.Stores[i]
		url := dp.Destination
		at := place{name: " from " + url, clock: clock.Or(o.Clock),
			remove: func(row catalog.Execution) error { return removeCopy(ctx, st, copyNames(row)) },
			mark: func(ctx context.Context, id string, at time.Time) error {
				return store.MarkCopyDeleted(ctx, id, url, at)
			}}
		deleted, err := at.carryOut(ctx, dp.Plan, byID, &report.Problems, o.Log)
		dp.Deleted = append(dp.Deleted, deleted...)
		if err != nil {
			return err
		}
	}
	return nil
}

// copyNames are the names of a backup's files in a destination, the dump
// first (destination.Name); nil for a row whose names are not the tool's.
func copyNames(row catalog.Execution) []string {
	names, err := layout.NamesOf(row)
	if err != nil {
		return nil
	}
	var out []string
	for _, f := range names.All() {
		out = append(out, destination.Name(layout.Folder(row), row.BackupDate, f))
	}
	return out
}

// removeCopy deletes a copy's files from a place, the dump last: while it
// stays, the copy is still there to be found. The same for every kind of
// place.
func removeCopy(ctx context.Context, st destination.Store, names []string) error {
	if len(names) == 0 {
		return errors.New("not a backup's names: nothing located, nothing removed")
	}
	for i := len(names) - 1; i >= 0; i-- {
		if err := st.Remove(ctx, names[i]); err != nil {
			return err
		}
	}
	return nil
}
