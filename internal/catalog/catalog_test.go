package catalog

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
	"github.com/mosaique/rgz-backup/internal/toc"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { pgtest.Main(m, &cluster) }

func openStore(t *testing.T) (*Store, string) {
	t.Helper()
	url := cluster.URL(cluster.NewDatabase(t))
	s, err := Open(context.Background(), config.Database{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, url
}

// migratedStore is openStore with the catalog's schema in place.
func migratedStore(t *testing.T) (*Store, string) {
	t.Helper()
	s, url := openStore(t)
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, url
}

func ptr[T any](v T) *T { return &v }

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	t.Parallel()
	s, url := openStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	applied := make([][]string, 4)
	errs := make([]error, 4)
	for i := range 4 { // four replicas starting at once
		wg.Add(1)
		go func() {
			defer wg.Done()
			s2, err := Open(ctx, config.Database{URL: url})
			if err != nil {
				errs[i] = err
				return
			}
			defer s2.Close()
			applied[i], errs[i] = s2.Migrate(ctx)
		}()
	}
	wg.Wait()
	total := 0
	for i := range 4 {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		total += len(applied[i])
	}
	if want := SchemaVersion() + RiverMigrations(); total != want || RiverMigrations() == 0 {
		t.Fatalf("migrations applied %d times in all, want each once (%d)", total, want)
	}
	if again, err := s.Migrate(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second migrate: %v %v", again, err)
	}
	if ok, err := s.SchemaCurrent(ctx); !ok || err != nil {
		t.Fatalf("schema current = %v, %v", ok, err)
	}
	// The specification's two indexes, by name.
	conn, _ := pgx.Connect(ctx, url)
	defer conn.Close(ctx)
	var n int
	conn.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE tablename = 'backup_executions' AND indexname IN ('idx_backup_created', 'idx_backup_type_date')`).Scan(&n)
	if n != 2 {
		t.Fatalf("found %d of the specification's indexes", n)
	}
	var riverJob bool
	conn.QueryRow(ctx, `SELECT to_regclass('river_job') IS NOT NULL`).Scan(&riverJob)
	if !riverJob {
		t.Fatal("River's tables were not installed")
	}
}

func TestSchemaNotCurrentBeforeMigrate(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	if ok, err := s.SchemaCurrent(context.Background()); ok || err != nil {
		t.Fatalf("fresh database: current=%v err=%v", ok, err)
	}
}

func TestInsertAndReadBack(t *testing.T) {
	t.Parallel()
	s, _ := migratedStore(t)
	ctx := context.Background()
	date := time.Date(2026, 2, 5, 3, 0, 15, 0, time.UTC)
	full := Execution{
		ID: uuid.NewString(), BackupType: TypePgDump, BackupDate: date, Filename: "20260205_030015.dump.gz",
		FilePath: ptr("/backups/20260205_030015.dump.gz"), FileSizeBytes: ptr(int64(1240000000)), ChecksumCRC32: ptr("f7e42c9f"),
		Status: StatusSuccess, DurationSeconds: ptr(47), CreatedAt: date.Add(time.Minute),
		RetentionUntil: &Date{time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)}, RestoreTestStatus: TestNotTested,
		ChecksumSHA256: ptr("ab"), CompressionFormat: ptr(archive.Gzip), CompressionLevel: ptr(9),
		UncompressedSizeBytes: ptr(int64(5800000000)), UncompressedChecksumCRC32: ptr("00000001"),
		DatabaseName: ptr("rgz"), ServerVersion: ptr("15.20"), PgDumpVersion: ptr("pg_dump (PostgreSQL) 15.20"),
		ObjectCounts: toc.Counts{Tables: 45, Indexes: 156}, RowCounts: map[string]int64{"public.subscribers": 487234},
		GlobalsFilename: ptr("20260205_030015.globals.sql.gz"), Warnings: []string{"w"}, Suspect: true,
		SuspectReasons: []string{"small"}, TriggeredBy: TriggerManual, Hostname: ptr("h"), Attempt: 2,
		RunID: ptr(uuid.NewString()), FinishedAt: ptr(date.Add(47 * time.Second)),
	}
	failed := Execution{ID: uuid.NewString(), BackupType: TypePgDump, BackupDate: date.Add(24 * time.Hour),
		Filename: "20260206_030015.dump.gz", Status: StatusFailed, ErrorMessage: ptr("boom"), CreatedAt: date.Add(25 * time.Hour),
		RestoreTestStatus: TestNotTested, TriggeredBy: TriggerScheduled, Attempt: 1}
	for _, e := range []*Execution{&full, &failed} {
		if err := s.Insert(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(ctx, full.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, full) {
		t.Fatalf("round trip changed the row\n got %+v\nwant %+v", got, full)
	}
	byName, err := s.ByFilename(ctx, failed.Filename)
	if err != nil || byName.ID != failed.ID || *byName.ErrorMessage != "boom" || byName.FileSizeBytes != nil {
		t.Fatalf("by filename: %+v %v", byName, err)
	}
	all, _ := s.List(ctx, Filter{})
	if len(all) != 2 || all[0].ID != failed.ID {
		t.Fatalf("list should be newest first: %d rows", len(all))
	}
	ok, _ := s.List(ctx, Filter{Status: StatusSuccess})
	recent, _ := s.List(ctx, Filter{Since: date.Add(time.Hour)})
	if len(ok) != 1 || len(recent) != 1 || recent[0].ID != failed.ID {
		t.Fatalf("filters: %d success, %d recent", len(ok), len(recent))
	}
	if _, err := s.Get(ctx, uuid.NewString()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing row: %v", err)
	}
}

func TestSeedConstraintsHold(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	ctx := context.Background()
	s.Migrate(ctx)
	bad := Execution{ID: uuid.NewString(), BackupType: TypePgDump, Filename: "x", Status: "ok", RestoreTestStatus: TestNotTested, TriggeredBy: TriggerManual, Attempt: 1}
	if err := s.Insert(ctx, &bad); err == nil {
		t.Fatal("status 'ok' accepted: the specification's CHECK is missing")
	}
	bad.Status, bad.TriggeredBy = StatusFailed, "cron"
	if err := s.Insert(ctx, &bad); err == nil {
		t.Fatal("triggered_by 'cron' accepted")
	}
}

// An attempt is listed from its start until its outcome is recorded, and
// the row it will record survives the trip through the attempts table.
func TestAttemptLivesUntilItsOutcomeIsRecorded(t *testing.T) {
	t.Parallel()
	s, _ := migratedStore(t)
	ctx := context.Background()
	began := time.Date(2026, 2, 5, 3, 0, 1, 0, time.UTC)
	e := Execution{ID: uuid.NewString(), BackupType: TypePgDump, BackupDate: began, Filename: "20260205_030001.dump.gz",
		FilePath: ptr("/backups/20260205_030001.dump.gz"), RestoreTestStatus: TestNotTested, TriggeredBy: TriggerScheduled,
		Attempt: 2, RunID: ptr(uuid.NewString()), RowCounts: map[string]int64{}, Warnings: []string{}, SuspectReasons: []string{}}
	if err := s.BeginAttempt(ctx, Attempt{Execution: e, StartedAt: began, Hostname: "h1", PID: 42, JobID: 7}); err != nil {
		t.Fatal(err)
	}
	attempts, err := s.Attempts(ctx)
	if err != nil || len(attempts) != 1 {
		t.Fatalf("%v %d attempts", err, len(attempts))
	}
	a := attempts[0]
	if a.Hostname != "h1" || a.PID != 42 || a.JobID != 7 || !a.StartedAt.Equal(began) || !reflect.DeepEqual(a.Execution, e) {
		t.Fatalf("attempt changed on the way: %+v", a)
	}
	e.Status, e.ErrorMessage = StatusFailed, ptr("boom")
	if err := s.Insert(ctx, &e); err != nil {
		t.Fatal(err)
	}
	if attempts, _ := s.Attempts(ctx); len(attempts) != 0 {
		t.Fatalf("recording the outcome left %d attempts in progress", len(attempts))
	}
	// A row that cannot be recorded leaves its attempt in place.
	bad := e
	bad.ID, bad.Status = uuid.NewString(), "exploded"
	_ = s.BeginAttempt(ctx, Attempt{Execution: bad, StartedAt: began})
	if err := s.Insert(ctx, &bad); err == nil {
		t.Fatal("a status outside the specification's CHECK was accepted")
	}
	if attempts, _ := s.Attempts(ctx); len(attempts) != 1 {
		t.Fatalf("a failed insert ended its attempt: %d attempts", len(attempts))
	}
}
