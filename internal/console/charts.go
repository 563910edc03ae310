package console

import (
	"fmt"
	"net/http"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/report"
)

// The charts are SVG drawn by the server: readable without JavaScript,
// nothing to download, no inline style (the CSP forbids it: colours are
// classes of console.css).

// Day is one day of the history: its newest good backup's size and
// duration, whether it looked suspect, and whether every attempt failed.
type Day struct {
	Date     time.Time
	Size     int64
	Seconds  int
	Suspect  bool
	Failed   bool // attempts, none good
	Attempts int
}

// Days lays the catalog's day sums out over every day from..to (UTC),
// oldest first; a day without a backup is there, empty.
func Days(stats []catalog.DayStat, from, to time.Time) []Day {
	from, to = dayOf(from), dayOf(to)
	byDay := map[time.Time]catalog.DayStat{}
	for _, st := range stats {
		byDay[dayOf(st.Day)] = st
	}
	var out []Day
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		st := byDay[d]
		out = append(out, Day{Date: d, Size: st.Size, Seconds: st.Seconds, Suspect: st.Suspect,
			Failed: st.Attempts > 0 && st.Good == 0, Attempts: st.Attempts})
	}
	return out
}

func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Bar is one bar of a chart, in the SVG's coordinates.
type Bar struct {
	X, Y, W, H float64
	Class      string // ok, suspect, failed, none
	Title      string // the tooltip, and what a screen reader says
}

// Chart is a bar chart of one value per day.
type Chart struct {
	Width, Height float64
	Bars          []Bar
	Max           string // the top of the scale, said in words
}

// barChart scales the values of days into bars of a width×height chart.
func barChart(days []Day, width, height float64, value func(Day) float64, say func(float64) string) Chart {
	c := Chart{Width: width, Height: height}
	top := 0.0
	for _, d := range days {
		top = max(top, value(d))
	}
	c.Max = say(top)
	if len(days) == 0 {
		return c
	}
	w := width / float64(len(days))
	for i, d := range days {
		v := value(d)
		h := 0.0
		if top > 0 {
			h = v / top * (height - 2)
		}
		class := "ok"
		switch {
		case d.Failed:
			class, h = "failed", height-2 // a red bar the whole height: no backup that day
		case d.Attempts == 0:
			class = "none"
		case d.Suspect:
			class = "suspect"
		}
		title := d.Date.Format("2006-01-02") + ": " + say(v)
		switch class {
		case "failed":
			title = d.Date.Format("2006-01-02") + ": FAILED"
		case "none":
			title = d.Date.Format("2006-01-02") + ": —"
		case "suspect":
			title += " (suspect)"
		}
		c.Bars = append(c.Bars, Bar{X: float64(i) * w, Y: height - h, W: max(w-1, 1), H: h, Class: class, Title: title})
	}
	return c
}

// Cell is one day of the 12-month calendar.
type Cell struct {
	X, Y       float64
	Class      string // ok, failed, none, compliance
	Title      string
	Compliance bool
}

// calendar lays the days out as weeks (columns) of seven days (rows);
// compliance marks the days of a compliance copy.
func calendar(days []Day, compliance map[time.Time]bool) []Cell {
	var cells []Cell
	if len(days) == 0 {
		return nil
	}
	offset := (int(days[0].Date.Weekday()) + 6) % 7 // Monday first
	for i, d := range days {
		pos := i + offset
		class := "none"
		switch {
		case d.Failed:
			class = "failed"
		case d.Attempts > 0:
			class = "ok"
		}
		title := d.Date.Format("2006-01-02") + ": " + class
		if compliance[d.Date] {
			title += " (compliance copy)"
		}
		cells = append(cells, Cell{X: float64(pos/7) * 12, Y: float64(pos%7) * 12, Class: class, Title: title, Compliance: compliance[d.Date]})
	}
	return cells
}

// charts is the charts page: 90 days of sizes and durations, the restore
// tests' durations, and the last 12 months' calendar.
func (c *server) charts(w http.ResponseWriter, r *http.Request, v viewer) {
	ctx := r.Context()
	now := c.now()
	yearAgo := now.AddDate(-1, 0, 0)
	stats, err := c.Store.Days(ctx, yearAgo, r.URL.Query().Get("database"))
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	year := Days(stats, yearAgo, now)
	recent := year[max(len(year)-90, 0):]
	compliance := map[time.Time]bool{}
	for _, st := range stats {
		if st.Compliance {
			compliance[dayOf(st.Day)] = true
		}
	}
	tests, err := c.Store.RestoreTests(ctx, yearAgo)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	var testDays []Day
	for i := len(tests) - 1; i >= 0; i-- { // oldest first
		t := tests[i]
		d := Day{Date: t.StartedAt, Attempts: 1, Failed: t.Status == catalog.TestFailed}
		if t.DurationSeconds != nil {
			d.Seconds = *t.DurationSeconds
		}
		testDays = append(testDays, d)
	}
	seconds := func(s float64) string { return fmt.Sprintf("%.0f s", s) }
	c.render(w, r, "charts", v, map[string]any{
		"Size":     barChart(recent, 900, 160, func(d Day) float64 { return float64(d.Size) }, func(b float64) string { return report.Bytes(int64(b)) }),
		"Duration": barChart(recent, 900, 120, func(d Day) float64 { return float64(d.Seconds) }, seconds),
		"Tests":    barChart(testDays, 900, 120, func(d Day) float64 { return float64(d.Seconds) }, seconds),
		"Calendar": calendar(year, compliance),
		"Database": r.URL.Query().Get("database"),
	})
}
