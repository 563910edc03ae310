package jobs

import (
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/schedule"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// A success mail's Next line is the next backup of its own target: a
// target with a schedule of its own has its own next run.
func TestNextRunOfATarget(t *testing.T) {
	now := time.Date(2026, 3, 1, 4, 10, 0, 0, time.UTC)
	daily, _ := schedule.Parse("0 3 * * *")
	fleet := &targets.Fleet{}
	fleet.Set([]targets.Server{{Target: "main"}, {Target: "site-b", Schedule: "30 4 * * *"}})
	w := deps{cfg: config.Config{Schedule: daily, ScheduleEnabled: true}, fleet: fleet, clock: clock.At(now)}
	if got := w.nextRunOf("site-b"); !got.Equal(time.Date(2026, 3, 1, 4, 30, 0, 0, time.UTC)) {
		t.Errorf("site-b: %s", got)
	}
	if got := w.nextRunOf("main"); !got.Equal(time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)) {
		t.Errorf("main: %s", got)
	}
	w.cfg.ScheduleEnabled = false
	if got := w.nextRunOf("site-b"); !got.IsZero() {
		t.Errorf("nothing scheduled: %s", got)
	}
}
