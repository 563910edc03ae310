package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/schedule"
	"github.com/mosaique/rgz-backup/internal/status"
	"github.com/mosaique/rgz-backup/internal/testenv/testtool"
)

// daemon is one `rgz-backup serve` process.
type daemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	logs   *syncBuffer
	exited chan struct{}
	code   int
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, _, err := testtool.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// serveEnv is sampleEnv for the daemon: fast retries, an HTTP port of its own.
func serveEnv(t *testing.T) map[string]string {
	env := sampleEnv(t)
	env["BACKUP_RETRY_DELAYS"] = "1s,2s,4s"
	env["BACKUP_LOG_LEVEL"] = "info"
	return env
}

func startServe(t *testing.T, env map[string]string) *daemon {
	t.Helper()
	return startServeAs(t, env, nil)
}

// startServeAs is startServe run as the user cred says (nil: ourselves).
func startServeAs(t *testing.T, env map[string]string, cred *syscall.Credential) *daemon {
	t.Helper()
	d := &daemon{t: t, addr: env["BACKUP_HTTP_ADDR"], logs: &syncBuffer{}, exited: make(chan struct{})}
	if d.addr == "" { // a test that needs the address first sets it
		d.addr = freeAddr(t)
	}
	d.cmd = exec.Command(binary, "serve")
	d.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "BACKUP_HTTP_ADDR=" + d.addr}
	for k, v := range env {
		d.cmd.Env = append(d.cmd.Env, k+"="+v)
	}
	if cred != nil {
		d.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	// A child that outlives a killed daemon (a grandchild that no death
	// signal reaches) must not hold the test on the pipes it inherited.
	d.cmd.WaitDelay = 10 * time.Second
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = d.cmd.Wait()
		d.code = d.cmd.ProcessState.ExitCode()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("serve %s logs:\n%s", d.addr, d.logs.String())
		}
	})
	probe, scheme := http.DefaultClient, "http"
	if env["BACKUP_HTTP_TLS_CERT_FILE"] != "" {
		// Only to see it up: the TLS tests check the certificate.
		probe, scheme = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}, "https"
	}
	waitFor(t, 30*time.Second, "serve to answer /healthz", func() bool {
		res, err := probe.Get(scheme + "://" + d.addr + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	})
	return d
}

// stop sends sig and returns how long the daemon took to exit.
func (d *daemon) stop(sig syscall.Signal, within time.Duration) time.Duration {
	d.t.Helper()
	began := time.Now()
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.exited:
		return time.Since(began)
	case <-time.After(within):
		d.t.Fatalf("serve did not exit within %s of %s", within, sig)
	}
	return 0
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func openStore(t *testing.T, env map[string]string) *catalog.Store {
	t.Helper()
	store, err := catalog.Open(context.Background(), config.Database{URL: env["BACKUP_CATALOG_DATABASE_URL"]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	if _, err := store.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return store
}

func catalogRows(t *testing.T, store *catalog.Store) []catalog.Execution {
	t.Helper()
	rows, err := store.List(context.Background(), catalog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// blockDump makes pg_dump wait until the returned function is called: a
// session holds an exclusive lock on one of the sample's tables.
func blockDump(t *testing.T, env map[string]string) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, env["BACKUP_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := conn.Begin(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback(ctx); conn.Close(ctx) }) }
	t.Cleanup(release)
	return release
}

func tempFiles(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	return m
}

func statusOf(t *testing.T, env map[string]string) status.Status {
	t.Helper()
	r := rgz(t, env, "status", "--json")
	var st status.Status
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil {
		t.Fatalf("status: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	return st
}

func enqueue(t *testing.T, env map[string]string) string {
	t.Helper()
	r := rgz(t, env, "backup", "--enqueue", "--json")
	var job struct {
		JobID int64  `json:"job_id"`
		RunID string `json:"run_id"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &job) != nil || job.JobID == 0 {
		t.Fatalf("enqueue: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	return job.RunID
}

func attemptsOf(rows []catalog.Execution, runID string) []catalog.Execution {
	var out []catalog.Execution
	for i := len(rows) - 1; i >= 0; i-- { // oldest first
		if rows[i].RunID != nil && *rows[i].RunID == runID {
			out = append(out, rows[i])
		}
	}
	return out
}

// Two daemons side by side on 10-second slots: every slot is covered by
// exactly one successful backup, and the catch-up a fresh catalog calls
// for happens at most once.
func TestTwoReplicasOneBackupPerSlot(t *testing.T) {
	t.Parallel()
	env := serveEnv(t)
	// A slot every 10 s: a backup here takes under 1 s alone, and up to
	// 13 s on a 2-core machine that the rest of the suite loads.
	env["BACKUP_SCHEDULE_CRON"] = "*/10 * * * * *"
	s, _ := schedule.Parse(env["BACKUP_SCHEDULE_CRON"])
	store := openStore(t, env)
	// Slots this close to the start may come before the daemons are up
	// and one of them leads River's periodic jobs (on a loaded machine,
	// seconds).
	first := s.Next(time.Now().Add(5 * time.Second))
	last := first.Add(20 * time.Second) // three slots
	a, b := startServe(t, env), startServe(t, env)
	conn, err := pgx.Connect(context.Background(), env["BACKUP_CATALOG_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	// What each slot's jobs did: how many successful scheduled backups
	// they made, and whether they have all finished (run or skipped).
	type slotOutcome struct {
		backups  int
		finished bool
	}
	var perSlot map[time.Time]slotOutcome
	var backupDates []time.Time // of every successful backup
	count := func() {
		for _, r := range catalogRows(t, store) {
			if r.Status != catalog.StatusSuccess {
				t.Fatalf("a backup failed: %+v", r)
			}
		}
		perSlot = map[time.Time]slotOutcome{}
		rows, err := conn.Query(context.Background(), `SELECT (j.args->>'slot')::timestamptz, bool_and(j.state = 'completed'),
				count(DISTINCT b.id) FILTER (WHERE b.status = 'success' AND b.triggered_by = 'scheduled')
			FROM river_job j LEFT JOIN backup_executions b ON j.args->>'run_id' = b.run_id::text
			WHERE j.kind = 'rgz.backup.pg_dump' AND j.args->>'slot' IS NOT NULL GROUP BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var slot time.Time
			var o slotOutcome
			if err := rows.Scan(&slot, &o.finished, &o.backups); err != nil {
				t.Fatal(err)
			}
			perSlot[slot.UTC()] = o
		}
		backupDates = backupDates[:0]
		for _, r := range catalogRows(t, store) {
			backupDates = append(backupDates, r.BackupDate)
		}
	}
	waitFor(t, 180*time.Second, "three slots' jobs to finish", func() bool {
		count()
		for slot := first; !slot.After(last); slot = s.Next(slot) {
			if !perSlot[slot].finished {
				return false
			}
		}
		return true
	})
	for _, d := range []*daemon{a, b} {
		d.stop(syscall.SIGTERM, 30*time.Second)
		if d.code != 0 {
			t.Fatalf("serve exited %d", d.code)
		}
	}
	count()
	// Every slot from the first to the last is covered once: by its own
	// backup, or — when the backup before it ran past it and held the
	// lock (a backup longer than the 10 s between slots, on a loaded
	// machine) — by the next slot's backup, taken after it, which the
	// slot's job found and skipped for (schedule.Decide).
	coveredLater := func(slot time.Time) bool {
		for _, d := range backupDates {
			if !d.Before(slot) && !d.After(s.Next(s.Next(slot))) {
				return true
			}
		}
		return false
	}
	for slot := first; !slot.After(last); slot = s.Next(slot) {
		switch o := perSlot[slot]; {
		case o.backups == 1:
		case o.backups == 0 && coveredLater(slot):
			t.Logf("slot %s: skipped, covered by a later backup", slot.Format(time.TimeOnly))
		default:
			t.Errorf("slot %s: %d successful scheduled backups, want 1 (backups taken %v; all: %v)",
				slot.Format(time.TimeOnly), o.backups, backupDates, perSlot)
		}
	}
	for slot, o := range perSlot {
		if o.backups > 1 {
			t.Errorf("slot %s: %d backups", slot.Format(time.TimeOnly), o.backups)
		}
	}
	// The fresh catalog calls for one catch-up at start, for the latest
	// slot; replicas that start on either side of a slot's second (short
	// slots make that likely on a loaded machine) each name their own
	// latest slot, and the second catch-up stands for that slot's backup.
	// A catch-up may also find the lock taken, be postponed, and then be
	// skipped because a backup has succeeded since. Never more than one
	// per replica.
	catchUps := 0
	for _, r := range catalogRows(t, store) {
		if r.TriggeredBy == catalog.TriggerCatchUp {
			catchUps++
		}
	}
	if catchUps > 2 {
		t.Fatalf("%d catch-ups (want at most one per replica)", catchUps)
	}
}

// A daemon started after a missed night catches up once, however many
// replicas start; idle, it stops within a second or two of SIGTERM.
func TestCatchUpAfterDowntimeAndQuickIdleStop(t *testing.T) {
	t.Parallel()
	env := serveEnv(t)
	env["POSTGRES_BACKUP_HOUR_UTC"], env["POSTGRES_BACKUP_MINUTE_UTC"] = "3", "0"
	// Settings of later features are accepted and ignored; no restore test is scheduled.
	env["BACKUP_RESTORE_TEST_ENABLED"], env["SMTP_HOST"] = "false", "mail.example"
	store := openStore(t, env)
	threeDaysAgo := time.Now().UTC().Add(-72 * time.Hour).Truncate(time.Second)
	old := catalog.Execution{ID: "00000000-0000-0000-0000-000000000001", BackupType: "pg_dump", BackupDate: threeDaysAgo,
		Filename: threeDaysAgo.Format("20060102_150405") + ".dump.gz", Status: catalog.StatusSuccess, RestoreTestStatus: catalog.TestNotTested, TriggeredBy: catalog.TriggerScheduled, Attempt: 1}
	if err := store.Insert(context.Background(), &old); err != nil {
		t.Fatal(err)
	}
	a, b := startServe(t, env), startServe(t, env)
	waitFor(t, 60*time.Second, "the catch-up backup", func() bool {
		return len(catalogRows(t, store)) >= 2 && statusOf(t, env).Jobs != nil && len(statusOf(t, env).Jobs) == 0
	})
	time.Sleep(time.Second) // a second catch-up, if any, would have been queued at start
	var catchUps []catalog.Execution
	for _, r := range catalogRows(t, store) {
		if r.TriggeredBy == catalog.TriggerCatchUp {
			catchUps = append(catchUps, r)
		}
	}
	if len(catchUps) != 1 || catchUps[0].Status != catalog.StatusSuccess {
		t.Fatalf("catch-up rows: %+v", catchUps)
	}
	if !strings.Contains(a.logs.String()+b.logs.String(), "a catch-up backup is queued") {
		t.Fatal("no daemon said it queued a catch-up")
	}

	res, err := http.Get("http://" + a.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	_ = json.NewDecoder(res.Body).Decode(&ready)
	res.Body.Close()
	if res.StatusCode != 200 || !ready.Ready || ready.Checks["catalog"] != "ok" || ready.Checks["workers"] != "ok" {
		t.Fatalf("/readyz %d %+v", res.StatusCode, ready)
	}

	var kinds []string
	conn, _ := pgx.Connect(context.Background(), env["BACKUP_CATALOG_DATABASE_URL"])
	defer conn.Close(context.Background())
	rows, _ := conn.Query(context.Background(), "SELECT DISTINCT kind FROM river_job")
	kinds, _ = pgx.CollectRows(rows, pgx.RowTo[string])
	if strings.Contains(fmt.Sprint(kinds), "restore") || !strings.Contains(fmt.Sprint(kinds), "rgz.backup.pg_dump") {
		t.Fatalf("job kinds %v: backups, and no restore test", kinds)
	}

	for _, d := range []*daemon{a, b} {
		took := d.stop(syscall.SIGTERM, 10*time.Second)
		if took > 2*time.Second || d.code != 0 {
			t.Fatalf("idle serve took %s to stop, exit %d", took, d.code)
		}
		t.Logf("idle serve stopped %s after SIGTERM", took)
	}
}

// A failing backup is tried four times in all, after the specification's delays
// (scaled down here), each attempt its own row of the same run; then the
// job is given up. Scheduled backups are off: only the enqueued one runs.
func TestRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	env["BACKUP_MIN_SIZE_MB"] = "100000" // every attempt fails: "backup too small"
	mail := startMail(t)
	mailEnv(t, env, mail)
	store := openStore(t, env)
	d := startServe(t, env)
	runID := enqueue(t, env)
	var attempts []catalog.Execution
	waitFor(t, 60*time.Second, "four attempts", func() bool {
		attempts = attemptsOf(catalogRows(t, store), runID)
		return len(attempts) == 4
	})
	for i, r := range attempts {
		if r.Attempt != i+1 || r.Status != catalog.StatusFailed || !strings.Contains(*r.ErrorMessage, "backup too small") || r.TriggeredBy != catalog.TriggerManual {
			t.Fatalf("attempt %d: %+v", i+1, r)
		}
		// The first three say when their retry is due; the last ends the run.
		if (r.RetryAt != nil) != (i < 3) {
			t.Errorf("attempt %d: retry_at %v", i+1, r.RetryAt)
		}
		if i > 0 {
			// backup_date is cut to the second; the gap must still show the delay.
			want := []time.Duration{1, 2, 4}[i-1] * time.Second
			if gap := r.BackupDate.Sub(*attempts[i-1].FinishedAt); gap < want-time.Second {
				t.Errorf("attempt %d began %s after attempt %d ended, want about %s", i+1, gap, i, want)
			}
		}
	}
	// Once River has given the job up (it leaves the queue), no fifth
	// attempt can come: wait for that rather than for the clock.
	waitFor(t, 30*time.Second, "the job to be given up", func() bool { return len(statusOf(t, env).Jobs) == 0 })
	if n := len(attemptsOf(catalogRows(t, store), runID)); n != 4 || len(statusOf(t, env).Jobs) != 0 {
		t.Fatalf("%d attempts, jobs %+v: the job should be given up after 4", n, statusOf(t, env).Jobs)
	}
	if !strings.Contains(d.logs.String(), "scheduled backups are disabled (POSTGRES_BACKUP_ENABLED=false)") {
		t.Fatal("the daemon did not say scheduled backups are disabled")
	}
	// One mail for the run, after its last attempt, listing all four.
	failed := waitForMail(t, mail, "Backup FAILED — ")
	if mails, _ := mail.Messages(); len(mails) != 1 || !strings.Contains(failed.Text, "FAILED after 4 attempt(s)") ||
		strings.Count(failed.Text, "backup too small") < 4 {
		t.Fatalf("%d mails; the failure mail:\n%s", len(mails), failed.Text)
	}
	for _, r := range catalogRows(t, store) {
		if r.TriggeredBy == catalog.TriggerScheduled || r.TriggeredBy == catalog.TriggerCatchUp {
			t.Fatalf("disabled schedule still ran %+v", r)
		}
	}
}

// An attempt that overruns BACKUP_TIMEOUT_SECONDS is cancelled and recorded;
// the retry, once the obstacle is gone, succeeds.
func TestTimeoutThenRetrySucceeds(t *testing.T) {
	t.Parallel()
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	env["BACKUP_TIMEOUT_SECONDS"] = "15" // room for the retry on a loaded machine (5 s was too little on a slow one)
	mail := startMail(t)
	mailEnv(t, env, mail)
	store := openStore(t, env)
	release := blockDump(t, env)
	d := startServe(t, env)
	runID := enqueue(t, env)
	waitFor(t, time.Minute, "the first attempt to time out", func() bool { return len(attemptsOf(catalogRows(t, store), runID)) == 1 })
	// The attempt failed, its retry is on its way: the last row says
	// failed, the run does not — no page (RgzBackupLastFailed).
	if m := scrape(t, d.addr); !has(m, `rgz_backup_pg_dump_status{status="failed"} 1`) || !has(m, "rgz_backup_pg_dump_run_failed 0") {
		t.Fatalf("/metrics while the retry is due:\n%s", strings.Join(m, "\n"))
	}
	release()
	var attempts []catalog.Execution
	waitFor(t, time.Minute, "the retry", func() bool {
		attempts = attemptsOf(catalogRows(t, store), runID)
		return len(attempts) == 2
	})
	first, second := attempts[0], attempts[1]
	// pg_dump gives up on the lock (80 % of the time left) or the timeout
	// kills it, whichever comes first on a busy machine.
	timedOut := strings.Contains(*first.ErrorMessage, "timeout after 15s") || strings.Contains(*first.ErrorMessage, "a table is locked by another session")
	if first.Status != catalog.StatusFailed || !timedOut || second.Status != catalog.StatusSuccess || second.Attempt != 2 {
		t.Fatalf("attempts: %+v / %+v", first, second)
	}
	if left := tempFiles(env["BACKUP_LOCAL_DIR"]); len(left) != 0 {
		t.Fatalf("the timed-out attempt left %v", left)
	}
	// The success mail says it came after a failed attempt; no failure mail.
	ok := waitForMail(t, mail, "Backup OK — ")
	if mails, _ := mail.Messages(); len(mails) != 1 || !strings.Contains(ok.Text, "after 1 failed attempt") {
		t.Fatalf("%d mails; success mail:\n%s", len(mails), ok.Text)
	}
}

// A daemon killed after River gave it a job and before the job's attempt
// began leaves no row: the next daemon on the host sees the job's process
// is gone and runs its attempt again at once (River alone would rescue it
// hours later, and the slot's backup would be lost for the night).
func TestJobKilledBeforeItsAttemptBeganRunsAgain(t *testing.T) {
	t.Parallel()
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	r := rgz(t, env, "backup", "--enqueue", "--json")
	var queued struct {
		JobID int64  `json:"job_id"`
		RunID string `json:"run_id"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &queued) != nil {
		t.Fatalf("enqueue: %+v", r)
	}
	// The process River gave the job to: one of this host, now gone.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	runner := fmt.Sprintf("%s-%d-%d", host, gone.Process.Pid, time.Now().Unix())
	conn, err := pgx.Connect(context.Background(), env["BACKUP_CATALOG_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now(),
		attempted_by = ARRAY[$2] WHERE id = $1`, queued.JobID, runner); err != nil {
		t.Fatal(err)
	}
	store := openStore(t, env)
	d := startServe(t, env)
	var attempts []catalog.Execution
	waitFor(t, 30*time.Second, "the run's attempt", func() bool {
		attempts = attemptsOf(catalogRows(t, store), queued.RunID)
		return len(attempts) == 1 && attempts[0].Status == catalog.StatusSuccess
	})
	if attempts[0].Attempt != 1 {
		t.Fatalf("the attempt that never began should run as attempt 1: %+v", attempts[0])
	}
	if !strings.Contains(d.logs.String(), "before its attempt began runs again in a new job") {
		t.Fatalf("not logged:\n%s", d.logs.String())
	}
	// The dead job is cancelled, so that River's rescuer does not run it again.
	var cancelled bool
	if err := conn.QueryRow(context.Background(), `SELECT state = 'cancelled' OR metadata ? 'cancel_attempted_at' FROM river_job WHERE id = $1`,
		queued.JobID).Scan(&cancelled); err != nil || !cancelled {
		t.Fatalf("the dead job is not cancelled: %v", err)
	}
}

// SIGKILL mid-backup: the restarted daemon removes the temporary file,
// records the abandoned attempt as failed, and retries the job.
func TestKilledMidBackupRecoversAndRetries(t *testing.T) {
	t.Parallel()
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	store := openStore(t, env)
	release := blockDump(t, env)
	d := startServe(t, env)
	runID := enqueue(t, env)
	dir := env["BACKUP_LOCAL_DIR"]
	waitFor(t, 30*time.Second, "the backup to be writing", func() bool { return len(tempFiles(dir)) == 1 })
	st := statusOf(t, env)
	if !st.Running || len(st.Attempts) != 1 || !st.Attempts[0].Alive || st.Attempts[0].RunID != runID {
		t.Fatalf("status during the backup: %+v", st)
	}
	d.stop(syscall.SIGKILL, 10*time.Second)
	release()
	waitFor(t, 10*time.Second, "the killed daemon's lock to go", func() bool { return !statusOf(t, env).Running })
	if st := statusOf(t, env); len(st.Attempts) != 1 || st.Attempts[0].Alive {
		t.Fatalf("status after the kill should show the attempt abandoned: %+v", st.Attempts)
	}

	restarted := startServe(t, env)
	var attempts []catalog.Execution
	waitFor(t, 30*time.Second, "the retried job", func() bool {
		attempts = attemptsOf(catalogRows(t, store), runID)
		return len(attempts) == 2
	})
	first, second := attempts[0], attempts[1]
	if first.Status != catalog.StatusFailed || first.Attempt != 1 || !strings.Contains(*first.ErrorMessage, "abandoned: the process running this attempt") {
		t.Fatalf("abandoned attempt recorded as %+v", first)
	}
	// Its run went on: the abandoned row says when, so that no alert
	// pages for a run that is not over (rgz_backup_pg_dump_run_failed).
	if first.RetryAt == nil || first.RetryAt.Before(*first.FinishedAt) {
		t.Fatalf("the abandoned attempt's row does not say its run goes on: retry_at %v", first.RetryAt)
	}
	if second.Status != catalog.StatusSuccess || second.Attempt != 2 {
		t.Fatalf("retry: %+v", second)
	}
	if left := tempFiles(dir); len(left) != 0 {
		t.Fatalf("temporary files survived the restart: %v", left)
	}
	if got := dumps(dir); len(got) != 1 || filepath.Base(got[0]) != second.Filename {
		t.Fatalf("backup files %v, want only %s", got, second.Filename)
	}
	// The run went on in a new job; River's row of the dead process's job
	// is River's to move (its rescuer, much later), and is left as it was.
	if !strings.Contains(restarted.logs.String(), "the abandoned attempt's run continues in a new job") {
		t.Fatalf("no continuation logged:\n%s", restarted.logs.String())
	}
	waitFor(t, 30*time.Second, "the new job to complete", func() bool { return len(statusOf(t, env).Jobs) <= 1 })
	if jobs := statusOf(t, env).Jobs; len(jobs) != 1 || jobs[0].State != "running" || jobs[0].RunID != runID || jobs[0].Attempt != 1 {
		t.Fatalf("River's own row of the dead job should be untouched: %+v", jobs)
	}
}

// SIGTERM during a backup that outlasts the grace period: the backup is
// cancelled cleanly (failed row, no partial file), the daemon exits 0, and
// the job waits for its retry.
func TestShutdownInterruptsAfterGrace(t *testing.T) {
	t.Parallel()
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	env["BACKUP_SHUTDOWN_GRACE_SECONDS"] = "1"
	store := openStore(t, env)
	blockDump(t, env)
	d := startServe(t, env)
	runID := enqueue(t, env)
	dir := env["BACKUP_LOCAL_DIR"]
	waitFor(t, 30*time.Second, "the backup to be writing", func() bool { return len(tempFiles(dir)) == 1 })
	took := d.stop(syscall.SIGTERM, 20*time.Second)
	if d.code != 0 || took < time.Second {
		t.Fatalf("exit %d after %s: the running backup should get its 1 s of grace", d.code, took)
	}
	t.Logf("busy serve stopped %s after SIGTERM (grace 1 s)", took)
	attempts := attemptsOf(catalogRows(t, store), runID)
	if len(attempts) != 1 || attempts[0].Status != catalog.StatusFailed || !strings.Contains(*attempts[0].ErrorMessage, "interrupted by shutdown") {
		t.Fatalf("attempts: %+v", attempts)
	}
	if left := tempFiles(dir); len(left) != 0 || len(dumps(dir)) != 0 {
		t.Fatalf("the interrupted backup left files: %v %v", left, dumps(dir))
	}
	st := statusOf(t, env)
	if len(st.Jobs) != 1 || (st.Jobs[0].State != "retryable" && st.Jobs[0].State != "available") || st.Jobs[0].Attempt != 2 || len(st.Attempts) != 0 {
		t.Fatalf("after shutdown: jobs %+v, attempts %+v", st.Jobs, st.Attempts)
	}
}
