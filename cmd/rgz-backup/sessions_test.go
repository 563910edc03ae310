package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/console"
)

// consoleUser is a console user: a cookie jar that does not follow redirects.
type consoleUser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newConsoleUser(t *testing.T, addr string) *consoleUser {
	jar, _ := cookiejar.New(nil)
	return &consoleUser{t: t, base: "http://" + addr, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// login posts token to the login form and says where it was sent.
func (b *consoleUser) login(token string) string {
	b.t.Helper()
	res, err := console.LogIn(context.Background(), b.c, b.base, token, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	res.Body.Close()
	return res.Header.Get("Location")
}

// in says whether the browser's session still opens the overview.
func (b *consoleUser) in() bool {
	b.t.Helper()
	res, err := b.c.Get(b.base + console.Prefix + "/")
	if err != nil {
		b.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode == 200
}

type listedSession struct {
	ID        int64     `json:"id"`
	Subject   string    `json:"subject"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expires_at"`
	Client    string    `json:"client"`
}

func liveSessions(t *testing.T, env map[string]string) map[string][]listedSession {
	t.Helper()
	r := rgz(t, env, "sessions", "list", "--json")
	var out struct{ Sessions []listedSession }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil {
		t.Fatalf("sessions list: %+v", r)
	}
	by := map[string][]listedSession{}
	for _, s := range out.Sessions {
		by[s.Subject] = append(by[s.Subject], s)
	}
	return by
}

// A console session never outlives what opened it: a JWT's ends at its
// exp, a static token's when the token leaves BACKUP_API_TOKENS_FILE (on
// SIGHUP); a login ends the browser's previous session; `sessions list`
// and `sessions revoke` see and end them on every replica.
func TestConsoleSessions(t *testing.T) {
	t.Parallel()
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	secret := strings.Repeat("k", 32)
	env["BACKUP_API_JWT_SECRET"] = secret
	opsToken, opsEntry, _ := auth.NewNamedToken("ops", "admin")
	// desk's token as the docs make one.
	r := rgz(t, env, "token", "new", "--role", "noc", "--name", "desk")
	printed := regexp.MustCompile(`(?m)^token:\s+(\S+)\nBACKUP_API_TOKENS: (desk:noc:[0-9a-f]{64})$`).FindStringSubmatch(r.stdout)
	if r.code != 0 || printed == nil {
		t.Fatalf("token new: %+v", r)
	}
	deskToken, deskEntry := printed[1], printed[2]
	for _, bad := range [][]string{{"token", "new", "--role", "noc"}, {"token", "new", "--role", "noc", "--name", "a b"}} {
		if r := rgz(t, env, bad...); r.code != 2 || !strings.Contains(r.stderr, "--name") {
			t.Fatalf("%v: %+v", bad, r)
		}
	}
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("# static tokens\n"+opsEntry+"\n"+deskEntry+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env["BACKUP_API_TOKENS_FILE"] = file

	// Without an audience, any token of the platform is accepted: said.
	if r := rgz(t, env, "config"); r.code != 0 || !strings.Contains(r.stderr, "warning: BACKUP_API_JWT_AUDIENCE is not set") {
		t.Fatalf("config: %+v", r)
	}
	d := startServe(t, env)
	if !strings.Contains(d.logs.String(), "BACKUP_API_JWT_AUDIENCE is not set") {
		t.Fatalf("serve does not warn of the missing audience:\n%s", d.logs.String())
	}

	// A JWT valid for 10 more minutes opens a session of 10 minutes, not
	// of BACKUP_CONSOLE_SESSION_HOURS.
	exp := time.Now().Add(10 * time.Minute).Truncate(time.Second)
	jwtToken, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "role": "noc", "exp": exp.Unix()}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	alice := newConsoleUser(t, d.addr)
	if to := alice.login(jwtToken); to != console.Prefix+"/" || !alice.in() {
		t.Fatalf("JWT login: sent to %q", to)
	}
	if s := liveSessions(t, env)["jwt:alice"]; len(s) != 1 || !s[0].ExpiresAt.Equal(exp) || s[0].Client != "127.0.0.1" {
		t.Fatalf("the JWT's session: %+v, want it to end at %s", s, exp)
	}

	// Logging in again from the same browser ends its previous session.
	desk, ops := newConsoleUser(t, d.addr), newConsoleUser(t, d.addr)
	desk.login(deskToken)
	desk.login(deskToken)
	ops.login(opsToken)
	if s := liveSessions(t, env); len(s["token:desk"]) != 1 || len(s["token:ops"]) != 1 {
		t.Fatalf("sessions after two logins of one browser: %+v", s)
	}
	if !desk.in() || !ops.in() {
		t.Fatal("a fresh session does not open the console")
	}

	// desk's token leaves the file; SIGHUP ends its session, not ops's.
	if err := os.WriteFile(file, []byte(opsEntry+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the tokens reloaded", func() bool { return strings.Contains(d.logs.String(), "SIGHUP: tokens reloaded") })
	if desk.in() {
		t.Fatal("the session of a removed token goes on")
	}
	if desk.login(deskToken) != console.Prefix+"/login" && desk.in() {
		t.Fatal("a removed token still logs in")
	}
	if !ops.in() {
		t.Fatal("the session of a kept token ended")
	}
	// A file that does not read changes nothing.
	if err := os.WriteFile(file, []byte("ops:admin:nothex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the refused reload said", func() bool {
		return strings.Contains(d.logs.String(), "SIGHUP: the tokens file was not reloaded")
	})
	if !ops.in() {
		t.Fatal("a tokens file that does not read ended a session")
	}
	if strings.Contains(d.logs.String(), "nothex") {
		t.Fatal("the log quotes the tokens file")
	}
	if err := os.WriteFile(file, []byte(opsEntry+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Revoked by subject, by id, all; bad command lines are exit 2.
	if r := rgz(t, env, "sessions", "revoke", "--subject", "token:ops"); r.code != 0 || !strings.Contains(r.stdout, "1 session(s) ended") || ops.in() {
		t.Fatalf("revoke --subject: %+v", r)
	}
	id := liveSessions(t, env)["jwt:alice"][0].ID
	if r := rgz(t, env, "sessions", "revoke", "999999"); r.code != 0 || !strings.Contains(r.stdout, "0 session(s) ended") || !alice.in() {
		t.Fatalf("revoke an unknown id: %+v", r)
	}
	for _, args := range [][]string{{"sessions", "revoke"}, {"sessions", "revoke", "x"}, {"sessions", "revoke", "1", "--all"}} {
		if r := rgz(t, env, args...); r.code != 2 || strings.Contains(r.stderr, "goroutine") {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	if r := rgz(t, env, "sessions", "revoke", strconv.FormatInt(id, 10)); r.code != 0 || alice.in() {
		t.Fatalf("revoke by id: %+v", r)
	}
	ops.login(opsToken)
	if r := rgz(t, env, "sessions", "revoke", "--all"); r.code != 0 || ops.in() || len(liveSessions(t, env)) != 0 {
		t.Fatalf("revoke --all: %+v", r)
	}
	d.stop(syscall.SIGTERM, 30*time.Second)
}
