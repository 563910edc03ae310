package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mosaique/rgz-backup/internal/auth"
)

// screenshots is where the browser tests leave a picture of each page:
// RGZ_TEST_ARTIFACTS when set (CI keeps it), else a directory the test
// names in its log.
func screenshots(t *testing.T) string {
	dir := os.Getenv("RGZ_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "rgz-backup-console-screenshots")
	}
	dir = filepath.Join(dir, "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is Debian's Chromium, headless, driven by chromedp: the install
// script installs it, so a missing one fails the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium (Debian's package, installed by scripts/install-deps.sh) is needed by the console's browser tests: ", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1000), chromedp.Flag("lang", "en-US"))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTime := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelCtx(); cancelAlloc() })
	return ctx
}

// shoot saves a PNG of the whole page.
func shoot(t *testing.T, name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		png, err := chromedp.FullScreenshot(100)(ctx, target)
		if err != nil {
			return chromedp.Void{}, err
		}
		path := filepath.Join(screenshots(t), name+".png")
		t.Logf("screenshot %s", path)
		return chromedp.Void{}, os.WriteFile(path, png, 0o644)
	}
}

// css is a CSS selector.
type css = chromedp.CSS

// The NOC and the admin in a real browser against a real daemon: the NOC
// logs in and sees the latest backup and no admin button; a POST without
// the CSRF token is refused; logout ends the session; the admin starts a
// restore test and sees it succeed; a failed backup shows FAILED and why.
func TestConsoleInABrowser(t *testing.T) {
	t.Parallel()
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	nocToken, nocEntry, _ := auth.NewToken("noc")
	adminToken, adminEntry, _ := auth.NewToken("admin")
	env["BACKUP_API_TOKENS"] = nocEntry + "," + adminEntry
	if r := rgz(t, env, "backup"); r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	row := catalogRows(t, openStore(t, env))[0]
	d := startServe(t, env)
	base := "http://" + d.addr + "/console"

	ctx := browser(t)
	run := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(css(sel), chromedp.NodeVisible))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	run(chromedp.Navigate(base+"/?lang=en"),
		chromedp.WaitVisible(css("#token")),
		shoot(t, "login"),
		// With the keyboard alone: the token field has the focus, Enter logs in.
		chromedp.KeyEvent(nocToken+kb.Enter),
		chromedp.WaitVisible(css("#overall")),
		shoot(t, "overview"))
	page, err := chromedp.Run(ctx, chromedp.OuterHTML(css("body")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{row.Filename, "success", "OK"} {
		if !strings.Contains(page, want) {
			t.Fatalf("the NOC's overview lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, `id="start-backup"`) || strings.Contains(page, `id="start-restore-test"`) {
		t.Fatal("the NOC sees an admin button")
	}
	// A POST from the page without the CSRF token: refused.
	forged, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`fetch('/console/actions/backup', {method: 'POST'}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || forged != 403 {
		t.Fatalf("a POST without the CSRF token: %v %v, want 403", forged, err)
	}
	run(chromedp.Navigate(base+"/backups"),
		chromedp.WaitVisible(css("table.history")),
		shoot(t, "backups"),
		chromedp.Navigate(base+"/charts"),
		chromedp.WaitVisible(css("svg.calendar")),
		shoot(t, "charts"),
		chromedp.Click(css("#logout")),
		chromedp.WaitVisible(css("#token")),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(css("#token"))) // the session is over: back to the login page

	// The admin starts a restore test of the backup and watches it end.
	run(chromedp.SendKeys(css("#token"), adminToken),
		chromedp.Click(css("#sign-in")),
		chromedp.WaitVisible(css("#start-backup")))
	// The keyboard reaches every action: Tab through the overview.
	reached := map[string]bool{}
	for range 40 {
		run(chromedp.KeyEvent(kb.Tab))
		id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id || document.activeElement.tagName`))
		if err != nil {
			t.Fatal(err)
		}
		reached[id] = true
	}
	for _, id := range []string{"start-backup", "start-restore-test", "logout"} {
		if !reached[id] {
			t.Fatalf("Tab never reaches #%s (reached %v)", id, reached)
		}
	}
	// On a phone: the overview fits the width, nothing to scroll sideways.
	run(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(css("#overall")), shoot(t, "overview-phone"))
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil || overflow {
		t.Fatalf("the overview overflows a phone's width: %v %v", overflow, err)
	}
	run(chromedp.ResetViewport(),
		chromedp.Navigate(base+"/backups/"+row.ID),
		chromedp.WaitVisible(css("#start-restore-test")),
		chromedp.Click(css("#start-restore-test")),
		chromedp.WaitVisible(css("#test-status"))) // the test's own page
	// The page reloads itself (console.js) while the test runs: watch it
	// end without touching it.
	status := ""
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if s, err := chromedp.Run(ctx, chromedp.Text(css("#test-status"), chromedp.NodeVisible)); err == nil {
			status = s
		}
		if (status != "running" && status != "") || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	run(shoot(t, "restore-test"),
		chromedp.Navigate(base+"/backups/"+row.ID),
		chromedp.WaitVisible(css("#tests .test-status")),
		shoot(t, "backup"))
	if status != "success" {
		t.Fatalf("the restore test started from the console: %q", status)
	}

	// A failed backup: FAILED and its reason, on the overview.
	env["BACKUP_MIN_SIZE_MB"] = "100000"
	if r := rgz(t, env, "backup"); r.code != 1 {
		t.Fatalf("a backup meant to fail: %+v", r)
	}
	run(chromedp.Navigate(base + "/"))
	overall := text("#overall")
	run(shoot(t, "overview-failed"))
	if !strings.Contains(overall, "FAILED") || !strings.Contains(overall, "too small") {
		t.Fatalf("the overview after a failed backup: %q", overall)
	}
}
