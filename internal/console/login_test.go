package console

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// Logging in and out on a network that is not trusted: a login form must
// come from a page of ours (login CSRF), failed logins are limited per
// address (429, Retry-After), a login ends the browser's previous session,
// and logout ends the session without the form's CSRF token — and says so
// when it cannot.
func TestLoginAndLogoutHardening(t *testing.T) {
	t.Parallel()
	s := newSite(t)

	// Login CSRF: a form without the login token, or with one whose
	// cookie another site's page cannot make the browser send, opens no
	// session whatever the token.
	if code, page := s.post(s.browser(), "/console/login", url.Values{"token": {s.tokens["admin"]}}); code != http.StatusForbidden || !strings.Contains(page, `id="stale"`) {
		t.Fatalf("a login without the login token: %d", code)
	}
	_, form := s.get(s.browser(), "/console/login")
	m := loginFieldValue.FindStringSubmatch(form)
	if m == nil {
		t.Fatalf("the login page has no login token:\n%s", form)
	}
	if code, _ := s.post(s.browser(), "/console/login", url.Values{"token": {s.tokens["admin"]}, LoginField: {m[1]}}); code != http.StatusForbidden {
		t.Fatalf("a login token without its cookie (another site's form): %d", code)
	}

	// A login ends the browser's previous session.
	c, csrf := s.login("admin")
	u, _ := url.Parse(s.server.URL + Prefix + "/")
	first := cookieOf(c, u)
	if code, _ := s.logIn(c, s.tokens["noc"]); code != 200 || cookieOf(c, u) == first {
		t.Fatalf("a second login: %d", code)
	}
	old := s.browser()
	old.Jar.SetCookies(u, []*http.Cookie{{Name: CookieName, Value: first, Path: Prefix}})
	if _, page := s.get(old, "/console/"); !strings.Contains(page, `name="token"`) {
		t.Fatal("the previous session outlives the next login")
	}

	// Logout without the CSRF token (a stale page) still ends the session.
	copied := s.browser()
	copied.Jar.SetCookies(u, []*http.Cookie{{Name: CookieName, Value: cookieOf(c, u), Path: Prefix}})
	if _, page := s.post(c, "/console/logout", url.Values{"csrf": {csrf + "stale"}}); !strings.Contains(page, `name="token"`) {
		t.Fatal("logout with a stale CSRF token does not lead to the login page")
	}
	if _, page := s.get(copied, "/console/"); !strings.Contains(page, `name="token"`) {
		t.Fatal("the session outlives a logout without its CSRF token")
	}

	c2, _ := s.login("noc") // logged in before its address is held back

	// Failed logins: LoginFailures, then 429 with Retry-After — even with
	// a good token, from that address.
	for i := range LoginFailures {
		if code, _ := s.logIn(s.browser(), "rgzb_wrong"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, code)
		}
	}
	res, err := LogIn(t.Context(), s.browser(), s.server.URL, s.tokens["admin"], nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("after %d failures: %d, Retry-After %q", LoginFailures, res.StatusCode, res.Header.Get("Retry-After"))
	}

	// A logout that cannot end the session (the catalog is gone) says so
	// and keeps the cookie: never a login page over a live session.
	s.store.Close()
	res, err = c2.PostForm(s.server.URL+Prefix+"/logout", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a logout the catalog could not record: %d", res.StatusCode)
	}
	for _, ck := range res.Cookies() {
		if ck.Name == CookieName {
			t.Fatalf("the cookie was cleared over a live session: %+v", ck)
		}
	}
}

func cookieOf(c *http.Client, u *url.URL) string {
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == CookieName {
			return ck.Value
		}
	}
	return ""
}

// A live stream stops within seconds of its session's end (an "ended"
// event), and one session holds at most MaxStreamsPerSession streams.
func TestLiveStreamFollowsItsSession(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	c, _ := s.login("noc")
	open := func() (*http.Response, context.CancelFunc) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", s.server.URL+Prefix+"/events", nil)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res, cancel
	}
	var cancels []context.CancelFunc
	var first *http.Response
	for i := range MaxStreamsPerSession {
		res, cancel := open()
		if res.StatusCode != 200 {
			t.Fatalf("stream %d: %d", i+1, res.StatusCode)
		}
		if first == nil {
			first = res
		}
		cancels = append(cancels, cancel)
	}
	over, cancel := open()
	over.Body.Close()
	cancel()
	if over.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("stream %d of one session: %d", MaxStreamsPerSession+1, over.StatusCode)
	}
	for _, cancel := range cancels[1:] {
		cancel()
	}

	if _, err := s.store.RevokeSessions(context.Background(), catalog.Revoke{All: true}, time.Now()); err != nil {
		t.Fatal(err)
	}
	ended := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(first.Body) // until the server ends the stream
		ended <- string(b)
	}()
	select {
	case got := <-ended:
		if !strings.Contains(got, "event: ended") {
			t.Fatalf("the stream ended without saying so: %q", got)
		}
	case <-time.After(sessionCheckEvery + 3*eventsEvery):
		t.Fatal("the stream outlives its revoked session")
	}
	cancels[0]()
}
