package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/version"
)

// --version and `version --json` say the build; a backup records it.
func TestVersion(t *testing.T) {
	t.Parallel()
	r := rgz(t, map[string]string{}, "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "rgz-backup ") || !strings.Contains(r.stdout, "go1.") {
		t.Fatalf("--version: %+v", r)
	}
	j := rgz(t, map[string]string{}, "version", "--json")
	var info version.Info
	if j.code != 0 || json.Unmarshal([]byte(j.stdout), &info) != nil || info.Version == "" || !strings.HasPrefix(info.GoVersion, "go1.") {
		t.Fatalf("version --json: %+v", j)
	}
	env := sampleEnv(t)
	b := rgz(t, env, "backup", "--json")
	var row struct {
		RgzVersion string `json:"rgz_version"`
		Filename   string `json:"filename"`
	}
	if b.code != 0 || json.Unmarshal([]byte(b.stdout), &row) != nil || row.RgzVersion != info.Version && !strings.HasPrefix(row.RgzVersion, info.Version+" (commit ") {
		t.Fatalf("the backup's rgz_version %q, the build's %+v", row.RgzVersion, info)
	}
	show := rgz(t, env, "show", row.Filename, "--json")
	if !strings.Contains(show.stdout, `"rgz_version": "`+row.RgzVersion+`"`) {
		t.Fatalf("show: %s", show.stdout)
	}
}
