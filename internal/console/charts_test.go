package console

import (
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

func TestDaysAndCharts(t *testing.T) {
	t.Parallel()
	at := func(day, hour int) time.Time { return time.Date(2026, 11, day, hour, 0, 0, 0, time.UTC) }
	stats := []catalog.DayStat{
		{Day: at(20, 0), Attempts: 2, Good: 2, Size: 120},
		{Day: at(21, 0), Attempts: 1},
		{Day: at(23, 0), Attempts: 1, Good: 1, Size: 10, Suspect: true},
		{Day: at(30, 0), Attempts: 1, Good: 1, Size: 999}, // after the range
	}
	days := Days(stats, at(20, 0), at(23, 12))
	if len(days) != 4 || days[0].Size != 120 || !days[1].Failed || days[2].Attempts != 0 || !days[3].Suspect {
		t.Fatalf("days %+v", days)
	}
	c := barChart(days, 400, 100, func(d Day) float64 { return float64(d.Size) }, func(v float64) string { return "" })
	classes := []string{}
	for _, b := range c.Bars {
		classes = append(classes, b.Class)
	}
	if strings.Join(classes, ",") != "ok,failed,none,suspect" || c.Bars[0].H != 98 || c.Bars[3].H >= c.Bars[0].H {
		t.Fatalf("bars %+v", c.Bars)
	}
	cells := calendar(days, map[time.Time]bool{at(20, 0): true})
	if len(cells) != 4 || !cells[0].Compliance || cells[1].Class != "failed" || !strings.Contains(cells[0].Title, "compliance") {
		t.Fatalf("calendar %+v", cells)
	}
	// 2026-11-20 is a Friday: the fifth row of the first week (Monday first).
	if cells[0].X != 0 || cells[0].Y != 4*12 || cells[3].X != 12 {
		t.Fatalf("calendar layout %+v", cells)
	}
}
