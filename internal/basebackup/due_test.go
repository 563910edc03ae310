package basebackup

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/schedule"
)

func TestDue(t *testing.T) {
	t.Parallel()
	weekly, err := schedule.Parse("0 1 * * 0") // Sundays 01:00
	if err != nil {
		t.Fatal(err)
	}
	sun := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
	row := func(status string, at time.Time) catalog.BaseBackup {
		return catalog.BaseBackup{ID: uuid.New(), Status: status, StartedAt: at}
	}
	requested := row("requested", sun)
	for _, tc := range []struct {
		name    string
		rows    []catalog.BaseBackup
		now     time.Time
		trigger string // "" not due
	}{
		{"none yet", nil, sun.Add(3 * time.Hour), TriggerFirst},
		{"fresh", []catalog.BaseBackup{row("success", sun)}, sun.Add(6 * 24 * time.Hour), ""},
		{"a week on", []catalog.BaseBackup{row("success", sun)}, sun.Add(7 * 24 * time.Hour), TriggerScheduled},
		{"missed slots: one", []catalog.BaseBackup{row("success", sun)}, sun.Add(30 * 24 * time.Hour), TriggerScheduled},
		{"one runs", []catalog.BaseBackup{row("success", sun), row("running", sun.Add(7*24*time.Hour))}, sun.Add(8 * 24 * time.Hour), ""},
		{"failed just now", []catalog.BaseBackup{row("failed", sun)}, sun.Add(5 * time.Minute), ""},
		{"failed a while ago", []catalog.BaseBackup{row("failed", sun)}, sun.Add(RetryAfter), TriggerFirst},
		{"failed scheduled, retried", []catalog.BaseBackup{row("success", sun.Add(-7*24*time.Hour)), row("failed", sun)}, sun.Add(RetryAfter + time.Second), TriggerScheduled},
		{"an old failure", []catalog.BaseBackup{row("failed", sun.Add(-time.Hour)), row("success", sun)}, sun.Add(time.Minute), ""},
		{"asked", []catalog.BaseBackup{row("success", sun), requested}, sun.Add(time.Minute), TriggerManual},
	} {
		d := Due(tc.rows, weekly, tc.now)
		if d.Due != (tc.trigger != "") || d.Trigger != tc.trigger {
			t.Errorf("%s: %+v, want trigger %q", tc.name, d, tc.trigger)
		}
	}
	if d := Due([]catalog.BaseBackup{requested}, weekly, sun); d.Request != requested.ID {
		t.Errorf("a request is taken under its row: %+v", d)
	}
}

func TestFailedRecently(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	row := func(status string, ago time.Duration) catalog.BaseBackup {
		return catalog.BaseBackup{Status: status, StartedAt: now.Add(-ago)}
	}
	for _, tc := range []struct {
		rows []catalog.BaseBackup
		want bool
	}{
		{nil, false},
		{[]catalog.BaseBackup{row("success", time.Hour), row("failed", time.Minute)}, true},
		{[]catalog.BaseBackup{row("failed", time.Hour)}, false},
		{[]catalog.BaseBackup{row("failed", time.Minute), row("success", 0)}, false},
	} {
		if got := FailedRecently(tc.rows, now); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.rows, got, tc.want)
		}
	}
}
