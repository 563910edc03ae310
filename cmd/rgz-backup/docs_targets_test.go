package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// docsTargetsFiles are the targets files the docs show (```yaml blocks
// with a "targets:" key), by where they are.
func docsTargetsFiles(t *testing.T) map[string]string {
	t.Helper()
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs: %v", err)
	}
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	out := map[string]string{}
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range block.FindAllStringSubmatch(string(b), -1) {
			if strings.Contains(m[1], "targets:") {
				out[filepath.Base(doc)+"#"+string(rune('1'+i))] = m[1]
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the docs show no targets file")
	}
	return out
}

// `serve` starts on every targets file the docs show, and reloads it
// (SIGHUP) — targets with schedules and restore-test schedules of their
// own included (River once refused their ids, and the daemon panicked);
// a reload to a file that does not read, or whose schedules are refused,
// changes nothing and never takes the daemon down.
func TestServeRunsTheDocsTargetsFiles(t *testing.T) {
	t.Parallel()
	for where, text := range docsTargetsFiles(t) {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env := serveEnv(t)
			delete(env, "BACKUP_DATABASE_URL") // with a targets file, the catalog's URL is enough
			// The files and variables the example names, as an operator
			// would create them.
			text = regexp.MustCompile(`password_file: (\S+)`).ReplaceAllStringFunc(text, func(m string) string {
				p := filepath.Join(dir, filepath.Base(strings.TrimPrefix(m, "password_file: ")))
				os.WriteFile(p, []byte("secret\n"), 0o600)
				return "password_file: " + p
			})
			for _, m := range regexp.MustCompile(`password_env: (\w+)`).FindAllStringSubmatch(text, -1) {
				env[m[1]] = "secret"
			}
			file := filepath.Join(dir, "targets.yaml")
			if err := os.WriteFile(file, []byte(text), 0o640); err != nil {
				t.Fatal(err)
			}
			env["BACKUP_TARGETS_FILE"] = file
			if r := rgz(t, env, "targets", "check"); r.code != 0 {
				t.Fatalf("targets check: %+v", r)
			}
			d := startServe(t, env)
			alive := func(when string) {
				t.Helper()
				select {
				case <-d.exited:
					t.Fatalf("%s: serve exited (%d):\n%s", when, d.code, d.logs.String())
				case <-time.After(300 * time.Millisecond):
				}
				if strings.Contains(d.logs.String(), "panic") {
					t.Fatalf("%s: a panic:\n%s", when, d.logs.String())
				}
			}
			alive("start")
			reloads := func() int { return strings.Count(d.logs.String(), "SIGHUP: targets reloaded") }
			refusals := func() int { return strings.Count(d.logs.String(), "SIGHUP: the targets file was not reloaded") }
			d.cmd.Process.Signal(syscall.SIGHUP)
			waitFor(t, 30*time.Second, "the reload", func() bool { return reloads() == 1 })
			alive("reload")
			// Every target with its own schedule, its schedule changed.
			changed := regexp.MustCompile(`schedule: "[^"]*"`).ReplaceAllString(text, `schedule: "*/30 * * * *"`)
			os.WriteFile(file, []byte(changed), 0o640)
			d.cmd.Process.Signal(syscall.SIGHUP)
			waitFor(t, 30*time.Second, "the second reload", func() bool { return reloads() == 2 })
			alive("a reload with changed schedules")
			for i, bad := range []string{"targets: [oops\n", strings.Replace(text, "targets:", "targets:\n  - name: Bad Name\n    url: postgres://x@h/db\n    databases: [x]", 1)} {
				os.WriteFile(file, []byte(bad), 0o640)
				d.cmd.Process.Signal(syscall.SIGHUP)
				waitFor(t, 30*time.Second, "the bad file refused", func() bool { return refusals() == i+1 })
				alive("a bad file")
			}
		})
	}
}
