// Package sso logs people into the console through the platform's
// OpenID provider (BACKUP_OIDC_*): the authorization code flow with PKCE,
// state and nonce; the ID token verified (the provider's keys, issuer,
// audience, expiry, nonce); the role read from a claim of the ID token or,
// when it is not there, of the userinfo endpoint, and mapped to admin or
// noc. A provider that cannot be reached is ErrUnavailable: the console
// says so and its token login goes on working.
package sso

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/mosaique/rgz-backup/internal/config"
)

// Timeout bounds each call to the provider: a provider that hangs must
// not hold the login page.
const Timeout = 10 * time.Second

// ErrUnavailable is the error when the provider cannot be reached (its
// discovery document, its keys or its token endpoint).
var ErrUnavailable = errors.New("the identity provider cannot be reached")

// ErrNoRole is Finish's error for a person the role claim gives no role
// here: authenticated, yet nobody rgz-backup knows.
var ErrNoRole = errors.New("the identity provider gives this account no role in rgz-backup")

// ErrRefused is Finish's error for a login that is not one: a state that
// does not match, an ID token that does not verify, a wrong nonce.
var ErrRefused = errors.New("single sign-on refused")

// Provider is the configured OpenID provider, discovered on first use
// (and again after a failure): a provider that is down at start does not
// keep the daemon from starting.
type Provider struct {
	cfg    config.OIDC
	now    func() time.Time
	client *http.Client

	mu         sync.Mutex
	discovered *oidc.Provider
	failedAt   time.Time // the last discovery that failed: not tried again for retryAfter
}

// retryAfter is how long a provider that could not be discovered is not
// asked again: anyone may click the SSO link, and a provider that is down
// must not make each click wait for Timeout, nor make the daemon a source
// of requests.
const retryAfter = 10 * time.Second

// New is the provider of cfg; now is the clock ID tokens' expiry is read
// against.
func New(cfg config.OIDC, now func() time.Time) *Provider {
	return &Provider{cfg: cfg, now: now, client: &http.Client{Timeout: Timeout}}
}

// Flow is what a login keeps (in a cookie) between the redirect to the
// provider and the browser's return: its state, nonce and PKCE verifier.
type Flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
}

// Encode is the flow as a cookie's value.
func (f Flow) Encode() string {
	b, _ := json.Marshal(f)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeFlow reads a cookie's value back.
func DecodeFlow(s string) (Flow, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var f Flow
	if err == nil {
		err = json.Unmarshal(b, &f)
	}
	if err != nil || f.State == "" || f.Nonce == "" || f.Verifier == "" {
		return Flow{}, fmt.Errorf("%w: the login's cookie is not one of ours", ErrRefused)
	}
	return f, nil
}

// Person is who logged in.
type Person struct {
	Subject string    // "oidc:" and the ID token's sub
	Name    string    // email or preferred_username, for the log
	Role    string    // admin or noc
	Expires time.Time // the ID token's expiry: the session ends by then
}

func (p *Provider) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, p.client)
}

// provider is the discovered provider, discovering it when it is not yet.
func (p *Provider) provider(ctx context.Context) (*oidc.Provider, error) {
	p.mu.Lock()
	found, failedAt := p.discovered, p.failedAt
	p.mu.Unlock()
	if found != nil {
		return found, nil
	}
	if !failedAt.IsZero() && time.Since(failedAt) < retryAfter {
		return nil, fmt.Errorf("%w: %s (tried %s ago)", ErrUnavailable, p.cfg.Issuer, time.Since(failedAt).Round(time.Second))
	}
	found, err := oidc.NewProvider(p.ctx(ctx), p.cfg.Issuer) // not under the lock: it may take Timeout
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.failedAt = time.Now()
		if strings.Contains(err.Error(), "did not match") {
			// Reached, but it names itself otherwise: a configuration
			// mistake (often the trailing slash), said as one.
			return nil, fmt.Errorf("%w: BACKUP_OIDC_ISSUER=%s is not the issuer the provider names in its discovery document (check the trailing slash): %v",
				ErrUnavailable, p.cfg.Issuer, err)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, p.cfg.Issuer, err)
	}
	if p.discovered == nil {
		p.discovered = found
	}
	return p.discovered, nil
}

// Check discovers the provider now (serve's start: a provider that
// cannot be reached is said once in the log, and tried again at the next
// login).
func (p *Provider) Check(ctx context.Context) error {
	_, err := p.provider(ctx)
	return err
}

// reachable says whether the provider answers its discovery document.
func (p *Provider) reachable(ctx context.Context) error {
	u := strings.TrimSuffix(p.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	res, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, p.cfg.Issuer, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s answers %s", ErrUnavailable, u, res.Status)
	}
	return nil
}

func (p *Provider) oauth(found *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, RedirectURL: p.cfg.RedirectURL,
		Endpoint: found.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
}

// Start begins a login: where to send the browser, and the flow to keep
// until it comes back.
func (p *Provider) Start(ctx context.Context) (string, Flow, error) {
	found, err := p.provider(ctx)
	if err != nil {
		return "", Flow{}, err
	}
	// Discovered once, the provider may be down since: better say so here
	// than send the browser to a page that does not answer.
	if err := p.reachable(ctx); err != nil {
		return "", Flow{}, err
	}
	f := Flow{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier()}
	return p.oauth(found).AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), f, nil
}

// Finish completes a login the provider sent back with state and code:
// the state must be the flow's; the code is exchanged with the flow's
// verifier; the ID token must verify and carry the flow's nonce; the role
// comes from the role claim.
func (p *Provider) Finish(ctx context.Context, f Flow, state, code string) (Person, error) {
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(f.State)) != 1 {
		return Person{}, fmt.Errorf("%w: the state is not this browser's login", ErrRefused)
	}
	if code == "" {
		return Person{}, fmt.Errorf("%w: no authorization code", ErrRefused)
	}
	found, err := p.provider(ctx)
	if err != nil {
		return Person{}, err
	}
	token, err := p.oauth(found).Exchange(p.ctx(ctx), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return Person{}, fmt.Errorf("%w: the provider refused the code: %s %s", ErrRefused, re.ErrorCode, re.ErrorDescription)
		}
		return Person{}, fmt.Errorf("%w: exchange the code: %v", ErrUnavailable, err)
	}
	raw, _ := token.Extra("id_token").(string)
	if raw == "" {
		return Person{}, fmt.Errorf("%w: the provider returned no ID token", ErrRefused)
	}
	idToken, err := p.Verify(ctx, found, raw)
	if err != nil {
		return Person{}, err
	}
	if subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(f.Nonce)) != 1 {
		return Person{}, fmt.Errorf("%w: the ID token's nonce is not this login's", ErrRefused)
	}
	claims := map[string]any{}
	if err := idToken.Claims(&claims); err != nil {
		return Person{}, fmt.Errorf("%w: the ID token's claims: %v", ErrRefused, err)
	}
	if _, ok := claims[p.roleClaim()]; !ok {
		// Not in the ID token: many providers keep it for userinfo.
		info, err := found.UserInfo(p.ctx(ctx), oauth2.StaticTokenSource(token))
		if err != nil {
			return Person{}, fmt.Errorf("%w: userinfo: %v", ErrUnavailable, err)
		}
		if info.Subject != idToken.Subject {
			return Person{}, fmt.Errorf("%w: userinfo is another subject's", ErrRefused)
		}
		more := map[string]any{}
		if err := info.Claims(&more); err != nil {
			return Person{}, fmt.Errorf("%w: userinfo's claims: %v", ErrRefused, err)
		}
		for k, v := range more {
			if _, ok := claims[k]; !ok {
				claims[k] = v
			}
		}
	}
	who := Person{Subject: "oidc:" + idToken.Subject, Name: nameOf(claims), Expires: idToken.Expiry}
	who.Role = RoleOf(claims[p.roleClaim()], p.cfg.Roles)
	if p.roleClaim() == "email" {
		// An address gives a role only when the provider verified it (some
		// let their users type any), compared as addresses are: without case.
		who.Role = ""
		if verified, _ := claims["email_verified"].(bool); verified {
			email, _ := claims["email"].(string)
			who.Role = RoleOf(strings.ToLower(email), lowered(p.cfg.Roles))
		}
	}
	if who.Role == "" {
		return who, fmt.Errorf("%w (%s %q: %v)", ErrNoRole, p.roleClaim(), who.Name, claims[p.roleClaim()])
	}
	return who, nil
}

// Verify checks a raw ID token against the provider's keys: signature,
// issuer, audience (our client id) and expiry (on p's clock).
func (p *Provider) Verify(ctx context.Context, found *oidc.Provider, raw string) (*oidc.IDToken, error) {
	v := found.Verifier(&oidc.Config{ClientID: p.cfg.ClientID, Now: p.now})
	idToken, err := v.Verify(p.ctx(ctx), raw)
	if err != nil {
		return nil, fmt.Errorf("%w: the ID token does not verify: %v", ErrRefused, err)
	}
	return idToken, nil
}

func (p *Provider) roleClaim() string {
	if p.cfg.RoleClaim == "" {
		return "groups"
	}
	return p.cfg.RoleClaim
}

// RoleOf is the role a role claim's value gives: admin when one of its
// values is among roles["admin"], else noc when one is among
// roles["noc"], else "". The value may be a string or a list of strings
// (anything else gives no role).
func RoleOf(claim any, roles map[string][]string) string {
	var values []string
	switch v := claim.(type) {
	case string:
		values = []string{v}
	case []any:
		for _, item := range v {
			if s, ok := item.(string); ok {
				values = append(values, s)
			}
		}
	case []string:
		values = v
	}
	for _, role := range []string{"admin", "noc"} {
		for _, value := range values {
			if value != "" && slices.Contains(roles[role], value) {
				return role
			}
		}
	}
	return ""
}

// lowered is roles with its values in lower case.
func lowered(roles map[string][]string) map[string][]string {
	out := map[string][]string{}
	for role, values := range roles {
		for _, v := range values {
			out[role] = append(out[role], strings.ToLower(v))
		}
	}
	return out
}

// nameOf is how a person is called in the log: their email, else their
// preferred username.
func nameOf(claims map[string]any) string {
	for _, k := range []string{"email", "preferred_username", "name"} {
		if s, ok := claims[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
