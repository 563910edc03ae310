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
