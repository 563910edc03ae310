package metrics

import (
	"os"
	"regexp"
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
	for _, seed := range []string{"rgz_backup_pg_dump_duration_seconds", "rgz_backup_pg_dump_size_bytes", "rgz_backup_pg_dump_status"} {
		if !exported[seed] {
			t.Errorf("the seed's %s is not exported", seed)
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
