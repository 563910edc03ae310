package config

import (
	"net/url"
	"strings"
)

// OIDCCallbackPath is where the OpenID provider sends the browser back:
// BACKUP_OIDC_REDIRECT_URL is this path's external URL.
const OIDCCallbackPath = "/console/oidc/callback"

// OIDC is single sign-on through the platform's OpenID provider
// (BACKUP_OIDC_*): none when Issuer is empty.
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string // never printed; "" for a public client (PKCE alone)
	RedirectURL  string
	// RoleClaim is the claim that says who may do what: a string or a
	// list of strings (groups, roles, email…).
	RoleClaim string
	// Roles maps the claim's values to rgz-backup's roles: a person whose
	// claim holds one of Roles["admin"] is an admin, else one of
	// Roles["noc"] a NOC operator, else nobody here.
	Roles map[string][]string
}

// On says whether single sign-on is configured.
func (o OIDC) On() bool { return o.Issuer != "" }

func (r *reader) oidc() OIDC {
	o := OIDC{Issuer: r.str("BACKUP_OIDC_ISSUER"), ClientID: r.str("BACKUP_OIDC_CLIENT_ID"), RedirectURL: r.str("BACKUP_OIDC_REDIRECT_URL"),
		RoleClaim: r.str("BACKUP_OIDC_ROLE_CLAIM")}
	rawRoles := r.str("BACKUP_OIDC_ROLES")
	if o.Issuer == "" {
		for _, name := range []string{"BACKUP_OIDC_CLIENT_ID", "BACKUP_OIDC_REDIRECT_URL", "BACKUP_OIDC_ROLES", "BACKUP_OIDC_CLIENT_SECRET", "BACKUP_OIDC_CLIENT_SECRET_FILE"} {
			if r.getenv(name) != "" {
				r.fail("BACKUP_OIDC_ISSUER", "", "must be set with "+name+" (single sign-on needs its provider)")
			}
		}
		return OIDC{}
	}
	o.ClientSecret = r.str("BACKUP_OIDC_CLIENT_SECRET")
	if u, err := url.Parse(o.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		r.fail("BACKUP_OIDC_ISSUER", o.Issuer, "must be the provider's issuer URL, https://host[/path] (its /.well-known/openid-configuration is read)")
	}
	if o.ClientID == "" {
		r.fail("BACKUP_OIDC_CLIENT_ID", "", "must be set with BACKUP_OIDC_ISSUER: the client id the provider gave rgz-backup")
	}
	if u, err := url.Parse(o.RedirectURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != OIDCCallbackPath || u.RawQuery != "" {
		r.fail("BACKUP_OIDC_REDIRECT_URL", o.RedirectURL, "must be the external URL of "+OIDCCallbackPath+", e.g. https://backup.example"+OIDCCallbackPath+" (registered with the provider)")
	}
	o.Roles = map[string][]string{}
	for _, entry := range splitList(rawRoles) {
		role, value, ok := strings.Cut(entry, "=")
		role, value = strings.TrimSpace(role), strings.TrimSpace(value)
		if !ok || (role != "admin" && role != "noc") || value == "" {
			r.fail("BACKUP_OIDC_ROLES", rawRoles, `must be "admin=VALUE,noc=VALUE,…": the role claim's values that make an admin or a NOC operator`)
			break
		}
		o.Roles[role] = append(o.Roles[role], value)
	}
	if len(o.Roles) == 0 {
		r.fail("BACKUP_OIDC_ROLES", "", "must map the role claim's values to admin and noc (admin=rgz-admins,noc=rgz-noc): without it, nobody may log in")
	}
	return o
}
