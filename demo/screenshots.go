package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/testenv/sample"
)

// screenshots brings up a daemon with a realistic history (seedDumps,
// seedArchive; then a real backup of each database, a real point-in-time
// archive streaming, a real restore test of each kind) and takes the
// README's and docs/CONSOLE.md's pictures of it in Chromium, into out.
func screenshots(binary, dir, out string, scale int, keep bool) error {
	ctx := context.Background()
	binary, _ = filepath.Abs(binary)
	work, _ := filepath.Abs(dir)
	out, _ = filepath.Abs(out)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	cluster, pgDir, err := startCluster(ctx)
	if err != nil {
		return err
	}
	if !keep {
		defer cluster.Remove()
	}
	owner := cluster.Owner()                   // the daemon runs as PostgreSQL's user: the PITR restore test needs it
	backups := filepath.Join(pgDir, "backups") // beside the cluster: PostgreSQL's user may enter it
	if err := os.MkdirAll(backups, 0o750); err != nil {
		return err
	}
	if owner != nil {
		if err := os.Chown(backups, int(owner.Uid), int(owner.Gid)); err != nil {
			return err
		}
	}
	for _, db := range []string{"rgz", "radius", "billing", "rgz_catalog"} {
		if err := cluster.CreateDatabase(ctx, db); err != nil {
			return err
		}
	}
	step("Loading three MOSAÏQUE-like databases")
	for db, s := range map[string]int{"rgz": scale, "radius": max(1, scale/2), "billing": max(1, scale/5)} {
		if err := sample.Load(ctx, cluster.URL(db), s); err != nil {
			return err
		}
	}
	if err := execSQL(ctx, cluster.URL("postgres"), `ALTER SYSTEM SET max_slot_wal_keep_size = '2GB'`, `SELECT pg_reload_conf()`); err != nil {
		return err
	}
	adminToken, adminEntry, err := auth.NewToken("admin")
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	env := map[string]string{
		"PATH": os.Getenv("PATH"), "HOME": os.TempDir(),
		"BACKUP_DATABASE_URL": cluster.URL("rgz"), "BACKUP_DATABASES": "rgz,radius,billing",
		"BACKUP_CATALOG_DATABASE_URL": cluster.URL("rgz_catalog"), "BACKUP_LOCAL_DIR": backups,
		"BACKUP_MIN_SIZE_MB": "0", "BACKUP_MIN_FREE_SPACE_GB": "1", "BACKUP_HTTP_ADDR": addr, "BACKUP_API_TOKENS": adminEntry,
		"BACKUP_PITR_ENABLED": "true", "BACKUP_PITR_SHIP_SECONDS": "5", "BACKUP_PITR_BASE_SCHEDULE": "daily",
		"BACKUP_LOG_LEVEL": "info",
	}
	if err := rgz(binary, env, owner, "migrate"); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, cluster.URL("rgz_catalog"))
	if err != nil {
		return err
	}
	defer pool.Close()
	store := catalog.NewStore(pool)
	step("rgz-backup backup: tonight's backups, for real")
	if err := rgz(binary, env, owner, "backup"); err != nil {
		return err
	}
	trends, tonight := map[string]trend{}, ""

	rows, err := store.List(ctx, catalog.Filter{Status: catalog.StatusSuccess})
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.DatabaseName != nil && r.FileSizeBytes != nil {
			trends[*r.DatabaseName] = trendTo(r)
			if *r.DatabaseName == "rgz" {
				tonight = r.Filename
			}
		}
	}
	now := time.Now().UTC()
	step("Seeding the 90 nights before into the catalog (one failed night, weekly restore tests)")
	if err := seedDumps(ctx, store, backups, now, trends); err != nil {
		return fmt.Errorf("seed the backups: %w", err)
	}
	step("Seeding the point-in-time archive's last 14 days")
	var sysid uint64
	if err := queryRow(ctx, cluster.URL("rgz"), `SELECT system_identifier::text FROM pg_control_system()`, &sysid); err != nil {
		return err
	}
	upTo, err := switchWAL(ctx, cluster.URL("rgz"), 24)
	if err != nil {
		return err
	}
	// The slot the archive has always streamed through, holding the WAL
	// from here on: the daemon goes on from it (a slot made anew over an
	// archive would be told as a break in the window).
	if err := execSQL(ctx, cluster.URL("postgres"), `SELECT pg_create_physical_replication_slot('rgz_backup', true)`); err != nil {
		return err
	}
	if err := seedArchive(ctx, store, cluster.URL("rgz_catalog"), backups, sysid, upTo, now); err != nil {
		return fmt.Errorf("seed the archive: %w", err)
	}
	if owner != nil {
		if err := chownTree(backups, owner); err != nil {
			return err
		}
	}
	step("rgz-backup serve: streaming the WAL, taking a base backup")
	serve := command(binary, env, owner, "serve")
	logs, err := os.Create(filepath.Join(work, "serve.log"))
	if err != nil {
		return err
	}
	defer logs.Close()
	serve.Stdout, serve.Stderr = logs, logs
	if err := serve.Start(); err != nil {
		return err
	}
	defer func() { _ = serve.Process.Signal(syscall.SIGTERM); _ = serve.Wait() }()
	var real catalog.BaseBackup
	if err := waitFor(2*time.Minute, "a real base backup", func() bool {
		bases, _ := store.BaseBackups(ctx, sysid)
		if len(bases) == 3 && bases[2].Status == "success" {
			real = bases[2]
		}
		return real.FinishedAt != nil
	}); err != nil {
		return fmt.Errorf("%w (log: %s)", err, logs.Name())
	}
	api := apiClient{base: "http://" + addr, token: adminToken}
	step("A point-in-time restore test and a restore test, asked of the daemon")
	// A moment after the real base backup, once the archive reaches past
	// it by the test's margin (2 × (heartbeat + ship interval): 20 s).
	moment := real.FinishedAt.Add(3 * time.Second).UTC()
	if err := waitFor(2*time.Minute, "the archive past the moment", func() bool {
		_, out, err := api.do("GET", "/api/v1/backups/pitr/window", "")
		clusters, _ := out["clusters"].([]any)
		if err != nil || len(clusters) != 1 {
			return false
		}
		newest, _ := clusters[0].(map[string]any)["newest_restorable"].(string)
		end, err := time.Parse(time.RFC3339Nano, newest)
		return err == nil && end.After(moment.Add(25*time.Second))
	}); err != nil {
		return err
	}
	if err := api.testAndWait("/api/v1/backups/pitr/test-restore", `{"to": "`+moment.Format(time.RFC3339Nano)+`"}`); err != nil {
		return fmt.Errorf("%w (log: %s)", err, logs.Name())
	}
	testID, err := api.post("/api/v1/backups/pg-dump/test-restore", `{"backup_filename": "`+tonight+`"}`)
	if err != nil {
		return err
	}
	tested, err := api.wait("/api/v1/backups/pg-dump/restore-tests/" + testID)
	if err != nil {
		return fmt.Errorf("%w (log: %s)", err, logs.Name())
	}
	backupID, _ := tested["backup_id"].(string)

	step("Chromium: the pictures, into %s", out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := shoot(ctx, api.base+"/console", adminToken, testID, backupID, out, func() error {
		failing := with(env, "BACKUP_MIN_SIZE_MB", "100000")
		_ = rgz(binary, failing, owner, "backup", "--database", "radius") // meant to fail: too small
		return nil
	}); err != nil {
		return err
	}
	step("Done: %s (the daemon's log: %s)", out, logs.Name())
	return nil
}

// shoot logs in as an admin and takes each picture; fail makes a backup
// fail before the last one.
func shoot(ctx context.Context, base, token, testID, backupID, out string, fail func() error) error {
	path, err := exec.LookPath("chromium")
	if err != nil {
		return errors.New("chromium (Debian's package, installed by scripts/install-deps.sh) takes the pictures: " + err.Error())
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1000), chromedp.Flag("lang", "en-US"))
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTime := context.WithTimeout(ctx, 5*time.Minute)
	defer cancelTime()
	save := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
			png, err := chromedp.FullScreenshot(100)(ctx, target)
			if err != nil {
				return chromedp.Void{}, err
			}
			fmt.Println("    " + name)
			return chromedp.Void{}, os.WriteFile(filepath.Join(out, name), png, 0o644)
		}
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/?lang=en"), chromedp.WaitVisible(css("#token")),
		chromedp.KeyEvent(token+kb.Enter), chromedp.WaitVisible(css("#pitr")),
		save("console-overview.png"),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(css("#overall")),
		save("console-overview-phone.png"),
		chromedp.EmulateViewport(1400, 1000), chromedp.Navigate(base+"/charts?database=rgz"), chromedp.WaitVisible(css("svg.calendar")),
		save("console-charts.png"),
		chromedp.Navigate(base+"/restore-tests/"+testID), chromedp.WaitVisible(css("#test-status")), save("console-restore-test.png"),
		chromedp.Navigate(base+"/backups/"+backupID), chromedp.WaitVisible(css("#tests .test-status")), save("console-backup.png"),
	); err != nil {
		return err
	}
	if err := fail(); err != nil {
		return err
	}
	return chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(css("#overall")), save("console-overview-failed.png"))
}

// apiClient asks the daemon's API, as an admin.
type apiClient struct{ base, token string }

func (a apiClient) do(method, path, body string) (*http.Response, map[string]any, error) {
	req, err := http.NewRequest(method, a.base+path, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res, out, nil
}

// post asks for a test and returns its id.
func (a apiClient) post(path, body string) (string, error) {
	res, out, err := a.do("POST", path, body)
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("POST %s: %d %v", path, res.StatusCode, out)
	}
	id, _ := out["id"].(string)
	return id, nil
}

// wait follows a test's page until it ends, and returns its record; a
// failed test is an error.
func (a apiClient) wait(path string) (map[string]any, error) {
	var status string
	var record map[string]any
	err := waitFor(3*time.Minute, path, func() bool {
		_, out, err := a.do("GET", path, "")
		if err == nil {
			record = out
			status, _ = out["status"].(string)
		}
		return status == "success" || status == "failed"
	})
	if err == nil && status != "success" {
		return record, fmt.Errorf("%s: %s: %v", path, status, record["error_message"])
	}
	return record, err
}

func (a apiClient) testAndWait(path, body string) error {
	id, err := a.post(path, body)
	if err != nil {
		return err
	}
	_, err = a.wait(strings.TrimSuffix(path, "test-restore") + "restore-tests/" + id)
	return err
}

func command(binary string, env map[string]string, owner *syscall.Credential, args ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if owner != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: owner}
	}
	return cmd
}

// rgz runs the binary to its end, its output on ours.
func rgz(binary string, env map[string]string, owner *syscall.Credential, args ...string) error {
	cmd := command(binary, env, owner, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("rgz-backup %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// with is env with k set to v.
func with(env map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for key, val := range env {
		if key != k {
			out[key] = val
		}
	}
	return out
}

func waitFor(limit time.Duration, what string, done func() bool) error {
	for deadline := time.Now().Add(limit); !done(); {
		if time.Now().After(deadline) {
			return fmt.Errorf("gave up waiting for %s after %s", what, limit)
		}
		time.Sleep(500 * time.Millisecond)
	}
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func execSQL(ctx context.Context, url string, sql ...string) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	for _, s := range sql {
		if _, err := pool.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

func queryRow(ctx context.Context, url, sql string, into *uint64) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	var s string
	if err := pool.QueryRow(ctx, sql).Scan(&s); err != nil {
		return err
	}
	*into, err = strconv.ParseUint(s, 10, 64)
	return err
}

func chownTree(root string, owner *syscall.Credential) error {
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, int(owner.Uid), int(owner.Gid))
	})
}
