package retention_test

import (
	"fmt"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/retention"
)

// Which backups go on 2026-12-06: each copy expires by its class (30 days
// for a daily one here, 7 years for a month's compliance copy), and the
// safety rules come first — the newest good backup always stays, a backup
// being read stays, and a failed attempt owns no file, so it is not
// weighed at all.
func ExampleDecide() {
	now := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	backup := func(id string, daysAgo int, class catalog.RetentionClass, good, inUse bool) retention.Copy {
		date := now.AddDate(0, 0, -daysAgo)
		return retention.Copy{
			ID: id, Filename: date.Format("20060102_150405") + ".dump.zst", Database: "mosaique", Date: date,
			Good: good, Class: class, InUse: inUse, Expires: retention.Expiry(date, class, 30, 2557),
		}
	}
	copies := []retention.Copy{
		backup("a", 1, catalog.ClassDaily, true, false),
		backup("b", 31, catalog.ClassDaily, true, false),
		backup("c", 32, catalog.ClassDaily, true, true),
		backup("d", 33, catalog.ClassDaily, false, false),
		backup("e", 36, catalog.ClassCompliance, true, false),
		backup("f", 37, catalog.ClassDaily, true, false),
		backup("g", 2, catalog.ClassDaily, true, false),
		backup("h", 3, catalog.ClassDaily, true, false),
	}
	plan := retention.Decide(copies, now, retention.Rules{MinKeep: 2})
	for _, d := range plan.Decisions {
		fmt.Printf("%s delete=%t: %s\n", d.Copy.Filename, d.Delete, d.Why)
	}
	fmt.Println("refused:", plan.Refused != "")
	// Output:
	// 20261105_030000.dump.zst delete=true: daily copy, kept until 2026-12-05
	// 20261104_030000.dump.zst delete=false: daily copy, kept until 2026-12-04; kept: a restore or restore test is reading it
	// 20261030_030000.dump.zst delete=true: daily copy, kept until 2026-11-29
	// refused: false
}
