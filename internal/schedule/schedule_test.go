package schedule

import (
	"strings"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		spec, from, next string
	}{
		{"0 3 * * *", "2026-02-05T02:59:59Z", "2026-02-05T03:00:00Z"},
		{"0 3 * * *", "2026-02-05T03:00:00Z", "2026-02-06T03:00:00Z"},
		{"  0  3 * * * ", "2026-02-05T03:00:01Z", "2026-02-06T03:00:00Z"},
		{"*/15 * * * * *", "2026-02-05T03:00:01Z", "2026-02-05T03:00:15Z"},
		{"0 2 * * 0", "2026-02-05T00:00:00Z", "2026-02-08T02:00:00Z"}, // Sunday 02:00
	}
	for _, c := range cases {
		s, err := Parse(c.spec)
		if err != nil {
			t.Fatalf("%q: %v", c.spec, err)
		}
		if got := s.Next(at(c.from)); !got.Equal(at(c.next)) {
			t.Errorf("%q after %s: %s, want %s", c.spec, c.from, got, c.next)
		}
	}
}

// The schedule is UTC whatever the host's zone.
func TestParseIsUTC(t *testing.T) {
	t.Parallel()
	s, _ := Parse("0 3 * * *")
	paris := time.FixedZone("CET", 3600)
	from := time.Date(2026, 2, 5, 3, 30, 0, 0, paris) // 02:30 UTC
	if got := s.Next(from); !got.Equal(at("2026-02-05T03:00:00Z")) {
		t.Fatalf("next = %s", got)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"", "0 3 * *", "@daily", "0 0 3 * * * *", "61 3 * * *", "0 25 * * *", "x 3 * * *"} {
		if _, err := Parse(spec); err == nil || !strings.Contains(err.Error(), "cron expression") {
			t.Errorf("%q: %v", spec, err)
		}
	}
}

func TestDaily(t *testing.T) {
	t.Parallel()
	s, err := Daily(3, 0)
	if err != nil || s.Spec != "0 3 * * *" {
		t.Fatalf("%q %v", s.Spec, err)
	}
	for _, hm := range [][2]int{{24, 0}, {-1, 0}, {3, 60}} {
		if _, err := Daily(hm[0], hm[1]); err == nil {
			t.Errorf("%v accepted", hm)
		}
	}
}

func mustParse(t *testing.T, spec string) Schedule {
	t.Helper()
	s, err := Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLatest(t *testing.T) {
	t.Parallel()
	daily, _ := Daily(3, 0)
	fast, _ := Parse("*/15 * * * * *")
	cases := []struct {
		s         Schedule
		now, want string
	}{
		{daily, "2026-02-05T03:00:00Z", "2026-02-05T03:00:00Z"},
		{daily, "2026-02-05T03:04:59Z", "2026-02-05T03:00:00Z"},
		{daily, "2026-02-05T02:59:59Z", "2026-02-04T03:00:00Z"},
		{fast, "2026-02-05T03:00:29Z", "2026-02-05T03:00:15Z"},
		// Uneven gaps: the window is not the period between the next two.
		{mustParse(t, "0 3,4 * * *"), "2026-02-05T10:00:00Z", "2026-02-05T04:00:00Z"},
		{mustParse(t, "0 3 * * 1-5"), "2026-02-09T02:00:00Z", "2026-02-06T03:00:00Z"}, // Monday: Friday's slot
		{mustParse(t, "0 3 1 * *"), "2026-03-31T23:00:00Z", "2026-03-01T03:00:00Z"},
		{mustParse(t, "0 3 29 2 *"), "2027-03-01T00:00:00Z", "2024-02-29T03:00:00Z"},
	}
	for _, c := range cases {
		got, ok := c.s.Latest(at(c.now))
		if !ok || !got.Equal(at(c.want)) {
			t.Errorf("%s at %s: %s %v, want %s", c.s.Spec, c.now, got, ok, c.want)
		}
	}
}

func TestNearest(t *testing.T) {
	t.Parallel()
	daily, _ := Daily(3, 0)
	fast, _ := Parse("*/15 * * * * *")
	cases := []struct {
		s         Schedule
		now, want string
	}{
		{daily, "2026-02-05T02:59:59.9Z", "2026-02-05T03:00:00Z"}, // inserted a moment early
		{daily, "2026-02-05T03:00:00Z", "2026-02-05T03:00:00Z"},
		{daily, "2026-02-05T03:00:02Z", "2026-02-05T03:00:00Z"},
		{daily, "2026-02-05T14:59:00Z", "2026-02-05T03:00:00Z"},
		{daily, "2026-02-05T15:01:00Z", "2026-02-06T03:00:00Z"},
		{fast, "2026-02-05T03:00:14.95Z", "2026-02-05T03:00:15Z"},
		{fast, "2026-02-05T03:00:22Z", "2026-02-05T03:00:15Z"},
	}
	for _, c := range cases {
		if got := c.s.Nearest(at(c.now)); !got.Equal(at(c.want)) {
			t.Errorf("%s at %s: %s, want %s", c.s.Spec, c.now, got, c.want)
		}
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	slot := at("2026-02-05T03:00:00Z")
	tol := 5 * time.Minute
	none := time.Time{}
	cases := []struct {
		name          string
		started       string
		newestSuccess time.Time
		want          Decision
		reason        string
	}{
		{"on time", "2026-02-05T03:00:02Z", at("2026-02-04T03:00:10Z"), Run, ""},
		{"at the tolerance", "2026-02-05T03:05:00Z", at("2026-02-04T03:00:10Z"), Run, ""},
		{"never a backup, on time", "2026-02-05T03:00:00Z", none, Run, ""},
		{"late, day not covered", "2026-02-05T07:30:00Z", at("2026-02-04T03:00:10Z"), CatchUp, "has no successful backup yet"},
		{"late, never a backup", "2026-02-05T03:05:01Z", none, CatchUp, "beyond the 5m0s tolerance"},
		{"slot already done (another replica)", "2026-02-05T03:00:03Z", at("2026-02-05T03:00:01Z"), Skip, "already has a successful backup"},
		{"late, a manual backup ran that day before the slot", "2026-02-05T09:00:00Z", at("2026-02-05T01:00:00Z"), Skip, "2026-02-05 already has"},
		{"on time, a manual backup before the slot does not count", "2026-02-05T03:00:01Z", at("2026-02-05T01:00:00Z"), Run, ""},
		{"a late job from yesterday, today covered by its own", "2026-02-06T04:00:00Z", at("2026-02-05T03:00:01Z"), Skip, "already has a successful backup"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, why := Decide(slot, at(c.started), tol, c.newestSuccess)
			if got != c.want || !strings.Contains(why, c.reason) {
				t.Fatalf("got %s (%q), want %s (%q)", got, why, c.want, c.reason)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	want := []time.Duration{30 * time.Second, 60 * time.Second, 120 * time.Second}
	for i, w := range want {
		if d, ok := RetryDelay(i+1, DefaultRetryDelays); !ok || d != w {
			t.Errorf("after attempt %d: %s %v, want %s", i+1, d, ok, w)
		}
	}
	if _, ok := RetryDelay(4, DefaultRetryDelays); ok {
		t.Error("a fifth attempt was allowed")
	}
	if _, ok := RetryDelay(0, DefaultRetryDelays); ok {
		t.Error("attempt 0 accepted")
	}
	if d, _ := RetryDelay(3, []time.Duration{time.Second, 2 * time.Second, 1200 * time.Millisecond}); d != 1200*time.Millisecond {
		t.Errorf("scaled: %s", d)
	}
	if MaxAttempts != 4 {
		t.Errorf("MaxAttempts = %d", MaxAttempts)
	}
}
