package report

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/retention"
	"github.com/mosaique/rgz-backup/internal/toc"
)

func TestBytes(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 bytes", 999: "999 bytes", 1240000000: "1.24 GB", 5800000000: "5.80 GB", 1500: "1.50 kB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestGrouped(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1240000000: "1,240,000,000", -12345: "-12,345"} {
		if got := Grouped(n); got != want {
			t.Errorf("Grouped(%d) = %q, want %q", n, got, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func seedExample() catalog.Execution {
	start := time.Date(2026, 2, 5, 3, 0, 15, 0, time.UTC)
	return catalog.Execution{
		BackupDate: start, Filename: "20260205_030015.dump.gz", FilePath: ptr("/backups/20260205_030015.dump.gz"),
		Status: catalog.StatusSuccess, FinishedAt: ptr(start.Add(92 * time.Second)), DurationSeconds: ptr(92), Attempt: 1,
		TriggeredBy: catalog.TriggerScheduled, FileSizeBytes: ptr(int64(1240000000)), UncompressedSizeBytes: ptr(int64(5800000000)),
		ChecksumCRC32: ptr("f7e42c9f"), CompressionFormat: ptr(archive.Gzip), CompressionLevel: ptr(9),
		ObjectCounts:   toc.Counts{Tables: 45, Indexes: 156, Triggers: 23, Sequences: 48, Entries: 500},
		RowCounts:      map[string]int64{"public.subscribers": 487234, "public.radius_sessions": 12454891, "billing.invoices": 1234567, "public.incidents": 2061, "a.b": 1, "c.d": 2},
		RetentionUntil: &catalog.Date{Time: time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)}, RestoreTestStatus: catalog.TestNotTested,
	}
}

func TestTextCarriesTheSeedExample(t *testing.T) {
	t.Parallel()
	out := Text(seedExample())
	for _, want := range []string{
		"BACKUP POSTGRESQL — February 5, 2026", "Start:        2026-02-05 03:00:15 UTC", "End:          2026-02-05 03:01:47 UTC",
		"/backups/20260205_030015.dump.gz", "SUCCESS ✓", "1.24 GB (1,240,000,000 bytes)", "5.80 GB (5,800,000,000 bytes)",
		"Compression ratio:   79% (gzip level 9)", "f7e42c9f", "Tables: 45   Indexes: 156   Triggers: 23   Sequences: 48",
		"- public.radius_sessions: 12,454,891 rows", "Delete after: 2026-03-07 (30 days)", "pg_restore --list check: OK",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// Five biggest tables only, biggest first.
	if strings.Contains(out, "a.b:") || strings.Index(out, "radius_sessions") > strings.Index(out, "subscribers:") {
		t.Errorf("biggest tables wrong:\n%s", out)
	}
}

func TestTextOfFailure(t *testing.T) {
	t.Parallel()
	e := seedExample()
	e.Status, e.ErrorMessage = "failed", ptr("pg_dump: signal: killed")
	out := Text(e)
	if !strings.Contains(out, "FAILED ✗") || !strings.Contains(out, "pg_dump: signal: killed") || !strings.Contains(out, "Manual action required") {
		t.Fatalf("failure report:\n%s", out)
	}
}

func TestTextOfSuspect(t *testing.T) {
	t.Parallel()
	e := seedExample()
	e.Suspect, e.SuspectReasons = true, []string{"3 tables, the previous backup had 45"}
	if out := Text(e); !strings.Contains(out, "SUSPECT") || !strings.Contains(out, "3 tables") {
		t.Fatalf("suspect report:\n%s", out)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	ok := seedExample()
	bad := seedExample()
	bad.Status, bad.FileSizeBytes, bad.ChecksumCRC32, bad.ErrorMessage = "failed", nil, nil, ptr("connect to the database to back up: refused")
	ok.ID, bad.ID = "ok", "bad"
	now := time.Now()
	out := List([]catalog.Execution{ok, bad}, map[string][]catalog.Copy{"ok": {{VerifiedAt: &now}}}, false)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "1.24 GB") || !strings.Contains(lines[1], " 1/1 ") || !strings.Contains(lines[2], "failed") || !strings.Contains(lines[2], "refused") {
		t.Fatalf("list:\n%s", out)
	}
	// With several databases, each line names its target and database; a
	// hostile name is quoted, never a second line or an escape sequence.
	ok.TargetName, ok.DatabaseName = "site-b", ptr("radius")
	bad.TargetName, bad.DatabaseName = "default", ptr("x\n\x1b[31mred")
	out = List([]catalog.Execution{ok, bad}, nil, true)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0])[:3], " ") != "TARGET DATABASE BACKUP" || strings.Join(strings.Fields(lines[1])[:2], " ") != "site-b radius" ||
		!strings.Contains(lines[2], `"x\n\x1b[31mred"`) || strings.Contains(out, "\x1b") {
		t.Fatalf("list of several:\n%s", out)
	}
}

func TestName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{"rgz": "rgz", "site-b/x": "site-b/x", "é": "é", "": `""`, "a b": `"a b"`, "tab\t": `"tab\t"`, "\x1b[2J": `"\x1b[2J"`, `q"`: `"q\""`} {
		if got := Name(name); got != want {
			t.Errorf("Name(%q) = %s, want %s", name, got, want)
		}
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	r := retention.Report{Now: at, DryRun: true,
		Promoted: []retention.Copy{{Filename: "20260201_030000.dump.gz", Date: at.AddDate(0, -1, -9)}},
		Local: retention.Plan{Decisions: []retention.Decision{
			{Copy: retention.Copy{Filename: "20260101_030000.dump.gz"}, Delete: true, Why: "daily copy, kept until 2026-01-31"},
			{Copy: retention.Copy{Filename: "20260102_030000.dump.gz"}, Why: "kept: a restore or restore test is reading it"},
		}},
		Unknown: []string{"notes.txt"}}
	text := Retention(r)
	for _, want := range []string{"dry run", "would delete  20260101_030000.dump.gz", "keep", "reading it",
		"compliance", "2026-02", "unknown", "notes.txt", "1 copies would be deleted, 1 expired kept"} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	r.Local.Refused = "refusing to delete 9 of the 10"
	if text := Retention(r); !strings.Contains(text, "REFUSED: refusing") {
		t.Errorf("refusal not shown:\n%s", text)
	}
}

func TestCopies(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 2, 5, 3, 1, 0, 0, time.UTC)
	size := int64(94_300_000)
	boom := "cannot reach 10.0.0.9:22: connection refused"
	got := Copies([]catalog.Copy{
		{Destination: "file:///mnt/nas", VerifiedAt: &at, SizeBytes: &size},
		{Destination: "sftp://rgz@10.0.0.9:22/srv", LastError: &boom},
	})
	for _, want := range []string{"Copies:", "verified 2026-02-05 03:01:00 UTC (94.30 MB)", "sftp://rgz@10.0.0.9:22/srv  MISSING: " + boom} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
	if Copies(nil) != "" {
		t.Error("no copies should print nothing")
	}
}

func TestCopiesState(t *testing.T) {
	t.Parallel()
	now := time.Now()
	oops := "connection refused"
	cases := []struct {
		copies []catalog.Copy
		want   string
	}{
		{nil, "-"},
		{[]catalog.Copy{{VerifiedAt: &now}, {VerifiedAt: &now}}, "2/2"},
		{[]catalog.Copy{{VerifiedAt: &now}, {LastError: &oops}}, "1/2"},
		{[]catalog.Copy{{VerifiedAt: &now, DeletedAt: &now}}, "-"},
	}
	for _, c := range cases {
		if got := CopiesState(c.copies); got != c.want {
			t.Errorf("%+v: %q, want %q", c.copies, got, c.want)
		}
	}
}

// Every line the report writes has its French, and a French report has no
// English label left: each language whole.
func TestFrenchReportIsWhole(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("report.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`p\.(?:t|list)\("((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(string(src), -1) {
		english, err := strconv.Unquote(`"` + m[1] + `"`)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := french[english]; !ok {
			t.Errorf("no French for %q", english)
		}
	}
	e := seedExample()
	e.Suspect, e.SuspectReasons, e.Warnings = true, []string{"x"}, []string{"y"}
	fr := TextIn(e, "fr")
	for _, want := range []string{"SAUVEGARDE POSTGRESQL — 5 février 2026", "Statut :      SUCCÈS ✓", "octets", "Go", "Métadonnées :", "Contenu (base", "Rétention :", "SUSPECTE", "Avertissements :"} {
		if !strings.Contains(fr, want) {
			t.Errorf("the French report lacks %q:\n%s", want, fr)
		}
	}
	for _, english := range []string{"BACKUP POSTGRESQL", "Status:", "Metadata:", "Contents", " rows", "bytes", "Retention:", "Warnings:", "February"} {
		if strings.Contains(fr, english) {
			t.Errorf("the French report says %q:\n%s", english, fr)
		}
	}
	if TextIn(e, "en") != Text(e) || !strings.Contains(Text(e), "BACKUP POSTGRESQL — February 5, 2026") {
		t.Errorf("the English report:\n%s", Text(e))
	}
}
