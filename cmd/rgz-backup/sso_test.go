package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/console"
	"github.com/mosaique/rgz-backup/internal/testenv/optest"
)

// Single sign-on through a real OpenID provider (zitadel/oidc's example),
// in Chromium: alice (an admin by her email, which the provider gives in
// userinfo only) logs in with SSO and her session ends with her ID token;
// carol, whom the role claim gives no role, is refused; with the provider
// down, the login page says so once and a token still logs in.
func TestSingleSignOn(t *testing.T) {
	t.Parallel()
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	env["BACKUP_HTTP_ADDR"] = freeAddr(t)
	callback := "http://" + env["BACKUP_HTTP_ADDR"] + config.OIDCCallbackPath
	op := optest.Start(t, callback,
		optest.User{ID: "u-alice", Username: "alice", Password: "alice-pw", Email: "alice@rgz.test"},
		optest.User{ID: "u-bob", Username: "bob", Password: "bob-pw", Email: "bob@rgz.test"},
		optest.User{ID: "u-carol", Username: "carol", Password: "carol-pw", Email: "carol@rgz.test"})
	secretFile := filepath.Join(t.TempDir(), "oidc-secret")
	if err := os.WriteFile(secretFile, []byte(optest.ClientSecret+"\n"), 0o600); err != nil { // a compose secret's newline
		t.Fatal(err)
	}
	env["BACKUP_OIDC_ISSUER"], env["BACKUP_OIDC_CLIENT_ID"], env["BACKUP_OIDC_CLIENT_SECRET_FILE"] = op.Issuer, optest.ClientID, secretFile
	env["BACKUP_OIDC_REDIRECT_URL"], env["BACKUP_OIDC_ROLE_CLAIM"] = callback, "email"
	env["BACKUP_OIDC_ROLES"] = "admin=alice@rgz.test,noc=bob@rgz.test"
	nocToken, nocEntry, _ := auth.NewNamedToken("desk", "noc")
	env["BACKUP_API_TOKENS"] = nocEntry
	d := startServe(t, env)
	base := "http://" + d.addr + console.Prefix

	ctx := browser(t)
	run := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%v\nserve logs:\n%s", err, d.logs.String())
		}
	}
	body := func() string {
		t.Helper()
		page, err := chromedp.Run(ctx, chromedp.OuterHTML(css("body")))
		if err != nil {
			t.Fatal(err)
		}
		return page
	}
	ssoAs := func(user, password string) {
		t.Helper()
		run(chromedp.Navigate(base+"/login?lang=en"),
			chromedp.WaitVisible(css("#sso")),
			chromedp.Click(css("#sso")),
			chromedp.WaitVisible(css("#username")),
			chromedp.SendKeys(css("#username"), user),
			chromedp.SendKeys(css("#password"), password),
			chromedp.Click(css("button[type=submit]")))
	}

	// alice: the whole flow, to the overview, as an admin.
	ssoAs("alice", "alice-pw")
	run(chromedp.WaitVisible(css("#start-backup")))
	if page := body(); !strings.Contains(page, "oidc:u-alice") || !strings.Contains(page, "(admin)") {
		t.Fatalf("alice's overview:\n%s", page)
	}
	// Her session ends with her ID token (the example's last an hour), not
	// after BACKUP_CONSOLE_SESSION_HOURS.
	s := liveSessions(t, env)["oidc:u-alice"]
	if len(s) != 1 || s[0].Role != "admin" || s[0].ExpiresAt.After(time.Now().Add(61*time.Minute)) || s[0].ExpiresAt.Before(time.Now().Add(50*time.Minute)) {
		t.Fatalf("alice's session: %+v", s)
	}
	run(chromedp.Click(css("#logout")), chromedp.WaitVisible(css("#token")))

	// carol is authenticated, yet has no role here: refused, no session.
	ssoAs("carol", "carol-pw")
	run(chromedp.WaitVisible(css("#sso-no-role")))
	if len(liveSessions(t, env)["oidc:u-carol"]) != 0 {
		t.Fatal("carol, without a role, has a session")
	}

	// A callback that is not this browser's login (no flow cookie, a
	// forged state): refused.
	res, err := http.Get("http://" + d.addr + config.OIDCCallbackPath + "?state=forged&code=forged")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a forged callback: %d", res.StatusCode)
	}

	// The provider down: one clear message; tokens still log in.
	op.Stop()
	run(chromedp.Navigate(base+"/login?lang=en"), chromedp.Click(css("#sso")), chromedp.WaitVisible(css("#sso-down")))
	if page := body(); !strings.Contains(page, "cannot be reached") || !strings.Contains(page, `id="token"`) {
		t.Fatalf("the login page with the provider down:\n%s", page)
	}
	run(chromedp.SendKeys(css("#token"), nocToken), chromedp.Click(css("#sign-in")), chromedp.WaitVisible(css("#overall")))
	// And back: SSO works again.
	if err := op.Restart(); err != nil {
		t.Fatal(err)
	}
	run(chromedp.Click(css("#logout")), chromedp.WaitVisible(css("#token")))
	ssoAs("bob", "bob-pw")
	run(chromedp.WaitVisible(css("#overall")))
	if page := body(); !strings.Contains(page, "oidc:u-bob") || strings.Contains(page, `id="start-backup"`) {
		t.Fatalf("bob's overview (a NOC operator):\n%s", page)
	}
	if strings.Contains(d.logs.String(), optest.ClientSecret+`"`) || strings.Contains(d.logs.String(), "alice-pw") {
		t.Fatal("the logs hold a secret")
	}
	d.stop(syscall.SIGTERM, 30*time.Second)
}
