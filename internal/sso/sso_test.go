package sso

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/testenv/optest"
)

// The role a claim gives: a string or a list; admin before noc; nothing
// else gives one.
func TestRoleOf(t *testing.T) {
	t.Parallel()
	roles := map[string][]string{"admin": {"rgz-admins"}, "noc": {"rgz-noc", "support"}}
	for _, c := range []struct {
		claim any
		want  string
	}{
		{"rgz-admins", "admin"},
		{"support", "noc"},
		{[]any{"billing", "rgz-noc"}, "noc"},
		{[]any{"rgz-noc", "rgz-admins"}, "admin"},
		{[]string{"rgz-admins"}, "admin"},
		{[]any{"billing", 42, nil}, ""},
		{"RGZ-ADMINS", ""},
		{"", ""},
		{nil, ""},
		{map[string]any{"rgz-admins": true}, ""},
		{42, ""},
	} {
		if got := RoleOf(c.claim, roles); got != c.want {
			t.Errorf("RoleOf(%#v) = %q, want %q", c.claim, got, c.want)
		}
	}
}

const callback = "http://127.0.0.1:9/console/oidc/callback" // nothing listens: the test reads the redirect

// signIn logs user in at the provider as a browser would (its login form),
// from authURL to the redirect to the callback, and returns the code and
// state it carries.
func signIn(t *testing.T, authURL, user, password string) (code, state string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), callback) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	res, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	id := regexp.MustCompile(`name="id" value="([^"]+)"`).FindSubmatch(page)
	if id == nil {
		t.Fatalf("the provider's login page (%s):\n%s", res.Request.URL, page)
	}
	login := res.Request.URL.ResolveReference(&url.URL{Path: "/login/username"})
	res, err = c.PostForm(login.String(), url.Values{"id": {string(id[1])}, "username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	to, err := url.Parse(res.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(to.String(), callback) {
		t.Fatalf("after the login form: %s, to %q", res.Status, res.Header.Get("Location"))
	}
	return to.Query().Get("code"), to.Query().Get("state")
}

// Against a real provider: a login goes through; a forged state, another
// login's nonce, an ID token for another client (audience) or past its
// expiry, and an account without a role are each refused; a provider
// that is down is ErrUnavailable.
func TestLoginAgainstARealProvider(t *testing.T) {
	t.Parallel()
	op := optest.Start(t, callback,
		optest.User{ID: "u-alice", Username: "alice", Password: "pw-a", Email: "alice@rgz.test"},
		optest.User{ID: "u-carol", Username: "carol", Password: "pw-c", Email: "carol@rgz.test"},
		optest.User{ID: "u-mallory", Username: "mallory", Password: "pw-m", Email: "alice@rgz.test", Unverified: true},
		optest.User{ID: "u-alice2", Username: "alice2", Password: "pw-a2", Email: "Alice@RGZ.test"})
	cfg := config.OIDC{Issuer: op.Issuer, ClientID: optest.ClientID, ClientSecret: optest.ClientSecret, RedirectURL: callback,
		RoleClaim: "email", Roles: map[string][]string{"admin": {"alice@rgz.test"}}}
	ctx := context.Background()
	p := New(cfg, time.Now)

	to, flow, err := p.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(to); u.Query().Get("code_challenge_method") != "S256" || u.Query().Get("nonce") != flow.Nonce || u.Query().Get("state") != flow.State {
		t.Fatalf("the authorization URL lacks PKCE, state or nonce: %s", to)
	}
	code, state := signIn(t, to, "alice", "pw-a")
	if _, err := p.Finish(ctx, flow, "forged", code); !errors.Is(err, ErrRefused) {
		t.Fatalf("a forged state: %v", err)
	}
	who, err := p.Finish(ctx, flow, state, code)
	if err != nil || who.Subject != "oidc:u-alice" || who.Role != "admin" || who.Name != "alice@rgz.test" ||
		who.Expires.Before(time.Now()) || who.Expires.After(time.Now().Add(2*time.Hour)) {
		t.Fatalf("alice: %+v %v", who, err)
	}
	if _, err := p.Finish(ctx, flow, state, code); !errors.Is(err, ErrRefused) {
		t.Fatalf("a code used twice: %v", err)
	}

	// Another login's nonce.
	to, flow, _ = p.Start(ctx)
	code, state = signIn(t, to, "alice", "pw-a")
	other := flow
	other.Nonce = "not-this-login"
	if _, err := p.Finish(ctx, other, state, code); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("another login's nonce: %v", err)
	}

	// An ID token for another client, or past its expiry.
	to, flow, _ = p.Start(ctx)
	code, _ = signIn(t, to, "alice", "pw-a")
	found, err := p.provider(ctx)
	if err != nil {
		t.Fatal(err)
	}
	token, err := p.oauth(found).Exchange(ctx, code, oauth2.VerifierOption(flow.Verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := token.Extra("id_token").(string)
	if _, err := p.Verify(ctx, found, raw); err != nil {
		t.Fatalf("the ID token does not verify: %v", err)
	}
	elsewhere := cfg
	elsewhere.ClientID = "another-service"
	if _, err := New(elsewhere, time.Now).Verify(ctx, found, raw); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "audience") {
		t.Fatalf("an ID token for another client: %v", err)
	}
	later := func() time.Time { return time.Now().Add(3 * time.Hour) }
	if _, err := New(cfg, later).Verify(ctx, found, raw); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("an expired ID token: %v", err)
	}
	if _, err := p.Verify(ctx, found, raw[:len(raw)-4]+"AAAA"); !errors.Is(err, ErrRefused) {
		t.Fatalf("a forged signature: %v", err)
	}

	// carol is authenticated, and nobody here.
	to, flow, _ = p.Start(ctx)
	code, state = signIn(t, to, "carol", "pw-c")
	if who, err := p.Finish(ctx, flow, state, code); !errors.Is(err, ErrNoRole) || who.Role != "" {
		t.Fatalf("carol: %+v %v", who, err)
	}

	// An address the provider did not verify gives no role, even the
	// admin's; a verified one is compared without case.
	to, flow, _ = p.Start(ctx)
	code, state = signIn(t, to, "mallory", "pw-m")
	if who, err := p.Finish(ctx, flow, state, code); !errors.Is(err, ErrNoRole) {
		t.Fatalf("an unverified admin address: %+v %v", who, err)
	}
	to, flow, _ = p.Start(ctx)
	code, state = signIn(t, to, "alice2", "pw-a2")
	if who, err := p.Finish(ctx, flow, state, code); err != nil || who.Role != "admin" {
		t.Fatalf("the admin's address in another case: %+v %v", who, err)
	}

	// An issuer written without the provider's trailing slash: said as
	// the configuration mistake it is.
	wrong := cfg
	wrong.Issuer = strings.TrimSuffix(op.Issuer, "/")
	if _, _, err := New(wrong, time.Now).Start(ctx); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "trailing slash") {
		t.Fatalf("an issuer without its trailing slash: %v", err)
	}

	// The provider down.
	op.Stop()
	if _, _, err := p.Start(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("the provider down: %v", err)
	}
	if _, _, err := New(cfg, time.Now).Start(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("the provider down at the first login: %v", err)
	}
}
