package metrics

import (
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// Each destination's copies become samples labelled with its URL.
func TestDestinationSamples(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 2, 5, 3, 1, 0, 0, time.UTC)
	s := Snapshot{Summary: catalog.Summary{Runs: map[catalog.Status]int{}}, Destinations: []catalog.DestinationStat{
		{Destination: "sftp://rgz@b:22/srv", Copies: 30, Failing: 1, Bytes: 3_000_000, LastVerified: at},
	}}
	got := map[string]float64{}
	for _, m := range Metrics(s) {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		for _, l := range pb.Label {
			if l.GetName() == "destination" && l.GetValue() == "sftp://rgz@b:22/srv" {
				name := m.Desc().String()
				name = name[strings.Index(name, `"`)+1:]
				got[name[:strings.Index(name, `"`)]] = pb.GetGauge().GetValue()
			}
		}
	}
	want := map[string]float64{"rgz_backup_destination_copies": 30, "rgz_backup_destination_copy_failures": 1,
		"rgz_backup_destination_bytes": 3_000_000, "rgz_backup_destination_last_verified_timestamp_seconds": float64(at.Unix())}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v (all: %v)", name, got[name], v, got)
		}
	}
}

// With several databases each one has its samples, labelled with its
// target and database; without, none of them exists.
func TestDatabaseSamples(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 2, 5, 3, 1, 0, 0, time.UTC)
	size, secs := int64(4096), 12
	s := Snapshot{Summary: catalog.Summary{Runs: map[catalog.Status]int{}}, Databases: []catalog.DatabaseState{
		{Target: "default", Database: "rgz", LastRun: catalog.Execution{Status: catalog.StatusSuccess, FileSizeBytes: &size, DurationSeconds: &secs},
			LastSuccess: &catalog.Execution{BackupDate: at}},
		{Target: "site-b", Database: "radius", LastRun: catalog.Execution{Status: catalog.StatusFailed}},
	}}
	got := map[string]float64{}
	for _, m := range Metrics(s) {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{}
		for _, l := range pb.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["database"] == "" {
			continue
		}
		name := m.Desc().String()
		name = name[strings.Index(name, `"`)+1:]
		key := name[:strings.Index(name, `"`)] + "{" + labels["target"] + "/" + labels["database"] + "," + labels["status"] + "}"
		got[key] = pb.GetGauge().GetValue()
	}
	want := map[string]float64{
		"rgz_backup_database_last_success_timestamp_seconds{default/rgz,}":   float64(at.Unix()),
		"rgz_backup_database_size_bytes{default/rgz,}":                       4096,
		"rgz_backup_database_duration_seconds{default/rgz,}":                 12,
		"rgz_backup_database_status{default/rgz,success}":                    1,
		"rgz_backup_database_status{site-b/radius,failed}":                   1,
		"rgz_backup_database_status{site-b/radius,success}":                  0,
		"rgz_backup_database_last_success_timestamp_seconds{site-b/radius,}": 0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	s.Databases = nil
	for _, m := range Metrics(s) {
		if strings.Contains(m.Desc().String(), "rgz_backup_database_") {
			t.Fatalf("a per-database sample without several databases: %s", m.Desc())
		}
	}
}

// rgz_backup_build_info says which build serves.
func TestBuildInfo(t *testing.T) {
	t.Parallel()
	var pb dto.Metric
	if err := BuildInfo().Write(&pb); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{}
	for _, l := range pb.Label {
		labels[l.GetName()] = l.GetValue()
	}
	if pb.GetGauge().GetValue() != 1 || labels["version"] == "" || !strings.HasPrefix(labels["goversion"], "go1.") {
		t.Fatalf("build info: %v %v", pb.GetGauge().GetValue(), labels)
	}
	if _, ok := labels["commit"]; !ok {
		t.Fatal("no commit label")
	}
}

// samples are Metrics' unlabelled gauges (and per database, TARGET/DB).
func samples(t *testing.T, s Snapshot) map[string]float64 {
	t.Helper()
	got := map[string]float64{}
	for _, m := range Metrics(s) {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		name := m.Desc().String()
		name = name[strings.Index(name, `"`)+1:]
		name = name[:strings.Index(name, `"`)]
		labels := map[string]string{}
		for _, l := range pb.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["database"] != "" {
			name += "{" + labels["target"] + "/" + labels["database"] + "}"
		} else if len(labels) > 0 {
			continue
		}
		got[name] = pb.GetGauge().GetValue()
	}
	return got
}

// A failed attempt whose retry is on its way is no failed run: the alert
// pages on the run that failed after its retries (no retry due), or whose
// retry never came (overdue: no daemon ran it). Per database likewise.
func TestRunFailedMeansTheOutcome(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 2, 5, 3, 1, 0, 0, time.UTC)
	soon, long := now.Add(30*time.Second), now.Add(-time.Hour)
	for _, c := range []struct {
		name string
		last catalog.Execution
		want float64
	}{
		{"a success", catalog.Execution{Status: catalog.StatusSuccess}, 0},
		{"an attempt failed, its retry due in 30 s", catalog.Execution{Status: catalog.StatusFailed, RetryAt: &soon}, 0},
		{"the run failed after its retries", catalog.Execution{Status: catalog.StatusFailed}, 1},
		{"its retry overdue by an hour", catalog.Execution{Status: catalog.StatusFailed, RetryAt: &long}, 1},
		{"a partial backup", catalog.Execution{Status: catalog.StatusPartial}, 0},
	} {
		last := c.last
		s := Snapshot{Now: now, Summary: catalog.Summary{Runs: map[catalog.Status]int{}, Last: &last},
			Databases: []catalog.DatabaseState{{Target: "default", Database: "rgz", LastRun: last}}}
		got := samples(t, s)
		if got["rgz_backup_pg_dump_run_failed"] != c.want || got["rgz_backup_database_run_failed{default/rgz}"] != c.want {
			t.Errorf("%s: run_failed %v, per database %v, want %v", c.name, got["rgz_backup_pg_dump_run_failed"], got["rgz_backup_database_run_failed{default/rgz}"], c.want)
		}
	}
}

// The RTO is the newest successful restore test's duration; absent before
// one succeeds (the dashboard says so), whatever the failed ones took.
func TestRTOIsTheNewestSuccessfulTest(t *testing.T) {
	t.Parallel()
	secs := 42
	failed := 9000
	s := Snapshot{Summary: catalog.Summary{Runs: map[catalog.Status]int{}, LastTest: &catalog.RestoreTest{Status: catalog.TestFailed, DurationSeconds: &failed}}}
	if _, ok := samples(t, s)["rgz_backup_restore_test_duration_seconds"]; ok {
		t.Fatal("an RTO before any test succeeded")
	}
	s.LastTestSuccessSeconds = &secs
	if got := samples(t, s)["rgz_backup_restore_test_duration_seconds"]; got != 42 {
		t.Fatalf("RTO %v, want the successful test's 42 s", got)
	}
}
