package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The alert rules and the dashboard use only metrics this package exports
// (a renamed metric would leave an alert that never fires).
func TestDeployFilesUseExportedNames(t *testing.T) {
	t.Parallel()
	exported := map[string]bool{"rgz_backup_notification_failures_total": true}
	ch := make(chan *prometheus.Desc, 64)
	Collector{}.Describe(ch)
	close(ch)
	name := regexp.MustCompile(`fqName: "(\w+)"`)
	for d := range ch {
		exported[name.FindStringSubmatch(d.String())[1]] = true
	}
	for _, name := range []string{"rgz_backup_pg_dump_duration_seconds", "rgz_backup_pg_dump_size_bytes", "rgz_backup_pg_dump_status"} {
		if !exported[name] {
			t.Errorf("the specification's %s is not exported", name)
		}
	}
	used := regexp.MustCompile(`rgz_backup_\w+`)
	for _, file := range []string{"../../deploy/prometheus/rgz-backup.rules.yml", "../../deploy/grafana/rgz-backup.json"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range used.FindAllString(string(b), -1) {
			if !exported[n] {
				t.Errorf("%s uses %s, which is not exported", file, n)
			}
		}
	}
}

// The dashboard says what an empty panel means rather than "No data": the
// RTO before any restore test succeeded, the last success when there was
// none (the metric's 0 is filtered, not shown as 1970).
func TestDashboardSaysWhatEmptyMeans(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../deploy/grafana/rgz-backup.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title       string `json:"title"`
			FieldConfig struct {
				Defaults struct {
					NoValue string `json:"noValue"`
				} `json:"defaults"`
			} `json:"fieldConfig"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Restore test duration (RTO)": "no restore test has succeeded yet", "Last success": "never"}
	for _, p := range dash.Panels {
		if w, ok := want[p.Title]; ok {
			if p.FieldConfig.Defaults.NoValue != w {
				t.Errorf("panel %q says %q when empty, want %q", p.Title, p.FieldConfig.Defaults.NoValue, w)
			}
			delete(want, p.Title)
		}
		if p.Title == "Last success" && (len(p.Targets) != 1 || !strings.Contains(p.Targets[0].Expr, "> 0")) {
			t.Errorf("the last success panel shows the metric's 0 (never) as a date: %+v", p.Targets)
		}
	}
	if len(want) > 0 {
		t.Errorf("panels missing: %v", want)
	}
}
