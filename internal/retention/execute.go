package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/lock"
)

// Options of one retention run.
type Options struct {
	Config config.Config
	// Clock is the real time: it stamps deletions and tells which restore
	// tests still run. The real clock when nil.
	Clock clock.Clock
	// At evaluates the policy as of another instant (a dry run's "what
	// will be gone by then?"); zero: the clock's now.
	At              time.Time
	DryRun          bool // decide and report, change nothing
	AllowMassDelete bool // lift the refusal to delete more than half
	Log             *slog.Logger
}

func (o *Options) defaults() {
	o.Clock = clock.Or(o.Clock)
	if o.At.IsZero() {
		o.At = o.Clock.Now()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Report is what one run decided and did.
type Report struct {
	Now    time.Time `json:"now"`
	DryRun bool      `json:"dry_run"`
	// Promoted became their month's compliance copy.
	Promoted []Copy `json:"promoted"`
	// Local is the policy's plan for BACKUP_LOCAL_DIR.
	Local Plan `json:"local"`
	// Deleted names the backups whose local files were removed.
	Deleted []string `json:"deleted"`
	// Problems are deletions that did not happen, and why.
	Problems []string `json:"problems"`
	// Unknown are files in BACKUP_LOCAL_DIR that no backup in the catalog
	// names: reported, never deleted.
	Unknown []string `json:"unknown_files"`
	// S3 is the plan for the S3 copies (when BACKUP_S3_ENABLED), and
	// S3Deleted the backups whose S3 objects were removed.
	S3        *Plan    `json:"s3,omitempty"`
	S3Deleted []string `json:"s3_deleted"`
	// Destinations are the plans for BACKUP_DESTINATIONS, one each.
	Destinations []DestinationPlan `json:"destinations,omitempty"`
}

// ErrRefused means the policy refused to delete anything (see Plan.Refused).
var ErrRefused = errors.New("retention refused")

// restoreTestsAlive bounds how long a "running" restore test pins its
// backup: a test that crashed must not keep a backup forever.
const restoreTestsAlive = 24 * time.Hour

// Run applies the policy to the backup directory and the catalog: it
// promotes each month's compliance copy, then deletes the local files of
// the expired backups the safety rules allow, and marks their rows
// (deleted_at). Rows are never deleted. Outside a dry run it holds the
// backup lock (lock.Both), so it never races a backup.
func Run(ctx context.Context, store *catalog.Store, o Options) (Report, error) {
	o.defaults()
	report := Report{Now: o.At.UTC(), DryRun: o.DryRun}
	if !o.DryRun {
		release, err := lock.Both(ctx, o.Config.LocalDir, o.Config.Catalog)
		if err != nil {
			return report, err
		}
		defer release()
	}
	// Only rows with a copy left: the work does not grow with the history.
	rows, err := store.List(ctx, catalog.Filter{Live: true})
	if err != nil {
		return report, err
	}
	if report.Promoted, err = promote(ctx, store, rows, o.Config, o.DryRun); err != nil {
		return report, err
	}
	if err := o.decide(ctx, store, rows, &report); err != nil || o.DryRun {
		return report, err
	}
	return report, o.carryOut(ctx, store, rows, &report)
}

// decide fills the report's plans, and refuses them all when one is
// refused: a wrong clock is wrong for every place.
func (o Options) decide(ctx context.Context, store *catalog.Store, rows []catalog.Execution, report *Report) error {
	cfg := o.Config
	restoring, err := store.BeingRestored(ctx, o.Clock.Now().Add(-restoreTestsAlive))
	if err != nil {
		return err
	}
	report.Local = Decide(LocalCopies(rows, cfg, restoring), o.At, Rules{MinKeep: cfg.MinKeep})
	report.Unknown = UnknownFiles(cfg.LocalDir, rows)
	if cfg.S3.Enabled {
		plan := Decide(S3Copies(rows, cfg), o.At, Rules{MinKeep: cfg.MinKeep})
		report.S3 = &plan
	}
	if o.AllowMassDelete {
		report.Local = report.Local.AllowMassDelete()
		if report.S3 != nil {
			*report.S3 = report.S3.AllowMassDelete()
		}
	}
	if err := o.decideDestinations(ctx, store, report); err != nil {
		return err
	}
	if report.Local.Refused != "" {
		return fmt.Errorf("%w: %s", ErrRefused, report.Local.Refused)
	}
	if report.S3 != nil && report.S3.Refused != "" {
		return fmt.Errorf("%w: in S3, %s", ErrRefused, report.S3.Refused)
	}
	for _, d := range report.Destinations {
		if d.Plan.Refused != "" {
			return fmt.Errorf("%w: in %s, %s", ErrRefused, d.Destination, d.Plan.Refused)
		}
	}
	return nil
}

// carryOut deletes what the plans say, locally then in S3, and marks the
// rows. A deletion that fails is a problem reported, not a stop.
func (o Options) carryOut(ctx context.Context, store *catalog.Store, rows []catalog.Execution, report *Report) error {
	cfg := o.Config
	byID := map[string]catalog.Execution{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	var err error
	local := place{name: "", remove: func(row catalog.Execution) error { return removeFiles(row, cfg.LocalDir) },
		mark: store.MarkDeleted, clock: o.Clock}
	if report.Deleted, err = local.carryOut(ctx, report.Local, byID, &report.Problems, o.Log); err != nil {
		return err
	}
	if report.S3 != nil {
		// The archive bucket, opened without its prefix: each copy is
		// removed where archive_s3_path says it went, whatever the prefix
		// is now. The copy is the specification's columns' (s3_deleted_at) and,
		// since destinations, a backup_copies row's too.
		bucket, err := destination.NewS3(destination.S3Config{S3Settings: cfg.S3.Settings(), Bucket: cfg.S3.Bucket})
		if err != nil {
			return err
		}
		defer bucket.Close()
		mark := func(ctx context.Context, id string, at time.Time) error {
			if err := store.MarkS3Deleted(ctx, id, at); err != nil {
				return err
			}
			if row := byID[id]; row.ArchiveS3Path != nil {
				return store.MarkCopyDeletedAt(ctx, id, *row.ArchiveS3Path, at)
			}
			return nil
		}
		remote := place{name: " from S3", mark: mark, clock: o.Clock,
			remove: func(row catalog.Execution) error { return removeCopy(ctx, bucket, archivedNames(row, cfg.S3.Prefix)) }}
		if report.S3Deleted, err = remote.carryOut(ctx, *report.S3, byID, &report.Problems, o.Log); err != nil {
			return err
		}
	}
	if len(report.Destinations) > 0 {
		live, err := store.LiveCopies(ctx)
		if err != nil {
			return err
		}
		for _, lc := range live {
			byID[lc.Backup.ID] = lc.Backup // backups whose local file and S3 copy are gone
		}
		if err := o.carryOutDestinations(ctx, store, byID, report); err != nil {
			return err
		}
	}
	if len(report.Problems) > 0 {
		return fmt.Errorf("retention: %d deletions failed: %s", len(report.Problems), strings.Join(report.Problems, "; "))
	}
	return nil
}

// place is where copies are deleted: the local directory or S3.
type place struct {
	name   string // "" or " from S3", for messages
	remove func(catalog.Execution) error
	mark   func(ctx context.Context, id string, at time.Time) error
	clock  clock.Clock // stamps the marks
}

// carryOut deletes a plan's copies from p and marks their rows. A copy
// that cannot be removed is a problem, and the others go on; a row that
// cannot be marked stops the run.
func (p place) carryOut(ctx context.Context, plan Plan, byID map[string]catalog.Execution, problems *[]string, log *slog.Logger) ([]string, error) {
	var deleted []string
	for _, d := range plan.Deletions() {
		row := byID[d.Copy.ID]
		if err := p.remove(row); err != nil {
			*problems = append(*problems, fmt.Sprintf("%s not deleted%s: %v", row.Filename, p.name, err))
			log.Warn("copy not deleted"+p.name, "file", row.Filename, "error", err)
			continue
		}
		if err := p.mark(ctx, row.ID, p.clock.Now()); err != nil {
			return deleted, fmt.Errorf("%s deleted%s, but: %w", row.Filename, p.name, err)
		}
		deleted = append(deleted, row.ID)
		log.Info("deleted by retention"+p.name, "file", row.Filename, "reason", d.Why)
	}
	return deleted, nil
}

// S3Copies are the rows with an S3 copy not yet deleted, as the policy
// sees them: kept BACKUP_S3_RETENTION_DAYS, or
// BACKUP_CRITICAL_RETENTION_DAYS for a compliance copy.
func S3Copies(rows []catalog.Execution, cfg config.Config) []Copy {
	var copies []Copy
	for _, r := range rows {
		c := CopyOf(r)
		if r.ArchiveS3Path == nil || r.S3DeletedAt != nil || !c.Good {
			continue
		}
		c.Expires = Expiry(r.BackupDate, r.RetentionClass, cfg.S3.RetentionDays, cfg.CriticalRetentionDays)
		copies = append(copies, c)
	}
	return copies
}

// archivedNames are the keys of a backup's files in the archive bucket:
// beside where archive_s3_path says the dump went, else below prefix as
// a copy goes today.
func archivedNames(row catalog.Execution, prefix string) []string {
	names := copyNames(row)
	if names == nil || row.ArchiveS3Path == nil {
		return names
	}
	folder := path.Join(prefix, path.Dir(names[0]))
	_, recorded, ok := strings.Cut(strings.TrimPrefix(*row.ArchiveS3Path, "s3://"), "/")
	if ok && path.Base(recorded) == row.Filename {
		folder = path.Dir(recorded) // where it went, whatever the prefix is now
	}
	for i, n := range names {
		names[i] = path.Join(folder, path.Base(n))
	}
	return names
}

// promote makes the first good backup of each month without a compliance
// copy that month's compliance copy (backups taken before the rule, or a
// month whose first backup was recorded late), in rows and, unless
// dryRun, in the catalog.
func promote(ctx context.Context, store *catalog.Store, rows []catalog.Execution, cfg config.Config, dryRun bool) ([]Copy, error) {
	var copies []Copy
	for _, r := range rows {
		copies = append(copies, CopyOf(r))
	}
	promoted := Promotions(copies)
	for _, p := range promoted {
		until := Expiry(p.Date, ClassCompliance, cfg.LocalRetentionDays, cfg.CriticalRetentionDays)
		for i := range rows {
			if rows[i].ID == p.ID {
				rows[i].RetentionClass, rows[i].RetentionUntil = ClassCompliance, &catalog.Date{Time: until}
			}
		}
		if !dryRun {
			if err := store.SetClass(ctx, p.ID, ClassCompliance, until); err != nil {
				return nil, err
			}
		}
	}
	return promoted, nil
}

// LocalCopies are the rows whose files are still in dir, as the policy
// sees them: every good backup not yet deleted. A failed attempt owns no
// file (whatever name its row carries), so it is no copy: anything it left
// behind is an unknown file, reported and never deleted. restoring names
// backups a restore test reads; a file some process holds open for
// reading is in use too.
func LocalCopies(rows []catalog.Execution, cfg config.Config, restoring map[string]bool) []Copy {
	var copies []Copy
	for _, r := range rows {
		c := CopyOf(r)
		if r.DeletedAt != nil || !c.Good {
			continue
		}
		c.Expires = LocalExpiry(r, cfg)
		files, err := layout.Of(r, cfg.LocalDir)
		// A row whose files are not where the tool puts them is never
		// deleted here: removeFiles would refuse it, and say so.
		c.InUse = restoring[r.ID] || err == nil && lock.BeingRead(files.Dump)
		copies = append(copies, c)
	}
	return copies
}

// UnknownFiles lists the regular files in dir that no live good backup row
// owns (hidden files, the lock and temporary files, are not listed).
func UnknownFiles(dir string, rows []catalog.Execution) []string {
	known := map[string]bool{}
	for _, r := range rows {
		if r.DeletedAt == nil && CopyOf(r).Good {
			if names, err := layout.NamesOf(r); err == nil {
				for _, f := range names.All() {
					known[f] = true
				}
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var unknown []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") && !known[e.Name()] {
			unknown = append(unknown, e.Name())
		}
	}
	sort.Strings(unknown)
	return unknown
}

// removeFiles removes a backup's files: the dump first, unless a reader
// holds it, then its sidecars.
func removeFiles(row catalog.Execution, dir string) error {
	files, err := layout.Of(row, dir)
	if err != nil {
		return err
	}
	if err := lock.RemoveUnlessRead(files.Dump); err != nil {
		return err
	}
	for _, f := range files.Sidecars() {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return archive.SyncDir(filepath.Dir(files.Dump))
}
