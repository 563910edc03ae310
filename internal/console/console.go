// Package console is the web console served by `rgz-backup serve` under
// /console/ (docs/CONSOLE.md): the NOC sees whether the backups are good
// at a glance, the admins act. Pages are rendered on the server (readable
// without JavaScript), in French or English; everything is embedded in
// the binary and nothing is fetched from another host. A login exchanges
// an API token (static or a platform JWT, package api) for a session
// cookie (HttpOnly, SameSite=Strict, Secure over TLS: serve's own, or a
// trusted proxy's) whose SHA-256 lives in the catalog; every form carries the session's CSRF token; every
// action is audited.
package console

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/audit"
	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/front"
	"github.com/mosaique/rgz-backup/internal/jobs"
	"github.com/mosaique/rgz-backup/internal/recent"
	"github.com/mosaique/rgz-backup/internal/sso"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// Prefix is where the console is served.
const Prefix = "/console"

// CookieName is the session cookie.
const CookieName = "rgzb_session"

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Deps are what the console reads and acts through.
type Deps struct {
	Config config.Config
	Store  *catalog.Store
	Auth   *auth.Authenticator
	Queue  *jobs.Client
	Log    *slog.Logger
	Clock  clock.Clock
	// Audit is the trail of actions and refusals, shared with the API
	// (default: one written to Store).
	Audit *audit.Trail
	// DownloadIdle is how long a download may send nothing before it is
	// cut (default DownloadIdle); it runs as long as bytes flow.
	DownloadIdle time.Duration
	// Streaming are the servers whose WAL the daemon archives (an admin
	// may ask for a point-in-time restore test of one).
	Streaming []targets.Server
	// SSO is single sign-on through the platform's OpenID provider; nil:
	// tokens only.
	SSO *sso.Provider
}

// DownloadIdle is how long a download may stall: a 1.2 GB backup over a
// slow VPN takes as long as it takes, a client that stops reading does not
// hold the file (and a connection) for ever.
const DownloadIdle = 60 * time.Second

// Handler serves the console under Prefix.
func Handler(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	d.Clock = clock.Or(d.Clock)
	if d.Audit == nil {
		d.Audit = audit.New(d.Store, d.Clock, d.Log)
	}
	if d.DownloadIdle == 0 {
		d.DownloadIdle = DownloadIdle
	}
	c := &server{Deps: d, pages: template.Must(template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/*.html")),
		running: &recent.Value[[]Running]{MaxAge: eventsEvery / 2}, logins: newLoginLimiter()}
	static, _ := fs.Sub(staticFiles, "static")
	mux := http.NewServeMux()
	mux.Handle("GET "+Prefix+"/static/", http.StripPrefix(Prefix+"/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET "+Prefix+"/login", c.loginPage)
	mux.HandleFunc("POST "+Prefix+"/login", c.login)
	mux.HandleFunc("POST "+Prefix+"/logout", c.logout)
	mux.Handle("GET "+Prefix+"/{$}", c.session(c.overview))
	mux.Handle("GET "+Prefix+"/backups", c.session(c.backups))
	mux.Handle("GET "+Prefix+"/backups/{id}", c.session(c.backup))
	mux.Handle("GET "+Prefix+"/audit", c.session(c.audit))
	mux.Handle("GET "+Prefix+"/charts", c.session(c.charts))
	mux.Handle("GET "+Prefix+"/restore-tests", c.session(c.restoreTests))
	mux.Handle("GET "+Prefix+"/restore-tests/{id}", c.session(c.restoreTest))
	mux.Handle("GET "+Prefix+"/events", c.session(c.events))
	mux.HandleFunc("GET "+Prefix+"/oidc/login", c.ssoLogin)
	mux.HandleFunc("GET "+config.OIDCCallbackPath, c.ssoCallback)
	mux.Handle("GET "+Prefix+"/backups/{id}/download/{file}", c.session(c.admin(c.download)))
	mux.Handle("POST "+Prefix+"/actions/backup", c.session(c.admin(c.startBackup)))
	mux.Handle("POST "+Prefix+"/actions/restore-test", c.session(c.admin(c.startRestoreTest)))
	mux.Handle("POST "+Prefix+"/actions/pitr-test", c.session(c.admin(c.startPITRTest)))
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, Prefix+"/", http.StatusSeeOther) })
	return securityHeaders(http.MaxBytesHandler(mux, 64<<10))
}

// securityHeaders: a strict CSP (no inline script or style, nothing from
// another host), no framing, no sniffing, no referrer.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

type server struct {
	Deps
	pages   *template.Template
	running *recent.Value[[]Running] // what runs, shared by the live streams
	logins  *loginLimiter            // failed logins per address
	streams streams                  // live streams per session
}

// viewer is who is looking, in which language.
type viewer struct {
	Subject, Role, CSRF, Lang string
	session                   string // the cookie's secret (never rendered)
}

func (v viewer) Admin() bool { return v.Role == auth.RoleAdmin }

type handler func(w http.ResponseWriter, r *http.Request, v viewer)

// session admits a request with a live session of the admin or NOC role;
// any other goes to the login page (a form post without the session's
// CSRF token is refused: 403).
func (c *server) session(next handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lang := language(r)
		cookie, err := r.Cookie(CookieName)
		var sess catalog.Session
		if err == nil {
			sess, err = c.Store.SessionOf(r.Context(), cookie.Value, c.Clock.Now())
		}
		if err != nil {
			if !errors.Is(err, http.ErrNoCookie) && !errors.Is(err, catalog.ErrNoSession) {
				c.Log.Error("console: session lookup failed", "error", err)
			}
			if r.Method != http.MethodGet {
				c.refused(r, viewer{}, http.StatusUnauthorized, "no session")
				c.refuse(w, r, lang, http.StatusUnauthorized, "session")
				return
			}
			http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
			return
		}
		v := viewer{Subject: sess.Subject, Role: sess.Role, CSRF: sess.CSRF, Lang: lang, session: cookie.Value}
		if r.Method == http.MethodPost && subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.CSRF)) != 1 {
			c.Log.Warn("console: a form without the session's CSRF token refused", "path", r.URL.Path, "subject", sess.Subject)
			c.refused(r, v, http.StatusForbidden, "csrf")
			c.refuse(w, r, lang, http.StatusForbidden, "csrf")
			return
		}
		next(w, r, v)
	})
}

// admin lets the admin role act; the NOC gets 403 (and never sees the
// buttons), audited as any action.
func (c *server) admin(next handler) handler {
	return func(w http.ResponseWriter, r *http.Request, v viewer) {
		if !auth.Allowed(v.Role, http.MethodPost) {
			c.refused(r, v, http.StatusForbidden, "forbidden")
			c.refuse(w, r, v.Lang, http.StatusForbidden, "forbidden")
			return
		}
		next(w, r, v)
	}
}

func (c *server) refuse(w http.ResponseWriter, r *http.Request, lang string, status int, why string) {
	w.WriteHeader(status)
	c.render(w, r, "error", viewer{Lang: lang}, map[string]any{"Status": status, "Why": why})
}

// LoginCookie and LoginField carry the login form's own token: the form
// a page of this site rendered posts it back in the field, and the
// browser in a SameSite=Strict cookie that another site's page cannot
// make it send. Without both, equal, the login is refused: another site
// cannot log a victim in as its attacker (login CSRF).
const (
	LoginCookie = "rgzb_login"
	LoginField  = "login_csrf"
)

func (c *server) loginPage(w http.ResponseWriter, r *http.Request) {
	c.renderLogin(w, r, http.StatusOK, map[string]any{})
}

// renderLogin renders the login form with a fresh login token.
func (c *server) renderLogin(w http.ResponseWriter, r *http.Request, status int, data map[string]any) {
	token := randomString()
	http.SetCookie(w, &http.Cookie{Name: LoginCookie, Value: token, Path: Prefix + "/login", MaxAge: 3600, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: front.Secure(r)})
	data["LoginCSRF"], data["SSO"] = token, c.SSO != nil
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	c.render(w, r, "login", viewer{Lang: language(r)}, data)
}

// loginFormValid says whether the login form came from a page of ours.
func loginFormValid(r *http.Request) bool {
	cookie, err := r.Cookie(LoginCookie)
	field := r.PostFormValue(LoginField)
	return err == nil && field != "" && subtle.ConstantTimeCompare([]byte(field), []byte(cookie.Value)) == 1
}

// login exchanges a token (posted in the form, never in a URL) for a
// session. The token is checked as the API checks it.
func (c *server) login(w http.ResponseWriter, r *http.Request) {
	client := audit.Of(r, "", "").Client
	if wait := c.logins.Blocked(client, c.Clock.Now()); wait > 0 {
		c.refused(r, viewer{}, http.StatusTooManyRequests, "login: too many failed logins from this address")
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		c.renderLogin(w, r, http.StatusTooManyRequests, map[string]any{"Throttled": true})
		return
	}
	if !loginFormValid(r) {
		c.Log.Warn("console login refused: the form's login token is missing or stale (another site's form, or an old page)")
		c.refused(r, viewer{}, http.StatusForbidden, "login: no valid login token")
		c.renderLogin(w, r, http.StatusForbidden, map[string]any{"Stale": true})
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	probe, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "/", nil)
	probe.Header.Set("Authorization", "Bearer "+token)
	caller, err := c.Auth.Authenticate(probe)
	if err == nil && !auth.Allowed(caller.Role, http.MethodGet) {
		err = errors.New("role " + caller.Role + " may not use the console")
	}
	if err != nil {
		c.Log.Info("console login refused", "reason", err.Error())
		c.logins.Failed(client, c.Clock.Now())
		c.refused(r, viewer{}, http.StatusUnauthorized, "login refused: "+err.Error())
		c.renderLogin(w, r, http.StatusUnauthorized, map[string]any{"Refused": true})
		return
	}
	if !c.openSession(w, r, caller, "login") {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: LoginCookie, Value: "", Path: Prefix + "/login", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: front.Secure(r)})
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

// openSession opens a session for caller (audited as how: "login", "sso
// login"), after ending the browser's previous one, and sets its cookie;
// false when it could not (it has answered).
func (c *server) openSession(w http.ResponseWriter, r *http.Request, caller auth.Caller, how string) bool {
	lang := language(r)
	who := viewer{Subject: caller.Subject, Role: caller.Role, Lang: lang}
	action, ok := c.act(w, r, who)
	if !ok {
		return false
	}
	// The browser's previous session ends: one browser, one session.
	if old, err := r.Cookie(CookieName); err == nil {
		if err := c.Store.EndSession(r.Context(), old.Value, c.Clock.Now()); err != nil {
			c.Log.Error("console login: the previous session could not be ended", "error", err)
			action.End(r.Context(), http.StatusServiceUnavailable, how+": the previous session could not be ended")
			c.refuse(w, r, lang, http.StatusServiceUnavailable, "internal")
			return false
		}
	}
	secret, csrf := randomString(), randomString()
	now := c.Clock.Now()
	expires := SessionEnd(now, c.Config.API.ConsoleSession, caller.Expires)
	if err := c.Store.StartSession(r.Context(), secret, catalog.Session{Subject: caller.Subject, Role: caller.Role, CSRF: csrf, ExpiresAt: expires,
		Token: caller.Token, Client: audit.Of(r, "", "").Client}, now); err != nil {
		c.Log.Error("console login failed", "error", err)
		action.End(r.Context(), http.StatusInternalServerError, how+": internal")
		c.refuse(w, r, lang, http.StatusInternalServerError, "internal")
		return false
	}
	// A SIGHUP may have removed the token between its check and the
	// session's start, and ended its sessions before this one existed:
	// checked again now that it does.
	if caller.Token != ([32]byte{}) && !c.Auth.Listed(caller.Token, caller.Role) {
		_ = c.Store.EndSession(r.Context(), secret, now)
		action.End(r.Context(), http.StatusUnauthorized, how+": the token was removed meanwhile")
		c.renderLogin(w, r, http.StatusUnauthorized, map[string]any{"Refused": true})
		return false
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: secret, Path: Prefix, Expires: expires, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: front.Secure(r)})
	action.End(r.Context(), http.StatusSeeOther, how)
	return true
}

// SessionEnd is when a session opened at now ends: after the console's
// session length, or when the credential that opened it does (a JWT's
// exp), whichever is sooner.
func SessionEnd(now time.Time, length time.Duration, credential time.Time) time.Time {
	end := now.Add(length)
	if !credential.IsZero() && credential.Before(end) {
		return credential
	}
	return end
}

// logout ends the browser's session first, whatever else happens: with
// or without the form's CSRF token (another site's page cannot make the
// browser send the SameSite=Strict cookie, so the worst it could do is
// nothing), and before the audit. A session that could not be ended is
// said (503) with the cookie kept, never hidden behind a redirect to the
// login page.
func (c *server) logout(w http.ResponseWriter, r *http.Request) {
	lang := language(r)
	cookie, err := r.Cookie(CookieName)
	if err != nil {
		http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
		return
	}
	now := c.Clock.Now()
	sess, lookup := c.Store.SessionOf(r.Context(), cookie.Value, now)
	if err := c.Store.EndSession(r.Context(), cookie.Value, now); err != nil {
		c.Log.Error("console logout: the session could not be ended", "error", err)
		c.refuse(w, r, lang, http.StatusServiceUnavailable, "logout")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: Prefix, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: front.Secure(r)})
	if lookup == nil {
		v := viewer{Subject: sess.Subject, Role: sess.Role, Lang: lang}
		if action, err := c.Audit.Begin(r.Context(), audit.Of(r, v.Subject, v.Role)); err == nil {
			action.End(r.Context(), http.StatusSeeOther, "logout")
		} else {
			c.Log.Error("console logout: not audited (the session is ended)", "subject", sess.Subject, "error", err)
		}
	}
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
}

// act records an action of v's before it is done; when that cannot be
// written it answers 503 and says false: the action is not done.
func (c *server) act(w http.ResponseWriter, r *http.Request, v viewer) (*audit.Action, bool) {
	action, err := c.Audit.Begin(r.Context(), audit.Of(r, v.Subject, v.Role))
	if err != nil {
		c.refuse(w, r, v.Lang, http.StatusServiceUnavailable, "audit")
		return nil, false
	}
	return action, true
}

// refused records a refused request (audit.Trail.Refused: bounded, a few
// a minute per address).
func (c *server) refused(r *http.Request, v viewer, status int, why string) {
	e := audit.Of(r, v.Subject, v.Role)
	e.Status, e.Detail = status, why
	c.Audit.Refused(r.Context(), e)
}

func (c *server) render(w http.ResponseWriter, r *http.Request, page string, v viewer, data map[string]any) {
	data["Viewer"], data["Page"], data["Path"] = v, page, r.URL.Path
	if l := r.URL.Query().Get("lang"); l == "en" || l == "fr" { // the switch is remembered
		http.SetCookie(w, &http.Cookie{Name: "lang", Value: l, Path: Prefix, MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteStrictMode, Secure: front.Secure(r)})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := c.pages.ExecuteTemplate(w, page, data); err != nil {
		c.Log.Error("console: page not rendered", "page", page, "error", err)
	}
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// language is the viewer's: ?lang=, then the lang cookie, then
// Accept-Language; French unless English is asked for.
func language(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "en" || l == "fr" {
		return l
	}
	if c, err := r.Cookie("lang"); err == nil && (c.Value == "en" || c.Value == "fr") {
		return c.Value
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "fr"):
			return "fr"
		case strings.HasPrefix(tag, "en"):
			return "en"
		}
	}
	return "fr"
}

// now is the console's clock, for the pages' ages.
func (c *server) now() time.Time { return c.Clock.Now() }
