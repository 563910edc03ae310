package pitrproof

import (
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/pitrplan"
	"github.com/mosaique/rgz-backup/internal/wal"
)

func TestJudge(t *testing.T) {
	t.Parallel()
	target := time.Date(2026, 12, 6, 14, 3, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := target.Add(d); return &v }
	base := pitrplan.Base{Label: "b1", Timeline: 1, Start: 0x2000028, End: 0x2000100}
	w := pitrplan.Window{Base: base, Timeline: 2, FromLSN: 0x2000100, ToLSN: 0x5000000, From: target.Add(-time.Hour)}
	arch := pitrplan.Archive{SegSize: wal.DefaultSegmentSize, Histories: map[uint32][]wal.Switch{2: {{Parent: 1, At: 0x3000000}}}}
	good := catalog.PITRRestoreTest{Target: &target, ReachedLSN: "0/4000000", ReachedTime: at(-time.Second), Timeline: 2,
		HeartbeatBefore: at(-30 * time.Second), HeartbeatAfter: at(30 * time.Second)}
	for _, tc := range []struct {
		name  string
		edit  func(*catalog.PITRRestoreTest)
		found Found
		want  string // a problem's words; "": none
	}{
		{"where it should be", func(*catalog.PITRRestoreTest) {}, Found{Before: true}, ""},
		{"on the parent timeline, before the switch", func(t *catalog.PITRRestoreTest) { t.Timeline, t.ReachedLSN = 1, "0/2800000" }, Found{Before: true}, ""},
		{"on the parent timeline past the switch", func(t *catalog.PITRRestoreTest) { t.Timeline = 1 }, Found{Before: true}, "is on timeline 2"},
		{"no heartbeat before the target yet (a young archive)", func(t *catalog.PITRRestoreTest) {
			t.HeartbeatBefore, t.Target, t.ReachedTime, t.HeartbeatAfter = nil, at(-time.Hour+30*time.Second), at(-time.Hour+29*time.Second), at(-time.Hour+time.Minute)
		}, Found{}, ""},
		{"no heartbeat before the target, long into the window", func(t *catalog.PITRRestoreTest) { t.HeartbeatBefore = nil }, Found{}, "no heartbeat before the target"},
		{"past the target", func(t *catalog.PITRRestoreTest) { t.ReachedTime = at(time.Second) }, Found{Before: true}, "after the target"},
		{"outside the window's WAL", func(t *catalog.PITRRestoreTest) { t.ReachedLSN = "0/6000000" }, Found{Before: true}, "outside the window's WAL"},
		{"an LSN that cannot be read", func(t *catalog.PITRRestoreTest) { t.ReachedLSN = "" }, Found{Before: true}, "cannot be read"},
		{"off the window's timelines", func(t *catalog.PITRRestoreTest) { t.Timeline = 3 }, Found{Before: true}, "is on timeline 2"},
		{"stopped short of the heartbeat before", func(*catalog.PITRRestoreTest) {}, Found{}, "stopped short"},
		{"went past the heartbeat after", func(*catalog.PITRRestoreTest) {}, Found{Before: true, After: true}, "went past it"},
		{"no heartbeat at all", func(t *catalog.PITRRestoreTest) { t.HeartbeatBefore, t.HeartbeatAfter = nil, nil }, Found{}, "could not be compared"},
		{"no heartbeat after the target", func(t *catalog.PITRRestoreTest) { t.HeartbeatAfter = nil }, Found{Before: true}, "no heartbeat after the target"},
	} {
		test := good
		tc.edit(&test)
		problems := Judge(arch, w, test, tc.found, 30*time.Second)
		switch {
		case tc.want == "" && len(problems) > 0:
			t.Errorf("%s: %v", tc.name, problems)
		case tc.want != "" && (len(problems) != 1 || !strings.Contains(problems[0], tc.want)):
			t.Errorf("%s: %v, want one saying %q", tc.name, problems, tc.want)
		}
	}
}

// A live archive grows while a test replays: the restore is judged by the
// window as it stands after it, when that is the same window, longer.
func TestGrownWindow(t *testing.T) {
	t.Parallel()
	base := pitrplan.Base{Label: "b1", Timeline: 1, Start: 0x2000028, End: 0x2000100}
	w := pitrplan.Window{Base: base, Timeline: 1, FromLSN: 0x2000100, ToLSN: 0x30047F0}
	longer := w
	longer.ToLSN = 0x3004A00
	shorter := w
	shorter.ToLSN = 0x3000000
	other := longer
	other.Base.Label = "b2"
	for _, tc := range []struct {
		name  string
		later []pitrplan.Window
		want  wal.LSN
	}{
		{"the same window, longer", []pitrplan.Window{other, longer}, longer.ToLSN},
		{"another base backup's window", []pitrplan.Window{other}, w.ToLSN},
		{"shorter (retention or a read that failed)", []pitrplan.Window{shorter}, w.ToLSN},
		{"gone", nil, w.ToLSN},
	} {
		if got := grown(w, tc.later); got.ToLSN != tc.want {
			t.Errorf("%s: ends at %s, want %s", tc.name, got.ToLSN, tc.want)
		}
	}
	test := catalog.PITRRestoreTest{Target: new(time.Time), ReachedLSN: "0/30049D8", Timeline: 1}
	arch := pitrplan.Archive{SegSize: wal.DefaultSegmentSize}
	if problems := Judge(arch, grown(w, []pitrplan.Window{longer}), test, Found{}, time.Minute); slicesContain(problems, "outside the window's WAL") {
		t.Errorf("judged by the grown window: %v", problems)
	}
	if problems := Judge(arch, w, test, Found{}, time.Minute); !slicesContain(problems, "outside the window's WAL") {
		t.Errorf("judged by the window as chosen: %v, want it outside", problems)
	}
}

func slicesContain(problems []string, words string) bool {
	for _, p := range problems {
		if strings.Contains(p, words) {
			return true
		}
	}
	return false
}
