package retention

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/layout"
)

// Each destination keeps its copies for its own retention_days: a NAS kept
// 15 days loses older daily copies, a second one kept 30 loses none,
// the local files (30 days) stay, compliance copies stay everywhere; a
// destination that cannot be reached delays its own deletions only.
func TestRetentionPerDestination(t *testing.T) {
	t.Parallel()
	s := newStore(t, 25)
	ctx := context.Background()
	short, long := filepath.Join(t.TempDir(), "short"), filepath.Join(t.TempDir(), "long")
	var specs []destination.Spec
	for _, raw := range []string{"file://" + short + "?retention_days=15", "file://" + long, "sftp://rgz@127.0.0.1:1/srv?retention_days=20"} {
		spec, err := destination.ParseURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, spec)
	}
	s.cfg.Destinations.List = specs
	s.cfg.Destinations.SFTPKeyFile, s.cfg.Destinations.SFTPKnownHosts = "/nonexistent", "/nonexistent"
	// Every backup has a verified copy in each destination (the SFTP one
	// only in the catalog: its server is gone).
	now := time.Now().UTC()
	for _, row := range s.rows {
		for _, spec := range specs {
			if spec.Kind == "file" {
				names, err := layout.NamesOf(row)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range names.All() {
					p := filepath.Join(spec.Path, filepath.FromSlash(destination.Name("", row.BackupDate, f)))
					os.MkdirAll(filepath.Dir(p), 0o750)
					os.WriteFile(p, []byte("copy"), 0o640)
				}
			}
			if err := s.cat.RecordCopy(ctx, catalog.Copy{BackupID: row.ID, Destination: spec.URL, Location: destination.Name("", row.BackupDate, row.Filename), VerifiedAt: &now}); err != nil {
				t.Fatal(err)
			}
		}
	}
	report, err := s.run(Options{})
	if err == nil || !strings.Contains(err.Error(), "not deleted from sftp://") || len(report.Destinations) != 3 {
		t.Fatalf("the unreachable destination should be a problem: %v, %d plans", err, len(report.Destinations))
	}
	inShort := 0
	for _, row := range s.rows {
		if _, err := os.Stat(filepath.Join(short, filepath.FromSlash(destination.Name("", row.BackupDate, row.Filename)))); err == nil {
			inShort++
		} else if row.RetentionClass == catalog.ClassCompliance || row.BackupDate.After(s.today.AddDate(0, 0, -15)) {
			t.Errorf("%s (%s) deleted from the 15-day destination", row.Filename, row.RetentionClass)
		}
		if _, err := os.Stat(filepath.Join(long, filepath.FromSlash(destination.Name("", row.BackupDate, row.Filename)))); err != nil {
			t.Errorf("%s deleted from the 30-day destination", row.Filename)
		}
		if !exists(*row.FilePath) {
			t.Errorf("%s deleted locally", row.Filename)
		}
	}
	if inShort >= len(s.rows) || len(report.Destinations[0].Deleted) != len(s.rows)-inShort || len(report.Destinations[1].Deleted) != 0 {
		t.Fatalf("%d of %d left in the 15-day destination, deleted %v", inShort, len(s.rows), report.Destinations[0].Deleted)
	}
	live, _ := s.cat.LiveCopies(ctx)
	perDest := map[string]int{}
	for _, lc := range live {
		perDest[lc.Destination]++
	}
	if perDest[specs[0].URL] != inShort || perDest[specs[1].URL] != len(s.rows) || perDest[specs[2].URL] != len(s.rows) {
		t.Fatalf("live copies by destination: %v", perDest)
	}
}
