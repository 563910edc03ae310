package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFrom(t *testing.T) {
	t.Parallel()
	checkout := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.time", Value: "2026-11-25T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}, true
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	installed := func() (*debug.BuildInfo, bool) { return &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, true }
	for _, c := range []struct {
		name    string
		v, c, d string
		read    func() (*debug.BuildInfo, bool)
		want    Info
	}{
		{"a release (ldflags)", "1.4.0", "feed42", "2026-11-26T00:00:00Z", checkout, Info{"1.4.0", "feed42", "2026-11-26T00:00:00Z", "go1.26"}},
		{"a build from a checkout", "", "", "", checkout, Info{"devel", "0123abc-dirty", "2026-11-25T10:00:00Z", "go1.26"}},
		{"go install module@version", "", "", "", installed, Info{"v1.2.3", "", "", "go1.26"}},
		{"nothing known", "", "", "", none, Info{"devel", "", "", "go1.26"}},
	} {
		if got := from(c.v, c.c, c.d, "go1.26", c.read); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	if s := (Info{"1.4.0", "feed42", "2026-11-26T00:00:00Z", "go1.26"}).String(); !strings.Contains(s, "1.4.0") || !strings.Contains(s, "feed42") {
		t.Errorf("String: %s", s)
	}
}
