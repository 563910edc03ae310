package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/api"
	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/basebackup"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/pitrproof"
)

// The point-in-time restore test, against a server whose WAL the daemon
// streams: a test killed with -9 leaves a running copy that the next test
// stops and removes; the first test of the month restores to the oldest
// moment, the next to a random one, an admin's through the API to the
// moment asked; each one finds the server's heartbeat before its target
// and not the one after, checks every index, and is recorded with its
// RTO, on the base backup's row too; a target outside the window fails,
// recorded; the metrics say so.
func TestPITRRestoreTest(t *testing.T) {
	t.Parallel()
	env, src, db := pitrEnv(t)
	src.Set(t, "max_slot_wal_keep_size", "1GB")
	url := src.URL(db)
	token, entry, err := auth.NewToken("admin")
	if err != nil {
		t.Fatal(err)
	}
	env["BACKUP_API_TOKENS"] = entry
	mail := startMail(t)
	mailEnv(t, env, mail)
	owner := src.Owner()
	d := startServeAs(t, env, owner)
	store := openStore(t, env)
	sysid := queryString(t, url, `SELECT system_identifier::text FROM pg_control_system()`)
	execSQL(t, url, `CREATE TABLE invoice (id int PRIMARY KEY, amount numeric)`, `INSERT INTO invoice SELECT g, g * 1.5 FROM generate_series(1, 5000) g`,
		`CREATE INDEX invoice_amount ON invoice (amount)`)
	call := apiCaller(t, d.addr, token)
	archiveEndsAfter := func(at time.Time) func() bool {
		return func() bool {
			var w struct {
				Clusters []struct {
					Newest *time.Time `json:"newest_restorable"`
				} `json:"clusters"`
			}
			call("GET", api.PITRPrefix+"/window", "", &w)
			return len(w.Clusters) == 1 && w.Clusters[0].Newest != nil && w.Clusters[0].Newest.After(at)
		}
	}
	// archiveHolds: the archive's WAL, by LSN and not by the moment it was
	// shipped, holds the server's first heartbeat after at, the commit
	// recovery to at stops on. A loaded machine can stall the heartbeat
	// for seconds: the window's end in time then says nothing of a commit
	// after the moment (the race step once met a 5 s gap).
	archiveHolds := func(at time.Time) func() bool {
		var lsn string
		return func() bool {
			if lsn == "" {
				after := queryString(t, url, `SELECT (to_regclass('rgz_backup.pitr_heartbeat') IS NOT NULL AND EXISTS (SELECT FROM rgz_backup.pitr_heartbeat WHERE beat_at > '`+
					at.Format(time.RFC3339Nano)+`'::timestamptz))::text`)
				if after != "true" {
					return false
				}
				lsn = queryString(t, url, `SELECT pg_current_wal_lsn()::text`)
			}
			var w struct {
				Clusters []struct {
					Windows []struct {
						ToLSN string `json:"to_lsn"`
					} `json:"windows"`
				} `json:"clusters"`
			}
			call("GET", api.PITRPrefix+"/window", "", &w)
			for _, c := range w.Clusters {
				for _, win := range c.Windows {
					if win.ToLSN != "" && lsnOf(t, win.ToLSN) >= lsnOf(t, lsn) {
						return true
					}
				}
			}
			return false
		}
	}
	// A base backup, and a window past it by more than a test's margin (4 s
	// with BACKUP_PITR_SHIP_SECONDS=1): the archive's, as the catalog
	// records what was shipped, not the heartbeats' (shipping may lag on a
	// loaded machine).
	var based time.Time
	waitFor(t, baseBackupWait, "a base backup", func() bool {
		rows, err := store.BaseBackups(t.Context(), parseSysID(t, sysid))
		if err != nil || len(rows) == 0 || rows[len(rows)-1].Status != "success" {
			return false
		}
		based = *rows[len(rows)-1].FinishedAt
		return true
	})
	waitFor(t, archiveWait, "the window 8 s past the base backup", archiveEndsAfter(based.Add(8*time.Second)))
	scratch := filepath.Join(env["BACKUP_LOCAL_DIR"], pitrproof.ScratchDir)

	// Killed while its copy runs: the copy's server outlives it.
	killed := rgzCommand(env, "restore-test", "--pitr")
	killed.SysProcAttr = &syscall.SysProcAttr{Credential: owner}
	var killedOut syncBuffer
	killed.Stdout, killed.Stderr = &killedOut, &killedOut
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = killed.Wait(); close(exited) }()
	var orphan int
	waitFor(t, archiveWait, "the copy's server to start", func() bool {
		select {
		case <-exited:
			t.Fatalf("the test to kill ended before its copy's server started:\n%s", killedOut.String())
		default:
		}
		pids, _ := filepath.Glob(filepath.Join(scratch, "*", "postmaster.pid"))
		for _, p := range pids {
			b, _ := os.ReadFile(p)
			orphan, _ = strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
		}
		return orphan > 0
	})
	_ = killed.Process.Kill()
	<-exited
	if !alive(orphan) {
		t.Fatalf("the copy's server %d died with the test: nothing to sweep, the test proves nothing", orphan)
	}

	test := func(args ...string) (catalog.PITRRestoreTest, result) {
		t.Helper()
		r := rgzAs(t, owner, env, append([]string{"restore-test", "--pitr", "--json"}, args...)...)
		var rt catalog.PITRRestoreTest
		if err := json.Unmarshal([]byte(r.stdout), &rt); err != nil {
			t.Fatalf("restore-test --pitr %v: exit %d, not JSON: %v\n%s%s", args, r.code, err, r.stdout, r.stderr)
		}
		return rt, r
	}
	passed := func(rt catalog.PITRRestoreTest, r result, kind catalog.PITRTestKind) {
		t.Helper()
		if r.code != 0 || rt.Status != catalog.TestSuccess || rt.Kind != kind || rt.Target == nil || rt.HeartbeatAfter == nil ||
			rt.IndexesChecked < 2 || rt.RTOSeconds <= 0 || rt.ReplayBytes <= 0 || rt.BaseBackupID == nil || rt.Timeline != 1 {
			t.Fatalf("a %s test: exit %d, %+v\n%s", kind, r.code, rt, r.stderr)
		}
		if rt.HeartbeatBefore != nil && !rt.HeartbeatBefore.Before(*rt.Target) || !rt.HeartbeatAfter.After(*rt.Target) ||
			rt.ReachedTime != nil && rt.ReachedTime.After(*rt.Target) {
			t.Fatalf("a %s test's heartbeats and stop do not frame its target: %+v", kind, rt)
		}
	}
	oldest, r := test()
	passed(oldest, r, catalog.PITRTestOldest)
	// pg_ctl stop returns when the pid file is gone, a moment before the
	// server's exit, and the orphan is reaped by the machine's init.
	waitFor(t, 10*time.Second, "the killed test's copy to stop", func() bool { return !alive(orphan) })
	if left, _ := os.ReadDir(scratch); len(left) != 0 {
		t.Errorf("copies left after the tests: %v", left)
	}
	random, r := test()
	passed(random, r, catalog.PITRTestRandom)
	if !random.Target.After(*oldest.Target) {
		t.Errorf("the random moment %s is not after the oldest %s", random.Target, oldest.Target)
	}

	// An admin asks the daemon for a moment of their own.
	moment := time.Now().Add(-3 * time.Second).UTC().Truncate(time.Millisecond)
	// A moment a test can restore: the archive reaches past it by the
	// margin (4 s with BACKUP_PITR_SHIP_SECONDS=1).
	waitFor(t, archiveWait, "the archive past the moment", archiveEndsAfter(moment.Add(5*time.Second)))
	waitFor(t, archiveWait, "the archive's WAL past the moment's next heartbeat", archiveHolds(moment))
	res, accepted := call("POST", api.PITRPrefix+"/test-restore", `{"to": "`+moment.Format(time.RFC3339Nano)+`"}`)
	location := res.Header.Get("Location")
	if res.StatusCode != http.StatusAccepted || location == "" || accepted["status"] != "requested" {
		t.Fatalf("POST test-restore: %d %v", res.StatusCode, accepted)
	}
	var chosen catalog.PITRRestoreTest
	waitFor(t, archiveWait, "the asked-for test to end", func() bool {
		call("GET", location, "", &chosen)
		return chosen.Status == catalog.TestSuccess || chosen.Status == catalog.TestFailed
	})
	if chosen.Status != catalog.TestSuccess || chosen.Kind != catalog.PITRTestChosen || chosen.TriggeredBy != catalog.TriggerAPI ||
		!chosen.Target.Equal(moment) || chosen.HeartbeatBefore == nil || chosen.HeartbeatAfter == nil {
		t.Fatalf("the admin's test: %+v\n%s", chosen, d.logs.String())
	}

	// A moment no test can restore to (outside the window, or too close
	// to its end): refused, by the command line and the API, before
	// anything is recorded.
	if r := rgzAs(t, owner, env, "restore-test", "--pitr", "--to", "2020-01-01T00:00:00Z"); r.code != 2 ||
		!strings.Contains(r.stderr, "--to") || !strings.Contains(r.stderr, "the archive restores from") {
		t.Errorf("a moment outside the window: exit %d\n%s", r.code, r.stderr)
	}
	if res, body := call("POST", api.PITRPrefix+"/test-restore", `{"to": "`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`); res.StatusCode != http.StatusBadRequest ||
		!strings.Contains(fmt.Sprint(body), "to: ") {
		t.Errorf("POST test-restore to a moment to come: %d %v", res.StatusCode, body)
	}

	// The heartbeat table dropped (by mistake, say): the daemon makes it
	// again, and a test to a moment before the drop cannot compare the
	// copy's contents: failed, recorded, and told; by the command line
	// and by the daemon, once each.
	execSQL(t, url, `DROP TABLE rgz_backup.pitr_heartbeat`)
	dropped := time.Now().Add(-2 * time.Second).UTC().Truncate(time.Millisecond)
	waitFor(t, archiveWait, "the heartbeat made again", func() bool {
		if queryString(t, url, `SELECT (to_regclass('rgz_backup.pitr_heartbeat') IS NOT NULL)::text`) != "true" {
			return false
		}
		n, _ := strconv.Atoi(queryString(t, url, `SELECT count(*)::text FROM rgz_backup.pitr_heartbeat`))
		return n >= 3
	})
	waitFor(t, archiveWait, "the archive past the moment", archiveEndsAfter(dropped.Add(5*time.Second)))
	waitFor(t, archiveWait, "the archive's WAL past the moment's next heartbeat", archiveHolds(dropped))
	broken, r := test("--to", dropped.Format(time.RFC3339Nano))
	if r.code != 1 || broken.Status != catalog.TestFailed || !strings.Contains(broken.Error, "no heartbeat before the target") {
		t.Fatalf("a test without the heartbeat before its moment: exit %d %+v\n%s", r.code, broken, r.stderr)
	}
	told := waitForMail(t, mail, "Point-in-time restore test FAILED — "+dropped.Format(time.RFC3339))
	if !strings.Contains(told.Text, "no heartbeat before the target") || !strings.Contains(told.Text, "rgz-backup restore-test --pitr") {
		t.Errorf("the failure's mail:\n%s", told.Text)
	}
	// The test before may still be finishing in River (its row says
	// success a moment before its job is marked complete): 409 meanwhile.
	daemonMoment := dropped.Add(-time.Second)
	waitFor(t, 30*time.Second, "the daemon to take a test", func() bool {
		res, body := call("POST", api.PITRPrefix+"/test-restore", `{"to": "`+daemonMoment.Format(time.RFC3339Nano)+`"}`)
		if res.StatusCode != http.StatusAccepted && res.StatusCode != http.StatusConflict {
			t.Fatalf("POST test-restore: %d %v", res.StatusCode, body)
		}
		return res.StatusCode == http.StatusAccepted
	})
	waitForMail(t, mail, "Point-in-time restore test FAILED — "+daemonMoment.Format(time.RFC3339))
	mails, _ := mail.Messages()
	failures := 0
	for _, m := range mails {
		if strings.HasPrefix(m.Subject, "Point-in-time restore test FAILED") {
			failures++
		}
		if strings.HasPrefix(m.Subject, "Point-in-time archive BROKEN") {
			t.Errorf("a continuous archive told as broken: %s\n%s", m.Subject, m.Text)
		}
	}
	if failures != 2 {
		t.Errorf("%d failure mails, want one per failed test (2)", failures)
	}

	var history struct {
		Tests []catalog.PITRRestoreTest `json:"pitr_restore_tests"`
	}
	call("GET", api.PITRPrefix+"/restore-history?days=1", "", &history)
	if len(history.Tests) != 6 {
		t.Fatalf("restore-history: %+v", history)
	}
	newest := history.Tests[0]
	// The test killed at the start is no longer running: the next test
	// found its process gone.
	if killed := history.Tests[5]; killed.Status != catalog.TestFailed || !strings.Contains(killed.Error, "interrupted") {
		t.Errorf("the killed test's row: %+v", killed)
	}
	_, window := call("GET", api.PITRPrefix+"/window", "")
	clusters, _ := window["clusters"].([]any)
	if len(clusters) != 1 || clusters[0].(map[string]any)["state"] != "streaming" || clusters[0].(map[string]any)["system_id"] != sysid {
		t.Errorf("window: %v", window)
	}
	bases, err := store.BaseBackups(t.Context(), parseSysID(t, sysid))
	if err != nil {
		t.Fatal(err)
	}
	if b := bases[len(bases)-1]; b.RestoreTestStatus != string(newest.Status) || b.RestoreTestedAt == nil {
		t.Errorf("the tested base backup's row, after %+v: %+v", newest, b)
	}
	// Beside the base backup too: the newest test from it, in every place.
	beside, err := os.ReadFile(filepath.Join(env["BACKUP_LOCAL_DIR"], basebackup.TestKey(parseSysID(t, sysid), newest.BaseBackupLabel)))
	var kept catalog.PITRRestoreTest
	if err != nil || json.Unmarshal(beside, &kept) != nil || kept.ID != newest.ID || kept.Status != newest.Status {
		t.Errorf("the test's record beside its base backup: %v\n%s", err, beside)
	}
	metrics := strings.Join(scrape(t, d.addr), "\n")
	for _, want := range []string{
		`rgz_backup_pitr_restore_test_status{status="failed",system_id="` + sysid + `"} 1`,
		`rgz_backup_pitr_restore_test_rto_seconds{system_id="` + sysid + `"} `,
		`rgz_backup_pitr_window_broken{system_id="` + sysid + `"} 0`,
		`rgz_backup_pitr_gaps{system_id="` + sysid + `"} 0`,
		`rgz_backup_pitr_oldest_restorable_timestamp_seconds{system_id="` + sysid + `"}`,
		`rgz_backup_pitr_receive_lag_bytes{slot="rgz_backup",system_id="` + sysid + `"}`,
		`rgz_backup_pitr_ship_lag_bytes{slot="rgz_backup",system_id="` + sysid + `"}`,
		`rgz_backup_pitr_check_failed{system_id="` + sysid + `"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "rgz_backup_pitr"))
		}
	}
}

// alive says whether process pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// restore-test --pitr's command line: what does not go with it, and what
// it needs, each one clear error before anything is recorded.
func TestPITRRestoreTestCommandLine(t *testing.T) {
	t.Parallel()
	env := sampleEnv(t)
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"restore-test", "--pitr", "--keep"}, 2, "--pitr"},
		{[]string{"restore-test", "--pitr", "20260205_030000.dump.gz"}, 2, "--pitr"},
		{[]string{"restore-test", "--to", "2026-12-06T14:03:00Z"}, 2, "goes with --pitr"},
		{[]string{"restore-test", "--pitr"}, 2, "BACKUP_PITR_ENABLED"},
	} {
		r := rgz(t, env, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.says) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, want %d saying %q:\n%s", tc.args, r.code, tc.code, tc.says, r.stderr)
		}
	}
	env["BACKUP_PITR_ENABLED"] = "true"
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"restore-test", "--pitr", "--to", "yesterday"}, 2, "must be a moment"},
		{[]string{"restore-test", "--pitr", "--to", "latest"}, 2, "must be a moment"},
		{[]string{"restore-test", "--pitr", "--target", "nowhere"}, 2, "--target"},
		{[]string{"restore-test", "--pitr"}, 1, "refuses to run as root"},
	} {
		if tc.says == "refuses to run as root" && os.Geteuid() != 0 {
			continue // CI runs the tests as root; a person may not
		}
		r := rgz(t, env, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("%v: exit %d, want %d saying %q:\n%s", tc.args, r.code, tc.code, tc.says, r.stderr)
		}
	}
	store := openStore(t, env)
	if tests, err := store.PITRRestoreTests(t.Context(), time.Now().Add(-time.Hour)); err != nil || len(tests) != 0 {
		t.Errorf("refused command lines recorded tests: %v %v", tests, err)
	}
}

// The daily check, as the daemon runs it when it starts: a WAL segment a
// place holds different from what was shipped fails it, said in the
// metrics and told in one mail; the next start finds it still failing
// and sends no second mail.
func TestPITRArchiveCheckTellsOnce(t *testing.T) {
	t.Parallel()
	env, src, db := pitrEnv(t)
	src.Set(t, "max_slot_wal_keep_size", "1GB")
	url := src.URL(db)
	mail := startMail(t)
	mailEnv(t, env, mail)
	owner := src.Owner()
	d := startServeAs(t, env, owner)
	store := openStore(t, env)
	sysid := queryString(t, url, `SELECT system_identifier::text FROM pg_control_system()`)
	var segment catalog.WALFile
	for range 3 {
		execSQL(t, url, `CREATE TABLE IF NOT EXISTS t AS SELECT 1 AS x`, `INSERT INTO t VALUES (2)`)
		switched := lsnOf(t, queryString(t, url, `SELECT pg_switch_wal()::text`))
		waitFor(t, archiveWait, "the switched segment in the archive", func() bool {
			for _, f := range walFiles(t, store, sysid) {
				if f.Kind == catalog.WALSegment && lsnOf(t, f.EndLSN) >= switched {
					segment = f
					return true
				}
			}
			return false
		})
	}
	d.stop(syscall.SIGTERM, 30*time.Second)
	damaged := filepath.Join(env["BACKUP_LOCAL_DIR"], segment.ObjectKey)
	if err := os.WriteFile(damaged, []byte("not what was shipped"), 0o600); err != nil {
		t.Fatal(err)
	}

	d = startServeAs(t, env, owner)
	told := waitForMail(t, mail, "Point-in-time archive BROKEN")
	if !strings.Contains(told.Text, segment.FileName+" differs from what was shipped") || !strings.Contains(told.Text, "cluster "+sysid) {
		t.Errorf("the mail:\n%s", told.Text)
	}
	waitFor(t, 30*time.Second, "the failed check in the metrics", func() bool {
		return strings.Contains(strings.Join(scrape(t, d.addr), "\n"), `rgz_backup_pitr_check_failed{system_id="`+sysid+`"} 1`)
	})
	d.stop(syscall.SIGTERM, 30*time.Second)
	d = startServeAs(t, env, owner)
	catalogURL := env["BACKUP_CATALOG_DATABASE_URL"]
	waitFor(t, archiveWait, "the second start's check", func() bool {
		return queryString(t, catalogURL, `SELECT count(*)::text FROM pitr_archive_checks WHERE status = 'failed'`) == "2"
	})
	// Stopped, the daemon has queued whatever it was to tell.
	d.stop(syscall.SIGTERM, 30*time.Second)
	queued := queryString(t, catalogURL, `SELECT count(*)::text FROM river_job WHERE kind = 'rgz.backup.notify'
		AND args->'event'->>'event' = 'pitr_archive_broken'`)
	if queued != "1" {
		t.Errorf("%s notifications of one broken archive, want 1", queued)
	}
}
