package retention

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
	"github.com/mosaique/rgz-backup/internal/testenv/s3test"
)

var (
	cluster *pgtest.Cluster
	s3srv   *s3test.Server
)

func TestMain(m *testing.M) {
	os.Exit(s3test.Run(&s3srv, func() int { return pgtest.Main(m, &cluster) }))
}

// store is a real catalog and backup directory holding one backup a day
// for days days up to today, each with its files on disk; the first of
// each month is a compliance copy, as backup.Run records them.
type store struct {
	t     *testing.T
	db    string // the catalog database
	cfg   config.Config
	cat   *catalog.Store
	rows  []catalog.Execution // oldest first
	today time.Time
}

func newStore(t *testing.T, days int) *store {
	t.Helper()
	db := cluster.NewDatabase(t)
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"BACKUP_LOCAL_DIR": t.TempDir(), "BACKUP_DATABASE_URL": cluster.URL(db)}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Open(context.Background(), cfg.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	if _, err := cat.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := &store{t: t, db: db, cfg: cfg, cat: cat, today: time.Now().UTC().Truncate(24 * time.Hour)}
	for i := days - 1; i >= 0; i-- {
		s.add(s.today.AddDate(0, 0, -i).Add(3*time.Hour), catalog.StatusSuccess)
	}
	return s
}

func (s *store) add(date time.Time, status catalog.Status) catalog.Execution {
	s.t.Helper()
	name := date.Format("20060102_150405") + ".dump.gz"
	path := filepath.Join(s.cfg.LocalDir, name)
	row := catalog.Execution{ID: uuid.NewString(), BackupType: "pg_dump", BackupDate: date, Filename: name,
		FilePath: &path, Status: status, TriggeredBy: catalog.TriggerScheduled, Attempt: 1}
	if status != catalog.StatusFailed {
		row.RetentionClass = ClassOf(row, s.rows)
		until := catalog.Date{Time: Expiry(date, row.RetentionClass, s.cfg.LocalRetentionDays, s.cfg.CriticalRetentionDays)}
		row.RetentionUntil = &until
	}
	files, err := layout.Of(row, s.cfg.LocalDir)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, f := range files.All() {
		if err := os.WriteFile(f, []byte("backup "+name), 0o640); err != nil {
			s.t.Fatal(err)
		}
	}
	if err := s.cat.Insert(context.Background(), &row); err != nil {
		s.t.Fatal(err)
	}
	s.rows = append(s.rows, row)
	return row
}

func (s *store) run(o Options) (Report, error) {
	o.Config = s.cfg
	return Run(context.Background(), s.cat, o)
}

func (s *store) rowsNow() map[string]catalog.Execution {
	s.t.Helper()
	rows, err := s.cat.List(context.Background(), catalog.Filter{})
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]catalog.Execution{}
	for _, r := range rows {
		out[r.ID] = r
	}
	return out
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

func TestExecutorDeletesExpiredFilesKeepsRows(t *testing.T) {
	t.Parallel()
	s := newStore(t, 40)
	stray := filepath.Join(s.cfg.LocalDir, "copied-by-hand.dump.gz")
	os.WriteFile(stray, []byte("?"), 0o640)

	dry, err := s.run(Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Local.Deletions()) == 0 || len(dry.Deleted) != 0 {
		t.Fatalf("dry run: %d planned, %d deleted", len(dry.Local.Deletions()), len(dry.Deleted))
	}
	for _, r := range s.rows {
		if !exists(*r.FilePath) {
			t.Fatalf("the dry run deleted %s", r.Filename)
		}
	}

	report, err := s.run(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(report.Unknown, []string{"copied-by-hand.dump.gz"}) || !exists(stray) {
		t.Errorf("unknown files %v (exists: %v): reported and left alone", report.Unknown, exists(stray))
	}
	after := s.rowsNow()
	if len(after) != 40 {
		t.Fatalf("%d rows after retention, want all 40: rows are never deleted", len(after))
	}
	deleted := 0
	for _, r := range s.rows {
		now := after[r.ID]
		gone := !exists(*r.FilePath)
		if gone != (now.DeletedAt != nil) {
			t.Errorf("%s: file gone %v, deleted_at %v", r.Filename, gone, now.DeletedAt)
		}
		expired := s.today.After(r.RetentionUntil.Time)
		if gone != expired {
			t.Errorf("%s (%s, until %s): gone %v", r.Filename, r.RetentionClass, r.RetentionUntil.Format(time.DateOnly), gone)
		}
		if gone {
			deleted++
			files, err := layout.Of(r, s.cfg.LocalDir)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files.All() {
				if exists(f) {
					t.Errorf("%s left behind", f)
				}
			}
		}
	}
	if deleted == 0 || deleted != len(report.Deleted) {
		t.Fatalf("%d deleted, report says %d", deleted, len(report.Deleted))
	}
	// A second run finds nothing more to do.
	if again, err := s.run(Options{}); err != nil || len(again.Deleted) != 0 {
		t.Fatalf("second run: %v, %d deleted", err, len(again.Deleted))
	}
}

// A backup read by a restore (a shared flock on its file) or by a running
// restore test (its catalog row) is not deleted; it goes once released.
func TestExecutorSparesBackupsBeingRead(t *testing.T) {
	t.Parallel()
	s := newStore(t, 35)
	var expired []catalog.Execution
	for _, r := range s.rows {
		if r.RetentionClass == ClassDaily && s.today.After(r.RetentionUntil.Time) {
			expired = append(expired, r)
		}
	}
	if len(expired) < 2 {
		t.Fatalf("only %d expired daily backups", len(expired))
	}
	read, tested := expired[0], expired[1]
	f, err := lock.OpenForReading(*read.FilePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	conn := cluster.Conn(t, s.db)
	if _, err := conn.Exec(context.Background(), `INSERT INTO backup_restore_tests (id, backup_id, started_at, status, triggered_by)
		VALUES ($1, $2, now() AT TIME ZONE 'UTC', 'running', 'manual')`, uuid.NewString(), tested.ID); err != nil {
		t.Fatal(err)
	}

	if _, err := s.run(Options{}); err != nil {
		t.Fatal(err)
	}
	if !exists(*read.FilePath) || !exists(*tested.FilePath) {
		t.Fatalf("deleted while read: %v, while restore-tested: %v", !exists(*read.FilePath), !exists(*tested.FilePath))
	}
	f.Close()
	conn.Exec(context.Background(), `UPDATE backup_restore_tests SET status = 'success'`)
	if _, err := s.run(Options{}); err != nil {
		t.Fatal(err)
	}
	if exists(*read.FilePath) || exists(*tested.FilePath) {
		t.Fatal("still there once released")
	}
}

// A clock a year ahead would expire everything: the run deletes nothing,
// says why and fails; --allow-mass-delete lifts it.
func TestExecutorRefusesToWipeTheStore(t *testing.T) {
	t.Parallel()
	s := newStore(t, 20)
	report, err := s.run(Options{Clock: clock.Shifted(time.Until(time.Now().AddDate(1, 0, 0)))})
	if !errors.Is(err, ErrRefused) || report.Local.Refused == "" {
		t.Fatalf("err %v", err)
	}
	for _, r := range s.rows {
		if !exists(*r.FilePath) {
			t.Fatalf("%s deleted by a refused run", r.Filename)
		}
	}
	report, err = s.run(Options{Clock: clock.Shifted(time.Until(time.Now().AddDate(1, 0, 0))), AllowMassDelete: true})
	if err != nil || len(report.Deleted) == 0 {
		t.Fatalf("allowed: %v, %d deleted", err, len(report.Deleted))
	}
	left := 0
	for _, r := range s.rows {
		if exists(*r.FilePath) {
			left++
		}
	}
	if left < s.cfg.MinKeep {
		t.Fatalf("%d backups left, fewer than BACKUP_MIN_KEEP %d", left, s.cfg.MinKeep)
	}
}

// Backups taken before the compliance rule existed get their month's
// compliance copy at the next run, before anything is deleted.
func TestExecutorPromotesOlderBackups(t *testing.T) {
	t.Parallel()
	s := newStore(t, 0)
	old := time.Now().UTC().AddDate(0, -3, 0)
	month := time.Date(old.Year(), old.Month(), 2, 3, 0, 0, 0, time.UTC)
	first := s.add(month, catalog.StatusSuccess)
	second := s.add(month.AddDate(0, 0, 1), catalog.StatusSuccess)
	conn := cluster.Conn(t, s.db)
	conn.Exec(context.Background(), `UPDATE backup_executions SET retention_class = 'daily', retention_until = backup_date::date + 30`)
	for range 7 { // enough newer backups that MinKeep does not hide the rule
		s.add(time.Now().UTC().AddDate(0, 0, -len(s.rows)), catalog.StatusSuccess)
	}

	report, err := s.run(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Promoted) == 0 || report.Promoted[0].ID != first.ID {
		t.Fatalf("promoted %+v", report.Promoted)
	}
	rows := s.rowsNow()
	if rows[first.ID].RetentionClass != ClassCompliance || !exists(*first.FilePath) {
		t.Fatalf("first of its month: %s, file kept %v", rows[first.ID].RetentionClass, exists(*first.FilePath))
	}
	if rows[second.ID].DeletedAt == nil || exists(*second.FilePath) {
		t.Fatal("the month's second backup, a daily copy 3 months old, should be gone")
	}
}

// S3 copies follow the same policy with their own days: daily copies go
// after BACKUP_S3_RETENTION_DAYS (every version), compliance copies stay.
func TestExecutorS3Retention(t *testing.T) {
	t.Parallel()
	s := newStore(t, 0)
	s.cfg.S3 = config.S3{Enabled: true, Bucket: s3srv.NewBucket(t, true), Region: s3srv.Region, AccessKeyID: s3srv.AccessKey,
		SecretAccessKey: s3srv.SecretKey, Endpoint: s3srv.Endpoint, RetentionDays: 10}
	s3, err := destination.NewS3(s.cfg.S3.Config())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 19; i >= 0; i-- {
		row := s.add(s.today.AddDate(0, 0, -i).Add(3*time.Hour), catalog.StatusSuccess)
		key, err := s3.Key("", row.BackupDate, row.Filename)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(*row.FilePath)
		if err != nil {
			t.Fatal(err)
		}
		want := destination.Want{Size: int64(len(data)), CRC32: crc32.ChecksumIEEE(data)}
		if err := s3.Put(ctx, destination.Name("", row.BackupDate, row.Filename), bytes.NewReader(data), destination.PutOptions{Want: want}); err != nil {
			t.Fatal(err)
		}
		if err := s.cat.SetArchived(ctx, row.ID, s3.URL(key), Expiry(row.BackupDate, row.RetentionClass, 10, 2555)); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if err := s.cat.RecordCopy(ctx, catalog.Copy{BackupID: row.ID, Destination: s3.String(), Location: key, VerifiedAt: &now}); err != nil {
			t.Fatal(err)
		}
	}
	// The prefix changed since: each copy goes from where it went.
	s.cfg.S3.Prefix = "moved"
	report, err := s.run(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if report.S3 == nil || len(report.S3Deleted) == 0 {
		t.Fatalf("S3 plan %+v, deleted %v", report.S3, report.S3Deleted)
	}
	rows := s.rowsNow()
	for _, r := range s.rows {
		expired := r.RetentionClass == ClassDaily && s.today.After(Expiry(r.BackupDate, ClassDaily, 10, 2555))
		_, err := s3.Stat(ctx, destination.Name("", r.BackupDate, r.Filename))
		if err != nil && !errors.Is(err, destination.ErrNotFound) {
			t.Fatal(err)
		}
		there := err == nil
		if there == expired || (rows[r.ID].S3DeletedAt != nil) != expired {
			t.Errorf("%s (%s): in S3 %v, s3_deleted_at %v, expired %v", r.Filename, r.RetentionClass, there, rows[r.ID].S3DeletedAt, expired)
		}
		if rows[r.ID].DeletedAt != nil {
			t.Errorf("%s: local copy deleted, but its 30 days are not over", r.Filename)
		}
		if copies, _ := s.cat.Copies(ctx, r.ID); len(copies) != 1 || copies[0].Verified() == expired {
			t.Errorf("%s: its S3 copy's record %+v, expired %v", r.Filename, copies, expired)
		}
	}
}
