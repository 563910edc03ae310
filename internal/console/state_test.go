package console

import (
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

func TestJudge(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	msg := "pg_dump: connection lost\ndetail"
	row := func(status catalog.Status, hoursAgo int) *catalog.Execution {
		return &catalog.Execution{Status: status, BackupDate: now.Add(-time.Duration(hoursAgo) * time.Hour), ErrorMessage: &msg}
	}
	retrying := row(catalog.StatusFailed, 1)
	soon, long := now.Add(20*time.Second), now.Add(-time.Hour)
	retrying.RetryAt = &soon
	overdue := row(catalog.StatusFailed, 2)
	overdue.RetryAt = &long // its retry never came: no daemon ran it
	suspect := row(catalog.StatusSuccess, 2)
	suspect.Suspect, suspect.SuspectReasons = true, []string{"size dropped by 80 %"}
	for _, c := range []struct {
		name              string
		last, lastSuccess *catalog.Execution
		want              Level
		reasonHas         string
	}{
		{"nothing yet", nil, nil, Failed, "no backup yet"},
		{"good and fresh", row(catalog.StatusSuccess, 2), row(catalog.StatusSuccess, 2), OK, ""},
		{"the last failed", row(catalog.StatusFailed, 1), row(catalog.StatusSuccess, 25), Failed, "pg_dump: connection lost"},
		{"good but old", row(catalog.StatusSuccess, 30), row(catalog.StatusSuccess, 30), Failed, "no successful backup for 30h"},
		{"a copy missing", row(catalog.StatusPartial, 2), row(catalog.StatusSuccess, 26), Warning, "a copy is missing"},
		{"suspect", suspect, suspect, Warning, "size dropped"},
		{"never a success", row(catalog.StatusPartial, 2), nil, Failed, "no successful backup yet"},
		{"a failed attempt whose retry is due", retrying, row(catalog.StatusSuccess, 25), Warning, "retried at 12:00:20 UTC"},
		{"a failed attempt whose retry is overdue", overdue, row(catalog.StatusSuccess, 25), Failed, "pg_dump: connection lost"},
		{"retrying, but no success for days", retrying, row(catalog.StatusSuccess, 50), Failed, "no successful backup for 50h"},
	} {
		got := Judge(c.last, c.lastSuccess, now)
		if got.Level != c.want || !strings.Contains(got.Reason, c.reasonHas) || strings.Contains(got.Reason, "detail") {
			t.Errorf("%s: %+v, want %s with %q", c.name, got, c.want, c.reasonHas)
		}
	}
}
