package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var units = []string{"rgz-backup.service", "rgz-backup-backup.service", "rgz-backup-backup.timer"}

// The package's systemd units pass `systemd-analyze verify`, each service
// scores OK or better in `systemd-analyze security`, and each carries the
// hardening docs/INSTALL.md promises.
func TestSystemdUnits(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze (Debian's systemd, installed by scripts/install-deps.sh) is needed: ", err)
	}
	dir := t.TempDir()
	var paths []string
	for _, u := range units {
		b, err := os.ReadFile(filepath.Join("../../deploy/debian", u))
		if err != nil {
			t.Fatal(err)
		}
		// verify checks that ExecStart's program exists: the one just built.
		text := strings.ReplaceAll(string(b), "/usr/bin/rgz-backup", binary)
		p := filepath.Join(dir, u)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.Command(analyze, append([]string{"verify"}, paths...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	score := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\w+)`)
	for _, u := range units[:2] {
		out, _ := exec.Command(analyze, "security", "--offline=true", filepath.Join(dir, u)).CombinedOutput()
		m := score.FindStringSubmatch(string(out))
		if m == nil || (m[2] != "OK" && m[2] != "SAFE") {
			t.Fatalf("%s: systemd-analyze security says %v\n%s", u, m, out)
		}
		t.Logf("%s: exposure %s %s", u, m[1], m[2])
		b, _ := os.ReadFile(filepath.Join("../../deploy/debian", u))
		for _, want := range []string{"User=rgz-backup", "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/rgz-backup/backups",
			"ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
			"SystemCallFilter=@system-service", "MemoryMax=", "TimeoutStopSec=", "EnvironmentFile=/etc/rgz-backup/rgz-backup.env", "UMask=0027"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s lacks %q", u, strings.TrimSpace(want))
			}
		}
	}
	daemon, _ := os.ReadFile("../../deploy/debian/rgz-backup.service")
	if !strings.Contains(string(daemon), "Restart=on-failure") || !strings.Contains(string(daemon), "RestartPreventExitStatus=2") ||
		!strings.Contains(string(daemon), "TimeoutStopSec=360") {
		t.Error("the daemon's unit restarts on failure but not on a refused configuration, and waits past the shutdown grace (up to 300 s)")
	}
	timer, _ := os.ReadFile("../../deploy/debian/rgz-backup-backup.timer")
	if !strings.Contains(string(timer), "OnCalendar=*-*-* 03:00:00 UTC") || !strings.Contains(string(timer), "Persistent=true") {
		t.Error("the timer runs at 03:00 UTC, persistent")
	}
}

// Every make target whose recipe runs a tool the install script installs
// ($(GOBIN)/…: nfpm, staticcheck) depends on deps, itself or through a
// prerequisite: `make package` on a fresh machine once failed with
// "nfpm: not found".
func TestMakeTargetsInstallWhatTheyUse(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	prereqs, uses := map[string][]string{}, map[string]bool{}
	rule := regexp.MustCompile(`^([a-z][a-z-]*):(.*)$`)
	var current string
	for _, line := range strings.Split(string(b), "\n") {
		if m := rule.FindStringSubmatch(line); m != nil {
			current = m[1]
			prereqs[current] = strings.Fields(m[2])
			continue
		}
		if strings.HasPrefix(line, "\t") && current != "" && strings.Contains(line, "$(GOBIN)/") {
			uses[current] = true
		}
	}
	var installs func(target string, seen map[string]bool) bool
	installs = func(target string, seen map[string]bool) bool {
		if target == "deps" {
			return true
		}
		if seen[target] {
			return false
		}
		seen[target] = true
		for _, p := range prereqs[target] {
			if installs(p, seen) {
				return true
			}
		}
		return false
	}
	if !uses["package"] {
		t.Fatal("the Makefile's package target no longer runs nfpm: this test reads it wrong")
	}
	for target := range uses {
		if !installs(target, map[string]bool{}) {
			t.Errorf("make %s runs a tool of the install script without depending on deps", target)
		}
	}
}
