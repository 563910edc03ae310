package pitr

import (
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/walship"
)

// A copy's row says the moment its WAL reaches, not the later moment it
// was recorded: the window must not end past the WAL it holds.
func TestRowShippedAtIsWhatTheCopyHolds(t *testing.T) {
	t.Parallel()
	recorded := time.Date(2026, 12, 6, 23, 37, 26, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		holds, want time.Time
	}{
		{"written before it was recorded", recorded.Add(-6 * time.Second), recorded.Add(-6 * time.Second)},
		{"a clock ahead of the recorder's", recorded.Add(time.Second), recorded},
		{"not known", time.Time{}, recorded},
	} {
		row := Row(1, walship.Shipped{Holds: tc.holds}, archive.Zstd, recorded)
		if !row.ShippedAt.Equal(tc.want) {
			t.Errorf("%s: shipped_at %s, want %s", tc.name, row.ShippedAt, tc.want)
		}
	}
}
