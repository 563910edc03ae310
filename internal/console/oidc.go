package console

import (
	"crypto/subtle"
	"errors"
	"html/template"
	"net/http"
	"strconv"

	"github.com/mosaique/rgz-backup/internal/audit"
	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/front"
	"github.com/mosaique/rgz-backup/internal/sso"
)

// FlowCookie keeps a single sign-on's state, nonce and PKCE verifier from
// the redirect to the provider until the browser comes back (10 minutes
// at most). SameSite=Lax: the browser sends it on the provider's redirect
// back, a top-level navigation from another site; no other site's page
// can use it, since its state must match the one the provider returns.
const FlowCookie = "rgzb_oidc"

const flowPath = Prefix + "/oidc/"

// ssoLogin sends the browser to the provider (a GET link beside the token
// form: the CSP's form-action would stop a form's redirect to another
// host).
func (c *server) ssoLogin(w http.ResponseWriter, r *http.Request) {
	if c.SSO == nil {
		http.NotFound(w, r)
		return
	}
	to, flow, err := c.SSO.Start(r.Context())
	if err != nil {
		c.Log.Error("single sign-on unavailable", "error", err)
		c.renderLogin(w, r, http.StatusServiceUnavailable, map[string]any{"SSODown": true})
		return
	}
	// A new login ends the browser's session now: the provider's redirect
	// back is another site's navigation, which does not carry the
	// SameSite=Strict session cookie to end it then.
	if old, err := r.Cookie(CookieName); err == nil {
		if err := c.Store.EndSession(r.Context(), old.Value, c.Clock.Now()); err != nil {
			c.Log.Error("console single sign-on: the previous session could not be ended", "error", err)
			c.refuse(w, r, language(r), http.StatusServiceUnavailable, "internal")
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: FlowCookie, Value: flow.Encode(), Path: flowPath, MaxAge: 600, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: front.Secure(r)})
	http.Redirect(w, r, to, http.StatusFound)
}

// ssoCallback is where the provider sends the browser back: the login is
// finished (sso.Provider.Finish), then a session opened as a token login
// opens one, ending at the ID token's expiry at the latest.
func (c *server) ssoCallback(w http.ResponseWriter, r *http.Request) {
	if c.SSO == nil {
		http.NotFound(w, r)
		return
	}
	client := audit.Of(r, "", "").Client
	http.SetCookie(w, &http.Cookie{Name: FlowCookie, Value: "", Path: flowPath, MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: front.Secure(r)})
	if wait := c.logins.Blocked(client, c.Clock.Now()); wait > 0 {
		c.refused(r, viewer{}, http.StatusTooManyRequests, "sso login: too many failed logins from this address")
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		c.renderLogin(w, r, http.StatusTooManyRequests, map[string]any{"Throttled": true})
		return
	}
	q := r.URL.Query()
	var person sso.Person
	// Only a callback of this browser's own login (its flow cookie, the
	// state the provider returned) counts as a failed login: any site can
	// make a browser GET this URL, and must not lock its address out.
	mine := false
	var err error
	var flow sso.Flow
	cookie, cerr := r.Cookie(FlowCookie)
	if cerr == nil {
		flow, cerr = sso.DecodeFlow(cookie.Value)
	}
	switch {
	case cerr != nil:
		err = errors.New("no login of this browser's is under way (its cookie is missing: expired, or another site's link)")
	case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(flow.State)) != 1:
		err = errors.New("the state is not this browser's login")
	case q.Get("error") != "":
		mine, err = true, errors.New("the provider refused: "+bounded(q.Get("error"), 64))
	default:
		mine = true
		person, err = c.SSO.Finish(r.Context(), flow, q.Get("state"), q.Get("code"))
	}
	if err != nil {
		status, data := http.StatusUnauthorized, map[string]any{"SSORefused": true}
		switch {
		case errors.Is(err, sso.ErrUnavailable):
			status, data = http.StatusServiceUnavailable, map[string]any{"SSODown": true}
		case errors.Is(err, sso.ErrNoRole):
			status, data = http.StatusForbidden, map[string]any{"SSONoRole": true}
		case mine:
			c.logins.Failed(client, c.Clock.Now())
		}
		c.Log.Info("console single sign-on refused", "subject", person.Subject, "name", person.Name, "reason", err.Error())
		c.refused(r, viewer{Subject: person.Subject}, status, "sso login refused: "+err.Error())
		c.renderLogin(w, r, status, data)
		return
	}
	c.Log.Info("console single sign-on", "subject", person.Subject, "name", person.Name, "role", person.Role)
	if !c.openSession(w, r, auth.Caller{Subject: person.Subject, Role: person.Role, Expires: person.Expires}, "sso login") {
		return
	}
	// A page, not a redirect: the browser came here from the provider, and
	// would not send the SameSite=Strict session cookie on a redirect in
	// that same navigation.
	c.render(w, r, "entered", viewer{Subject: person.Subject, Role: person.Role, Lang: language(r)}, map[string]any{"To": template.URL(Prefix + "/")})
}

// bounded is s cut to n bytes at most: a value from a URL, for the log.
func bounded(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
