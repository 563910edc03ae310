package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/layout"
)

// runbookLine is the one line of docs/RESTORE.md's shell blocks that
// starts with prefix (after its indentation), continuation lines joined.
func runbookLine(t *testing.T, prefix string) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/RESTORE.md")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		text := strings.ReplaceAll(block[1], "\\\n", " ")
		for _, line := range strings.Split(text, "\n") {
			if line = strings.TrimSpace(line); strings.HasPrefix(line, prefix) {
				found = append(found, line)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("docs/RESTORE.md has %d lines starting %q, want 1: %q", len(found), prefix, found)
	}
	return found[0]
}

// The runbook's commands (docs/RESTORE.md), run as written, find and
// restore the newest backup whatever the layout — today's one database,
// or TARGET/DATABASE folders with hostile names — and whether backups are
// encrypted or not: the newest dump's path, its restore tests, its CRC32,
// the restore by that path, the by-hand script from that path, and the
// fetch of one backup's every file from S3.
func TestRunbookCommandsInEveryLayout(t *testing.T) {
	t.Parallel()
	aws, err := exec.LookPath("/usr/bin/aws")
	if err != nil {
		t.Fatal("Debian's awscli (installed by scripts/install-deps.sh) is needed: ", err)
	}
	for _, c := range []struct {
		name      string
		several   bool
		encrypted bool
	}{{"one database, plain", false, false}, {"several databases, encrypted", true, true}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := s3Env(t)
			if c.several {
				src := dbName(env["BACKUP_DATABASE_URL"])
				env["BACKUP_DATABASE_URL"] = cluster.URL("postgres")
				env["BACKUP_DATABASES"] = src
			}
			var identity string
			if c.encrypted {
				var recipient string
				recipient, identity = newKeyFile(t)
				env["BACKUP_ENCRYPTION_RECIPIENTS"], env["BACKUP_ENCRYPTION_IDENTITY_FILE"] = recipient, identity
			}
			for range 2 {
				if r := rgz(t, env, "backup"); r.code != 0 {
					t.Fatalf("backup: %+v", r)
				}
			}
			if r := rgz(t, env, "restore-test"); r.code != 0 {
				t.Fatalf("restore-test: %+v", r)
			}
			rows := catalogRows(t, openStore(t, env))
			newest := rows[0]
			if c.encrypted != strings.HasSuffix(newest.Filename, ".age") || (c.several && layout.Folder(newest) == "") {
				t.Fatalf("the layout under test is not the one meant: %s at %s", newest.Filename, *newest.FilePath)
			}
			bin := filepath.Dir(binary)
			sh := func(script string, vars ...string) string {
				t.Helper()
				cmd := exec.Command("bash", "-c", "set -euo pipefail\n"+script)
				cmd.Env = append([]string{"PATH=" + bin + ":" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, vars...)
				for k, v := range env {
					cmd.Env = append(cmd.Env, k+"="+v)
				}
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s\n%v\n%s", script, err, out)
				}
				return strings.TrimSpace(string(out))
			}

			// Step 3: the newest dump, and its restore tests.
			find := runbookLine(t, "DUMP=$(find ")
			dump := sh(find + "\necho \"$DUMP\"")
			if dump != *newest.FilePath {
				t.Fatalf("step 3 found %q, want %q", dump, *newest.FilePath)
			}
			if tests := sh(runbookLine(t, `grep '"status"' "$DUMP.restore-tests.json"`), "DUMP="+dump); !strings.Contains(tests, `"success"`) {
				t.Fatalf("its restore tests: %q", tests)
			}
			// Its CRC32 as stored.
			if crc := sh(runbookLine(t, "python3 -c 'import sys,zlib;"), "DUMP="+dump); crc != *newest.ChecksumCRC32 {
				t.Fatalf("CRC32 by hand %s, recorded %s", crc, *newest.ChecksumCRC32)
			}
			// Step 4, onto "the new server" (this test's cluster).
			restore := runbookLine(t, `rgz-backup restore "$DUMP" --target-url`)
			target := fmt.Sprintf("runbook_%d_%v", cluster.Port, c.encrypted)
			t.Cleanup(func() { cluster.DropDatabase(context.Background(), target) })
			restore = strings.Replace(restore, "postgres://postgres@new-db:5432/postgres", cluster.URL("postgres"), 1)
			restore = strings.Replace(restore, "--target-db rgz ", "--target-db "+target+" ", 1)
			if out := sh(restore, "DUMP="+dump); !strings.Contains(out, "every table and row count matches") {
				t.Fatalf("step 4: %s", out)
			}
			// By hand, from the path of the dump.
			byHand := runbookLine(t, `BACKUP_DIR="$(dirname "$DUMP")"`)
			byHand = strings.Replace(strings.Replace(byHand, "…", "", 1), "restore-by-hand.sh", "../../docs/restore-by-hand.sh", 1)
			target2 := target + "_byhand"
			t.Cleanup(func() { cluster.DropDatabase(context.Background(), target2) })
			if out := sh(byHand, "DUMP="+dump, "PGHOST=127.0.0.1", "PGPORT="+strconv.Itoa(cluster.Port), "PGUSER=postgres", "TARGET_DB="+target2,
				"JOBS=2", "WORK="+t.TempDir(), "AGE_IDENTITY="+identity); !strings.Contains(out, "every table holds exactly the rows of the backup") {
				t.Fatalf("by hand: %s", out)
			}

			// From S3: every file of the backup, into an empty directory.
			folder := "prod"
			if f := layout.Folder(newest); f != "" {
				folder += "/" + f
			}
			month := newest.BackupDate.UTC().Format("2006/01")
			fetch := strings.Replace(runbookLine(t, "aws s3 cp --recursive"), "aws ", aws+" --endpoint-url "+env["BACKUP_S3_ENDPOINT"]+" ", 1)
			fetch = strings.Replace(fetch, "/2026/02/", "/"+month+"/", 1)
			fetch = strings.ReplaceAll(fetch, "20260205_030015", strings.Split(newest.Filename, ".")[0])
			into := t.TempDir()
			sh("cd "+into+"\n"+fetch, "BUCKET="+env["BACKUP_S3_BUCKET"], "FOLDER="+folder, "AWS_ACCESS_KEY_ID="+env["BACKUP_S3_ACCESS_KEY_ID"],
				"AWS_SECRET_ACCESS_KEY="+env["BACKUP_S3_SECRET_ACCESS_KEY"], "AWS_DEFAULT_REGION="+env["BACKUP_S3_REGION"])
			got, _ := os.ReadDir(into)
			var names []string
			for _, e := range got {
				names = append(names, e.Name())
			}
			want, _ := layout.NamesOf(newest)
			for _, f := range []string{want.Dump, want.SHA256, want.Manifest, want.Globals} {
				if !slices.Contains(names, f) {
					t.Fatalf("fetched from S3: %v, lacks %s", names, f)
				}
			}
			var manifest catalog.Execution
			if b, err := os.ReadFile(filepath.Join(into, want.Manifest)); err != nil || json.Unmarshal(b, &manifest) != nil || manifest.ID != newest.ID {
				t.Fatalf("the fetched manifest: %v", err)
			}
		})
	}
}
