package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/pitr"
	"github.com/mosaique/rgz-backup/internal/targets"
	"github.com/mosaique/rgz-backup/internal/wal"
)

func TestLayOutWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	c := pitr.ClusterState{Spans: []pitr.Span{{From: now.Add(-40 * day), To: now.Add(-20 * day)}, {From: now.Add(-15 * day), To: now}}}
	bases := []catalog.BaseBackup{
		{Label: "too old", Status: "success", FinishedAt: at(-35 * day)},
		{Label: "b1", Status: "success", FinishedAt: at(-15 * day), RestoreTestStatus: "success"},
		{Label: "failed", Status: "failed", FinishedAt: at(-10 * day)},
		{Label: "b2", Status: "success", FinishedAt: at(-3 * day)},
	}
	b := LayOutWindow(c, bases, now)
	if len(b.Spans) != 2 || b.Spans[0].X != 0 || b.Spans[0].W != 200 || b.Spans[1].X != 300 || b.Spans[1].X+b.Spans[1].W != 600 {
		t.Errorf("spans: %+v", b.Spans)
	}
	if len(b.Bases) != 2 || b.Bases[0].X != 299 || b.Bases[0].Title != "b1 (success)" || b.Bases[1].Title != "b2" {
		t.Errorf("base backups: %+v", b.Bases)
	}
	if old := LayOutWindow(pitr.ClusterState{Spans: []pitr.Span{{From: now.Add(-60 * day), To: now.Add(-31 * day)}}}, nil, now); len(old.Spans) != 0 {
		t.Errorf("a span before the bar: %+v", old.Spans)
	}
}

// An archived cluster on the overview: its state, its window, its last
// test; an admin asks for a test to a moment, the NOC cannot.
func TestOverviewShowsTheArchive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	streaming := []targets.Server{{Target: targets.DefaultTarget}}
	s := newSiteWith(t, func(d *Deps, _ *http.Server) {
		d.Config.PITR.Enabled = true
		streaming[0].Config = d.Config
		d.Streaming = streaming
	})
	const sysid = 7716197208024236931
	now := time.Now().UTC()
	b := catalog.BaseBackup{ID: uuid.New(), SystemID: sysid, Label: "20261206T010000Z-000000010000000000000002", TriggeredBy: "first",
		StartedAt: now.Add(-2 * time.Hour), Hostname: "h"}
	if err := s.store.StartBaseBackup(ctx, b); err != nil {
		t.Fatal(err)
	}
	fin := b.StartedAt.Add(time.Minute)
	b.Status, b.FinishedAt, b.Timeline, b.StartLSN, b.EndLSN = "success", &fin, 1, "0/2000028", "0/2000100"
	if err := s.store.FinishBaseBackup(ctx, b); err != nil {
		t.Fatal(err)
	}
	for no := uint64(2); no <= 3; no++ {
		seg := wal.Segment{Timeline: 1, No: no}
		if err := s.store.RecordWALFile(ctx, catalog.WALFile{SystemID: sysid, Kind: catalog.WALSegment, Timeline: 1, SegmentNo: no,
			FileName: seg.Name(wal.DefaultSegmentSize), ObjectKey: fmt.Sprintf("pitr/%d/wal/%d", sysid, no),
			StartLSN: seg.Start(wal.DefaultSegmentSize).String(), EndLSN: seg.End(wal.DefaultSegmentSize).String(), Copies: []string{"x"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.store.RecordStream(ctx, catalog.Stream{SystemID: sysid, Slot: "rgz_backup", Server: "db:5432", Hostname: "h", Receiving: true,
		SlotStatus: "reserved", SafeBytes: -1, LimitBytes: -1, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}

	noc, nocCSRF := s.login("noc")
	code, page := s.get(noc, "/console/")
	if code != 200 || !strings.Contains(page, `id="pitr"`) || !strings.Contains(page, "7716197208024236931") ||
		!strings.Contains(page, `class="state OK">streaming`) || !strings.Contains(page, `<title>`+b.Label) || strings.Contains(page, "start-pitr-test") {
		t.Fatalf("the NOC's overview: %d\n%s", code, page)
	}
	if code, _ := s.post(noc, "/console/actions/pitr-test", url.Values{"csrf": {nocCSRF}}); code != http.StatusForbidden {
		t.Errorf("the NOC asks for a test: %d", code)
	}

	admin, csrf := s.login("admin")
	if _, page := s.get(admin, "/console/"); !strings.Contains(page, `id="start-pitr-test"`) {
		t.Fatalf("the admin's overview lacks the test's form:\n%s", page)
	}
	if code, page := s.post(admin, "/console/actions/pitr-test", url.Values{"csrf": {csrf}, "to": {"yesterday"}}); code != http.StatusBadRequest ||
		!strings.Contains(page, "RFC 3339") {
		t.Errorf("a bad moment: %d\n%s", code, page)
	}
	moment := now.Add(-time.Hour).Truncate(time.Second)
	code, page = s.post(admin, "/console/actions/pitr-test", url.Values{"csrf": {csrf}, "to": {moment.Format(time.RFC3339)}})
	if code != http.StatusOK || !strings.Contains(page, "Point-in-time restore test queued") && !strings.Contains(page, "mis en file") {
		t.Fatalf("the admin asks for a test: %d\n%s", code, page)
	}
	tests, err := s.store.PITRRestoreTests(ctx, now.Add(-time.Hour))
	if err != nil || len(tests) != 1 || tests[0].Status != catalog.PITRRequested || !tests[0].Target.Equal(moment) || tests[0].Kind != catalog.PITRTestChosen {
		t.Fatalf("the requested test: %+v %v", tests, err)
	}
	if code, _ := s.post(admin, "/console/actions/pitr-test", url.Values{"csrf": {csrf}}); code != http.StatusConflict {
		t.Errorf("a second test while one waits: %d", code)
	}
}
