package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// commandSources are the files whose rgz-backup commands a person is told
// to type: the docs of the daemon, the notifications, the monitoring,
// retention and the pipeline; the alerts' annotations; the mails'
// templates and the report they carry. Each is walked by
// TestDocsCommandsRun.
var commandSources = []string{
	"docs/DAEMON.md", "docs/NOTIFICATIONS.md", "docs/MONITORING.md", "docs/RETENTION.md", "docs/BACKUP-PIPELINE.md",
	"deploy/prometheus/rgz-backup.rules.yml",
	"internal/notify/templates/en.txt.tmpl", "internal/notify/templates/fr.txt.tmpl", "internal/report/report.go",
}

// notCommands are mentions of rgz-backup that are no command to type.
var notCommands = map[string]string{
	"rgz-backup run RUN_ID": "the application_name of a run's server sessions",
}

// commandsIn are the rgz-backup commands text tells a person to type:
// in inline code, on a line of a code block, or in parentheses (the
// mails), in order, each once.
func commandsIn(text string) []string {
	var out []string
	add := func(c string) {
		c = strings.TrimSpace(c)
		if i := strings.Index(c, " #"); i >= 0 {
			c = strings.TrimSpace(c[:i])
		}
		if _, skip := notCommands[c]; !skip && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	for _, block := range regexp.MustCompile("(?s)```[a-z]*\n(.*?)```").FindAllStringSubmatch(text, -1) {
		for _, line := range strings.Split(strings.ReplaceAll(block[1], "\\\n", " "), "\n") {
			if line = strings.TrimPrefix(strings.TrimSpace(line), "$ "); strings.HasPrefix(line, "rgz-backup ") {
				add(strings.Join(strings.Fields(line), " "))
			}
		}
	}
	text = regexp.MustCompile("(?s)```[a-z]*\n.*?```").ReplaceAllString(text, "")
	for _, m := range regexp.MustCompile("`(rgz-backup [^`]+)`|\\((rgz-backup [^)]+)\\)").FindAllStringSubmatch(text, -1) {
		add(m[1] + m[2])
	}
	return out
}

// placeholders are the values a walk puts where a command names a thing.
type placeholders struct {
	Filename, Database, NewDatabase string
	Now                             time.Time
	// Point-in-time recovery's: the cluster, wal-fetch's destination,
	// the moment, data directory and port of a restore.
	SystemID, Dest, Time, DataDir string
	Port                          int
}

// instantiate turns a command as written into arguments: optional parts
// ([--json]) taken, the first of alternatives (A|B), the placeholders
// (FILENAME, NAME, a template's {{…}}) filled. A placeholder it does not
// know is an error: a new one needs a value here.
func instantiate(command string, v placeholders) ([]string, error) {
	command = strings.NewReplacer("[", "", "]", "", "{{ $labels.target }}", catalog.DefaultTarget, "{{ $labels.database }}", v.Database,
		"{{.Backup.Filename}}", v.Filename, "{{.RestoreTest.BackupFilename}}", v.Filename, "{{ $labels.system_id }}", v.SystemID).Replace(command)
	fields := strings.Fields(command)
	if len(fields) < 2 || fields[0] != "rgz-backup" {
		return nil, fmt.Errorf("%q: not an rgz-backup command", command)
	}
	args := fields[1:]
	for i, a := range args {
		a, _, _ = strings.Cut(a, "|")
		prev := ""
		if i > 0 {
			prev = args[i-1]
		}
		switch {
		case a == "FILENAME" || a == "FILE" || a == "FICHIER":
			a = v.Filename
		case (a == "NAME" || a == "NOM") && prev == "--target-db":
			a = v.NewDatabase
		case (a == "NAME" || a == "NOM") && prev == "--database":
			a = v.Database
		case a == "ID" && prev == "--system-id" && v.SystemID != "":
			a = v.SystemID
		case a == "DEST" && v.Dest != "":
			a = v.Dest
		case a == "TIME" && v.Time != "":
			a = v.Time
		case a == "DIR" && prev == "--data-dir" && v.DataDir != "":
			a = v.DataDir
		case a == "P" && prev == "--port" && v.Port != 0:
			a = strconv.Itoa(v.Port)
		case a == "RFC3339":
			a = v.Now.Add(24 * time.Hour).UTC().Format(time.RFC3339)
		case regexp.MustCompile(`^[A-Z][A-Z_]{2,}$|\{\{|…`).MatchString(a):
			return nil, fmt.Errorf("%q: no value for %q", command, a)
		}
		args[i] = a
	}
	return args, nil
}

// Each file's commands, run as written (placeholders filled) against a
// catalog with a backup, in the order the file gives them, exit 0: a
// command a doc, an alert or a mail tells a person to type works.
func TestDocsCommandsRun(t *testing.T) {
	t.Parallel()
	for _, source := range commandSources {
		text, err := os.ReadFile(filepath.Join("..", "..", source))
		if err != nil {
			t.Fatal(err)
		}
		commands := commandsIn(string(text))
		if len(commands) == 0 {
			t.Fatalf("%s tells no rgz-backup command: the list of sources is out of date", source)
		}
		t.Run(filepath.Base(source), func(t *testing.T) {
			t.Parallel()
			env := serveEnv(t)
			env["POSTGRES_BACKUP_ENABLED"], env["BACKUP_RESTORE_TEST_ENABLED"] = "false", "false"
			env["BACKUP_DESTINATIONS"] = "file://" + t.TempDir() // archive is told where copies are made
			var row catalog.Execution
			if r := rgz(t, env, "backup", "--json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &row) != nil {
				t.Fatalf("backup: %+v", r)
			}
			v := placeholders{Filename: row.Filename, Database: dbName(env["BACKUP_DATABASE_URL"]), Now: time.Now(),
				NewDatabase: "docs_restored_" + strings.TrimPrefix(dbName(env["BACKUP_DATABASE_URL"]), "t")}
			t.Cleanup(func() { dropDatabase(t, v.NewDatabase) })
			for _, command := range commands {
				args, err := instantiate(command, v)
				if err != nil {
					t.Errorf("%s: %v", source, err)
					continue
				}
				switch args[0] {
				case "serve":
					runServe(t, env)
					continue
				case "pitr":
					continue // against a streaming server: TestPITRDocsCommandsRun
				}
				if slices.Contains(args, "--pitr") {
					continue // restore-test --pitr: TestPITRDocsCommandsRun
				}
				r := rgz(t, env, args...)
				if r.code != 0 {
					t.Errorf("%s tells a person to type `%s`; as %q it exits %d:\n%s%s", source, command, args, r.code, r.stdout, r.stderr)
				}
				if m := regexp.MustCompile(`Kept: database (\S+)`).FindStringSubmatch(r.stdout); m != nil {
					dropDatabase(t, m[1])
				}
			}
		})
	}
}

// runServe starts the daemon, waits until it is ready, and stops it: it
// must exit 0.
func runServe(t *testing.T, env map[string]string) {
	t.Helper()
	d := startServe(t, env)
	waitFor(t, 60*time.Second, "the daemon to be ready", func() bool {
		res, err := http.Get("http://" + d.addr + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	d.stop(syscall.SIGTERM, 60*time.Second)
	if d.code != 0 {
		t.Errorf("rgz-backup serve exited %d:\n%s", d.code, d.logs.String())
	}
}

func dropDatabase(t *testing.T, name string) {
	t.Helper()
	if _, err := cluster.Conn(t, "postgres").Exec(context.Background(), `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
		t.Errorf("drop %s: %v", name, err)
	}
}

// The walk's extraction and placeholders, on what the sources write.
func TestCommandsInAndInstantiate(t *testing.T) {
	t.Parallel()
	text := "Run `rgz-backup list --days 2` then\n```sh\n$ rgz-backup retention [--dry-run] [--now RFC3339] [--json]   # what goes\nrgz-backup \\\n  status\n```\n" +
		"(rgz-backup restore FICHIER --target-db NOM --create), `rgz-backup run RUN_ID`, `rgz-backup list --days 2`"
	want := []string{"rgz-backup retention [--dry-run] [--now RFC3339] [--json]", "rgz-backup status", "rgz-backup list --days 2",
		"rgz-backup restore FICHIER --target-db NOM --create"}
	if got := commandsIn(text); !slices.Equal(got, want) {
		t.Fatalf("commandsIn:\n got %q\nwant %q", got, want)
	}
	v := placeholders{Filename: "20260205_030015.dump.gz", Database: "radius", NewDatabase: "scratch", Now: time.Date(2026, 2, 5, 0, 0, 0, 0, time.UTC)}
	for command, want := range map[string]string{
		"rgz-backup retention [--dry-run] [--now RFC3339] [--json]":                       "retention --dry-run --now 2026-02-06T00:00:00Z --json",
		"rgz-backup restore FICHIER --target-db NOM --create":                             "restore 20260205_030015.dump.gz --target-db scratch --create",
		"rgz-backup backup --database NAME":                                               "backup --database radius",
		"rgz-backup list --target {{ $labels.target }} --database {{ $labels.database }}": "list --target default --database radius",
		"rgz-backup show 20260205_030015.dump.gz|ID":                                      "show 20260205_030015.dump.gz",
		"rgz-backup restore-test {{.RestoreTest.BackupFilename}} --keep":                  "restore-test 20260205_030015.dump.gz --keep",
		"rgz-backup verify FILENAME|ID|--all":                                             "verify 20260205_030015.dump.gz",
		"rgz-backup show {{.Backup.Filename}}":                                            "show 20260205_030015.dump.gz",
	} {
		got, err := instantiate(command, v)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("instantiate(%q) = %q, %v; want %q", command, got, err, want)
		}
	}
	for _, unknown := range []string{"rgz-backup restore DUMP_PATH", "rgz-backup show {{.Other}}", "rgz-backup restore ./x.dump.gz …", "pg_dump -Fc"} {
		if got, err := instantiate(unknown, v); err == nil {
			t.Errorf("instantiate(%q) = %q, want an error", unknown, got)
		}
	}
}

// BACKUP-PIPELINE.md's check by hand, run as written on a plain backup of
// one database and on an encrypted one of several (a TARGET/DATABASE
// folder): the SHA-256 is OK, the CRC32 is the catalog's, and the table of
// contents reads.
func TestPipelineCheckByHand(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/BACKUP-PIPELINE.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Checking a file by hand.*?```sh\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("BACKUP-PIPELINE.md has no check by hand")
	}
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			t.Parallel()
			env := sampleEnv(t)
			vars := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
			if encrypted {
				env["BACKUP_DATABASES"] = dbName(env["BACKUP_DATABASE_URL"])
				env["BACKUP_DATABASE_URL"] = cluster.URL("postgres")
				recipient, identity := newKeyFile(t)
				env["BACKUP_ENCRYPTION_RECIPIENTS"] = recipient
				vars = append(vars, "AGE_IDENTITY="+identity)
			}
			if r := rgz(t, env, "backup"); r.code != 0 {
				t.Fatalf("backup: %+v", r)
			}
			row := catalogRows(t, openStore(t, env))[0]
			r := rgz(t, env, "show", row.Filename, "--json")
			var shown struct {
				FilePath string `json:"file_path"`
			}
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &shown) != nil || shown.FilePath == "" {
				t.Fatalf("show --json: %+v", r)
			}
			if encrypted != strings.HasSuffix(shown.FilePath, ".age") || encrypted != strings.Contains(shown.FilePath, "/default/") {
				t.Fatalf("not the layout meant: %s", shown.FilePath)
			}
			cmd := exec.Command("bash", "-c", string(m[1]))
			cmd.Env = append(vars, "DUMP="+shown.FilePath)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), filepath.Base(shown.FilePath)+": OK") ||
				!strings.Contains(string(out), "\n"+*row.ChecksumCRC32+"\n") || !strings.Contains(string(out), "; Archive created at") {
				t.Fatalf("the check by hand of %s: %v\n%s", shown.FilePath, err, out)
			}
		})
	}
}
