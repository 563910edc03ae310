package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// pitrCommandSources are the files whose `rgz-backup pitr` (and
// `rgz-backup restore-test --pitr`) commands a person is told to type:
// point-in-time recovery's doc, the alerts' annotations and the mails. docs/RESTORE.md's restore lines are run by
// TestPITRRestoreToATime.
var pitrCommandSources = []string{"docs/PITR.md", "deploy/prometheus/rgz-backup.rules.yml",
	"internal/notify/templates/en.txt.tmpl", "internal/notify/templates/fr.txt.tmpl"}

// Each `rgz-backup pitr` command the docs and the alerts tell, run as
// written (placeholders filled) against a server whose WAL the daemon
// streams, with a base backup: exit 0.
func TestPITRDocsCommandsRun(t *testing.T) {
	t.Parallel()
	env, src, db := pitrEnv(t)
	src.Set(t, "max_slot_wal_keep_size", "1GB")
	url := src.URL(db)
	// The daemon and the commands as one user, as on a host.
	d := startServeAs(t, env, src.Owner())
	sysid := queryString(t, url, `SELECT system_identifier::text FROM pg_control_system()`)
	store := openStore(t, env)
	bases := func() []catalog.BaseBackup {
		rows, err := store.BaseBackups(context.Background(), parseSysID(t, sysid))
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	waitFor(t, baseBackupWait, "the first base backup", func() bool {
		return slices.ContainsFunc(bases(), func(b catalog.BaseBackup) bool { return b.Status == "success" })
	})
	// A moment inside the window: after the base backup, before WAL the
	// archive holds.
	execSQL(t, url, `CREATE TABLE note AS SELECT generate_series(1, 100) AS id`)
	moment := queryString(t, url, `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`)
	execSQL(t, url, `INSERT INTO note VALUES (101)`)
	switched := lsnOf(t, queryString(t, url, `SELECT pg_switch_wal()::text`))
	var segment string
	waitFor(t, archiveWait, "the switched segment in the archive", func() bool {
		for _, f := range walFiles(t, store, sysid) {
			if f.Kind == catalog.WALSegment && f.EndLSN != "" && lsnOf(t, f.EndLSN) >= switched {
				segment = f.FileName
				return true
			}
		}
		return false
	})
	// The window reaches past the moment by a restore test's margin (4 s
	// with BACKUP_PITR_SHIP_SECONDS=1), and past the newest base backup
	// by as much: restore-test --pitr finds a moment to draw.
	at, err := time.Parse(time.RFC3339Nano, moment)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, archiveWait, "the archive past the moment", func() bool {
		for _, f := range walFiles(t, store, sysid) {
			if f.ShippedAt.After(at.Add(8 * time.Second)) {
				return true
			}
		}
		return false
	})
	owner := src.Owner()
	v := placeholders{Filename: segment, SystemID: sysid, Dest: filepath.Join(ownedDir(t, src), "RECOVERYXLOG"), Now: time.Now(),
		Time: moment, DataDir: filepath.Join(ownedDir(t, src), "restored"), Port: freePort(t)}
	ran := 0
	for _, source := range pitrCommandSources {
		text, err := os.ReadFile(filepath.Join("..", "..", source))
		if err != nil {
			t.Fatal(err)
		}
		for _, command := range commandsIn(string(text)) {
			if !strings.HasPrefix(command, "rgz-backup pitr") && !strings.HasPrefix(command, "rgz-backup restore-test --pitr") {
				continue
			}
			args, err := instantiate(command, v)
			if err != nil {
				t.Errorf("%s: %v", source, err)
				continue
			}
			// As the cluster's owner: a restore refuses root.
			r := rgzAs(t, owner, env, args...)
			if r.code != 0 {
				t.Errorf("%s tells a person to type `%s`; as %q it exits %d:\n%s%s", source, command, args, r.code, r.stdout, r.stderr)
			}
			if len(args) > 1 && args[1] == "restore" && r.code == 0 {
				stopRestored(t, owner, r.stdout)
			}
			// The next command finds no base backup under way (one a
			// command asked of the daemon).
			waitFor(t, baseBackupWait, "base backups asked for to be taken", func() bool {
				return !slices.ContainsFunc(bases(), func(b catalog.BaseBackup) bool { return b.Status == "requested" || b.Status == "running" })
			})
			ran++
		}
	}
	if ran < 8 {
		t.Fatalf("only %d pitr commands found in %v: the list of sources is out of date", ran, pitrCommandSources)
	}
	if _, err := os.Stat(v.Dest); err != nil {
		t.Errorf("wal-fetch as the doc writes it wrote nothing: %v", err)
	}

	// The stream's state reaches every replica's metrics.
	metrics := strings.Join(scrape(t, d.addr), "\n")
	for _, want := range []string{
		`rgz_backup_pitr_receiving{slot="rgz_backup",system_id="` + sysid + `"} 1`,
		`rgz_backup_pitr_slot_limit_bytes{slot="rgz_backup",system_id="` + sysid + `"} 1.073741824e+09`,
		`rgz_backup_pitr_slot_safe_bytes{slot="rgz_backup",system_id="` + sysid + `"}`,
		`rgz_backup_pitr_slot_lost_timestamp_seconds{slot="rgz_backup",system_id="` + sysid + `"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "rgz_backup_pitr"))
		}
	}
}

// grepLines are text's lines that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
