package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/filecheck"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/records"
	"github.com/mosaique/rgz-backup/internal/retention"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
)

func TestFreeSecond(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 2, 5, 3, 0, 15, 700_000_000, time.UTC)
	tests := []struct {
		name  string
		taken []string
		want  string
	}{
		{"free", nil, "20260205_030015"},
		{"taken once", []string{"20260205_030015"}, "20260205_030016"},
		{"taken twice", []string{"20260205_030015", "20260205_030016"}, "20260205_030017"},
		{"a later second taken is no matter", []string{"20260205_030016"}, "20260205_030015"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FreeSecond(start, func(stem string) (bool, error) { return slices.Contains(tt.taken, stem), nil })
			if err != nil || got.Format(StemLayout) != tt.want {
				t.Fatalf("got %s, %v; want %s", got.Format(StemLayout), err, tt.want)
			}
		})
	}
	endOfMinute := time.Date(2026, 2, 5, 3, 0, 59, 0, time.UTC)
	if got, _ := FreeSecond(endOfMinute, func(stem string) (bool, error) { return stem == "20260205_030059", nil }); got.Format(StemLayout) != "20260205_030100" {
		t.Fatalf("across a minute: %s", got.Format(StemLayout))
	}
	if _, err := FreeSecond(start, func(string) (bool, error) { return true, nil }); err == nil {
		t.Fatal("no free second: no error")
	}
	boom := errors.New("catalog down")
	if _, err := FreeSecond(start, func(string) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Fatalf("error not passed on: %v", err)
	}
}

func (e *env) store() *catalog.Store {
	e.t.Helper()
	s, err := catalog.Open(context.Background(), config.Database{URL: cluster.URL(e.Catalog)})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(s.Close)
	return s
}

// Issue 12, point 1: attempts in the same second never share a name, a
// lookup by name finds the owner, and retention far in the future keeps
// every good backup the rules keep, whatever failed rows say.
func TestSameSecondAttemptsNeverShareAName(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	e.Vars["BACKUP_MIN_KEEP"] = "1"
	second := clock.At(time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)) // stands still

	e.Vars["BACKUP_MIN_FREE_SPACE_GB"] = "1000000" // fails fast, after the lock
	failed, err := e.run(Options{Clock: second})
	if err == nil || failed.Status != catalog.StatusFailed {
		t.Fatalf("the fast failure: %v, %+v", err, failed)
	}
	e.Vars["BACKUP_MIN_FREE_SPACE_GB"] = "0"
	good, err := e.run(Options{Clock: second})
	if err != nil {
		t.Fatal(err)
	}
	later, err := e.run(Options{Clock: second}) // a success, then another run in the same second
	if err != nil {
		t.Fatalf("a second run in the same second: %v", err)
	}
	names := []string{failed.Filename, good.Filename, later.Filename}
	if names[0] != "20260301_030000.dump.gz" || names[1] != "20260301_030001.dump.gz" || names[2] != "20260301_030002.dump.gz" {
		t.Fatalf("names %v: each attempt takes the next free second", names)
	}
	if failed.FilePath != nil {
		t.Fatalf("a failed attempt owns no file, its row says %s", *failed.FilePath)
	}
	if !good.BackupDate.Equal(second.Now().Add(time.Second)) {
		t.Fatalf("backup_date %s does not match its name", good.BackupDate)
	}

	// Rows written by an older version could share a name: a failed row
	// named like each good backup must change nothing below.
	store := e.store()
	for _, g := range []catalog.Execution{good, later} {
		clash := failed
		clash.ID, clash.Filename, clash.CreatedAt = uuid.NewString(), g.Filename, time.Now().UTC().Add(time.Hour).Truncate(time.Microsecond)
		if err := store.Insert(context.Background(), &clash); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []catalog.Execution{good, later} {
		owner, err := store.ByFilename(context.Background(), g.Filename)
		if err != nil || owner.ID != g.ID {
			t.Fatalf("lookup of %s found %s (%s), want its owner", g.Filename, owner.ID, owner.Status)
		}
		if problems := filecheck.Backup(context.Background(), dump.Tools{}, e.Dir, owner, nil).Problems; len(problems) != 0 {
			t.Fatalf("%s: %v", g.Filename, problems)
		}
	}

	// Far ahead: the newest is kept by rule, the other is its month's
	// compliance copy; the failed rows own nothing, so nothing goes.
	report, err := retention.Run(context.Background(), store, retention.Options{Config: e.config(), Clock: clock.At(second.Now().AddDate(0, 0, 45))})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Deleted) != 0 || len(report.Unknown) != 0 {
		t.Fatalf("retention deleted %v, unknown %v", report.Deleted, report.Unknown)
	}
	for _, d := range report.Local.Decisions {
		if d.Copy.ID != good.ID && d.Copy.ID != later.ID {
			t.Fatalf("retention considered a failed row: %+v", d)
		}
	}
	for _, g := range []catalog.Execution{good, later} {
		files, err := layout.Of(g, filepath.Dir(*g.FilePath))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{files.Dump, files.SHA256, files.Manifest, files.Globals} { // no restore test ran
			if _, err := os.Stat(f); err != nil {
				t.Fatalf("%s gone: %v", f, err)
			}
		}
	}
}

// throughProxy points the environment's catalog at a proxy that can drop
// its connections.
func (e *env) throughProxy() *pgtest.Proxy {
	p := cluster.NewProxy(e.t)
	e.Vars["BACKUP_CATALOG_DATABASE_URL"] = p.URL(cluster, e.Catalog)
	return p
}

// assertKeptAndRecordedNext checks that a backup whose row could not be
// written is whole on disk, and that the next run records it as success.
func assertKeptAndRecordedNext(t *testing.T, e *env, p *pgtest.Proxy, row catalog.Execution, err error) {
	t.Helper()
	if !errors.Is(err, ErrUnrecorded) || !strings.Contains(err.Error(), "written and valid, not yet recorded") {
		t.Fatalf("error %v, want ErrUnrecorded", err)
	}
	if p.Cuts() == 0 {
		t.Fatal("the proxy never cut: the fault was not injected")
	}
	m, merr := layout.ReadManifest(*row.FilePath + ".manifest.json")
	if merr != nil || m.ID != row.ID || m.Status != catalog.StatusSuccess {
		t.Fatalf("manifest %+v, %v", m, merr)
	}
	if problems := filecheck.Backup(context.Background(), dump.Tools{}, e.Dir, m, nil).Problems; len(problems) != 0 {
		t.Fatalf("the kept backup does not verify: %v", problems)
	}
	p.Heal()
	next, err := e.run(Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.store().Get(context.Background(), row.ID)
	if err != nil || got.Status != catalog.StatusSuccess || *got.ChecksumSHA256 != *m.ChecksumSHA256 {
		t.Fatalf("not recorded as the success it was: %+v, %v", got, err)
	}
	if next.Filename == row.Filename {
		t.Fatal("the next backup reused the name")
	}
	if attempts, _ := e.store().Attempts(context.Background()); len(attempts) != 0 {
		t.Fatalf("%d attempts left in progress", len(attempts))
	}
}

// Issue 12, point 2: the connection drops while the success row is written.
func TestCatalogDropsDuringTheSuccessRow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	p := e.throughProxy()
	p.CutOn("INSERT INTO backup_executions")
	row, err := e.run(Options{})
	assertKeptAndRecordedNext(t, e, p, row, err)
}

// Issue 12, point 2: the catalog is gone before the manifest is written (a
// read of the recent backups fails): the backup is classified from the
// manifests, kept, and recorded by the next run.
func TestCatalogGoneBeforeTheManifest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	p := e.throughProxy()
	p.CutOn("LIMIT 7")
	row, err := e.run(Options{})
	if !slices.ContainsFunc(row.Warnings, func(w string) bool { return strings.Contains(w, "classified from the manifests") }) {
		t.Errorf("warnings %v", row.Warnings)
	}
	assertKeptAndRecordedNext(t, e, p, row, err)
}

// A daemon's retry of a run whose valid backup could not be recorded
// records it and takes no second backup.
func TestRetryOfAnUnrecordedRunTakesNoSecondBackup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	p := e.throughProxy()
	p.CutOn("INSERT INTO backup_executions")
	row, err := e.run(Options{RunID: "0b7c5a1e-59a4-4a52-9f0e-6d1c4a2b3c4d", Attempt: 1})
	if !errors.Is(err, ErrUnrecorded) {
		t.Fatal(err)
	}
	p.Heal()
	retry, err := e.run(Options{RunID: "0b7c5a1e-59a4-4a52-9f0e-6d1c4a2b3c4d", Attempt: 2})
	if err != nil || retry.ID != row.ID || retry.Status != catalog.StatusSuccess {
		t.Fatalf("retry: %+v, %v", retry, err)
	}
	if rows := e.catalogRows(); len(rows) != 1 {
		t.Fatalf("%d rows: the retry took another backup", len(rows))
	}
}

// A failure the catalog could not take is recorded by the next run with
// its real cause, not as "abandoned".
func TestFailureRecordedLateWithItsCause(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	p := e.throughProxy()
	e.Vars["BACKUP_MIN_FREE_SPACE_GB"] = "1000000"
	p.CutOn("INSERT INTO backup_executions")
	failed, err := e.run(Options{})
	if !errors.Is(err, ErrNotRecorded) {
		t.Fatalf("err %v", err)
	}
	p.Heal()
	e.Vars["BACKUP_MIN_FREE_SPACE_GB"] = "0"
	if _, err := e.run(Options{}); err != nil {
		t.Fatal(err)
	}
	got, err := e.store().Get(context.Background(), failed.ID)
	if err != nil || got.Status != catalog.StatusFailed || !strings.Contains(strOr(got.ErrorMessage, ""), "insufficient disk space") ||
		!strings.Contains(strOr(got.ErrorMessage, ""), "recorded late") || strings.Contains(strOr(got.ErrorMessage, ""), "abandoned") {
		t.Fatalf("recorded as %+v (%s), %v", got, strOr(got.ErrorMessage, ""), err)
	}
	if notes, _ := filepath.Glob(filepath.Join(e.Dir, layout.FailureNotePrefix+"*")); len(notes) != 0 {
		t.Fatalf("notes left: %v", notes)
	}
}

// A valid backup that an older version recorded as failed (same id as its
// manifest) is repaired by the next run and by catalog rebuild.
func TestValidBackupRecordedAsFailedIsRepaired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	row := e.good()
	store := e.store()
	ctx := context.Background()
	disown := func() {
		if _, err := cluster.Conn(t, e.Catalog).Exec(ctx, `UPDATE backup_executions SET status = 'failed', error_message = 'connection lost' WHERE id = $1`, row.ID); err != nil {
			t.Fatal(err)
		}
	}
	disown()
	got, err := records.Rebuild(ctx, store, e.config())
	if err != nil || !slices.Equal(got.Repaired, []string{row.Filename}) {
		t.Fatalf("rebuild: %+v, %v", got, err)
	}
	if now, _ := store.Get(ctx, row.ID); now.Status != catalog.StatusSuccess || now.ErrorMessage != nil {
		t.Fatalf("after rebuild: %s %v", now.Status, now.ErrorMessage)
	}
	disown()
	if _, err := e.run(Options{}); err != nil {
		t.Fatal(err)
	}
	if now, _ := store.Get(ctx, row.ID); now.Status != catalog.StatusSuccess {
		t.Fatalf("the next run did not repair it: %s", now.Status)
	}
}

// A backup written and valid but not recorded is told as a failure that
// says so (mail, webhook); any other outcome is told as it is.
func TestReportedSaysWrittenNotRecorded(t *testing.T) {
	t.Parallel()
	row := catalog.Execution{Filename: "20260205_030015.dump.gz", Status: catalog.StatusSuccess}
	err := fmt.Errorf("backup %s is %w (connection lost)", row.Filename, ErrUnrecorded)
	got := Reported(row, err)
	if got.Status != catalog.StatusFailed || got.ErrorMessage == nil || !strings.Contains(*got.ErrorMessage, "written and valid, not yet recorded") {
		t.Fatalf("%+v", got)
	}
	if row.Status != catalog.StatusSuccess {
		t.Fatal("the caller's row was changed")
	}
	if same := Reported(row, errors.New("other")); same.Status != catalog.StatusSuccess {
		t.Fatalf("another error changed the status: %+v", same)
	}
}
