package schedule_test

import (
	"fmt"
	"time"

	"github.com/mosaique/rgz-backup/internal/schedule"
)

// The specification's nightly slot, 03:00 UTC, and what a job does when it
// starts: on time it runs; late, it runs as a catch-up unless its day
// already has a success; a missed slot is found again after a restart.
func ExampleDecide() {
	nightly, _ := schedule.Daily(3, 0)
	slot := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	fmt.Println("next after 02:59:40:", nightly.Next(slot.Add(-20*time.Second)).Format(time.DateTime))
	latest, _ := nightly.Latest(slot.Add(90 * time.Minute)) // a daemon back at 04:30
	fmt.Println("latest slot at 04:30:", latest.Format(time.DateTime))

	yesterday := slot.AddDate(0, 0, -1)
	for _, c := range []struct {
		started, newestSuccess time.Time
	}{
		{slot.Add(2 * time.Second), yesterday},                  // on time
		{slot.Add(90 * time.Minute), yesterday},                 // the daemon was down at 03:00
		{slot.Add(90 * time.Minute), slot.Add(5 * time.Minute)}, // a manual backup already ran today
	} {
		d, why := schedule.Decide(slot, c.started, 5*time.Minute, c.newestSuccess)
		line := c.started.Format("15:04:05") + ": " + d.String()
		if why != "" {
			line += " (" + why + ")"
		}
		fmt.Println(line)
	}
	delay, ok := schedule.RetryDelay(1, schedule.DefaultRetryDelays)
	fmt.Println("after a failed first attempt, retry in", delay, ok)
	// Output:
	// next after 02:59:40: 2026-12-06 03:00:00
	// latest slot at 04:30: 2026-12-06 03:00:00
	// 03:00:02: run
	// 04:30:00: catch_up (started 1h30m0s after its slot 2026-12-06T03:00:00Z, beyond the 5m0s tolerance; 2026-12-06 has no successful backup yet)
	// 04:30:00: skip (slot 2026-12-06T03:00:00Z already has a successful backup (2026-12-06T03:05:00Z))
	// after a failed first attempt, retry in 30s true
}
