package retention

import (
	"context"
	"fmt"

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

// carryOutDestinations deletes what each destination's plan says. A
// destination that cannot be reached delays its own deletions (a
// problem reported), never another's.
func (o Options) carryOutDestinations(ctx context.Context, store *catalog.Store, byID map[string]catalog.Execution, report *Report) {
	if len(report.Destinations) == 0 {
		return
	}
	opened, err := o.Config.OpenDestinations(o.Config.EveryDestination())
	if err != nil {
		report.Problems = append(report.Problems, err.Error())
		return
	}
	defer opened.Close()
	for i := range report.Destinations {
		dp := &report.Destinations[i]
		st := opened.Stores[i]
		for _, d := range dp.Plan.Deletions() {
			row := byID[d.Copy.ID]
			if err := removeCopy(ctx, st, row); err != nil {
				report.Problems = append(report.Problems, fmt.Sprintf("%s not deleted from %s: %v", row.Filename, dp.Destination, err))
				o.Log.Warn("copy not deleted", "file", row.Filename, "destination", dp.Destination, "error", err)
				continue
			}
			if err := store.MarkCopyDeleted(ctx, row.ID, dp.Destination, clock.Or(o.Clock).Now()); err != nil {
				report.Problems = append(report.Problems, err.Error())
				continue
			}
			dp.Deleted = append(dp.Deleted, row.ID)
			o.Log.Info("deleted by retention", "file", row.Filename, "destination", dp.Destination, "reason", d.Why)
		}
	}
}

// removeCopy deletes a backup's files from a destination, the dump last:
// while it stays, the copy is still there to be found.
func removeCopy(ctx context.Context, st destination.Store, row catalog.Execution) error {
	names, err := layout.NamesOf(row)
	if err != nil {
		return err
	}
	files := names.All()
	for i := len(files) - 1; i >= 0; i-- {
		if err := st.Remove(ctx, destination.Name(layout.Folder(row), row.BackupDate, files[i])); err != nil {
			return err
		}
	}
	return nil
}
