package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// API is who may call the HTTP API (BACKUP_API_*).
type API struct {
	JWTSecret        string // HS256; never printed
	JWTPublicKeyFile string // PEM, RS256 or ES256
	RoleClaim        string // the JWT claim holding the role
	// JWTIssuer and JWTAudience, when set, must be the token's iss and be
	// among its aud: a token minted for another service is refused.
	JWTIssuer, JWTAudience string
	Tokens                 []StaticToken
	// OIDC is single sign-on for the console (BACKUP_OIDC_*).
	OIDC OIDC
	// TokensFile, when set, is where Tokens come from
	// (BACKUP_API_TOKENS_FILE), read again on SIGHUP.
	TokensFile string
	// ConsoleSession is how long a console login lasts
	// (BACKUP_CONSOLE_SESSION_HOURS).
	ConsoleSession time.Duration
	// AuditRetentionDays is how long the audit keeps its rows
	// (BACKUP_AUDIT_RETENTION_DAYS): the daily retention job prunes older.
	AuditRetentionDays int
}

// roleClaim is the JWT claim holding the role.
func (a API) roleClaim() string {
	if a.RoleClaim == "" {
		return "role"
	}
	return a.RoleClaim
}

// StaticToken is one BACKUP_API_TOKENS entry: its name (what the audit
// and the console's sessions call whoever holds it), its role and the
// SHA-256 of the token (the token itself is never stored).
type StaticToken struct {
	Name   string
	Role   string
	SHA256 [32]byte
}

// MinJWTSecret is the shortest HS256 secret accepted: shorter ones can be
// found by brute force from one token (RFC 7518 asks for at least the
// hash's 256 bits).
const MinJWTSecret = 32

func (r *reader) api() API {
	a := API{
		JWTSecret:        r.str("BACKUP_API_JWT_SECRET"),
		JWTPublicKeyFile: r.str("BACKUP_API_JWT_PUBLIC_KEY_FILE"),
		RoleClaim:        r.str("BACKUP_API_JWT_ROLE_CLAIM"),
		JWTIssuer:        r.str("BACKUP_API_JWT_ISSUER"),
		JWTAudience:      r.str("BACKUP_API_JWT_AUDIENCE"),
		ConsoleSession:   time.Duration(r.intRange("BACKUP_CONSOLE_SESSION_HOURS", 1, 720)) * time.Hour,

		AuditRetentionDays: r.intRange("BACKUP_AUDIT_RETENTION_DAYS", 1, 36500),
	}
	if n := len(a.JWTSecret); n > 0 && n < MinJWTSecret {
		// The length only: never the secret.
		r.fail("BACKUP_API_JWT_SECRET", "("+strconv.Itoa(n)+" bytes)", "must be at least "+strconv.Itoa(MinJWTSecret)+" bytes (a shorter HS256 secret can be found from one token)")
	}
	a.OIDC = r.oidc()
	a.TokensFile = r.str("BACKUP_API_TOKENS_FILE")
	raw := r.str("BACKUP_API_TOKENS")
	switch {
	case raw != "" && a.TokensFile != "":
		r.fail("BACKUP_API_TOKENS", "", "and BACKUP_API_TOKENS_FILE are both set: set one")
	case a.TokensFile != "":
		tokens, err := ReadTokensFile(a.TokensFile)
		var bad *TokenError
		if errors.As(err, &bad) {
			r.fail("BACKUP_API_TOKENS_FILE", a.TokensFile, bad.Entry+" "+bad.Problem)
		} else if err != nil {
			r.fail("BACKUP_API_TOKENS_FILE", a.TokensFile, err.Error())
		}
		a.Tokens = tokens
	default:
		tokens, err := ParseTokens(raw)
		var bad *TokenError
		if errors.As(err, &bad) {
			r.fail("BACKUP_API_TOKENS", bad.Entry, bad.Problem)
		}
		a.Tokens = tokens
	}
	return a
}

// ReadTokensFile reads BACKUP_API_TOKENS_FILE: ParseTokens of its text.
func ReadTokensFile(path string) ([]StaticToken, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("must be a file this user can read: %v", err)
	}
	return ParseTokens(string(b))
}

// TokenError is an entry of a token list that does not read, named by its
// number (its text holds digests).
type TokenError struct {
	Entry   string // "entry 2 of 3"
	Problem string
}

func (e *TokenError) Error() string { return e.Entry + ": " + e.Problem }

// tokenName is what a token's name may be: it reaches the audit and the
// console as it is.
var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ParseTokens reads static token entries, separated by commas or lines
// (a line starting with # is a comment): NAME:ROLE:SHA256HEX, or the older
// ROLE:SHA256HEX, whose name is then "sha256-" and the digest's first 12
// hex digits — stable, whatever the entries' order. The error names the
// entry by its number, never by its text (it holds digests).
func ParseTokens(raw string) ([]StaticToken, error) {
	var entries []string
	for _, line := range strings.Split(raw, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, e := range strings.Split(line, ",") {
			if e = strings.TrimSpace(e); e != "" {
				entries = append(entries, e)
			}
		}
	}
	var out []StaticToken
	names := map[string]int{}
	for i, entry := range entries {
		which := "entry " + strconv.Itoa(i+1) + " of " + strconv.Itoa(len(entries))
		parts := strings.Split(entry, ":")
		var t StaticToken
		var digest string
		switch len(parts) {
		case 2:
			t.Role, digest = parts[0], parts[1]
			t.Name = "sha256-" + strings.ToLower(digest[:min(12, len(digest))])
		case 3:
			t.Name, t.Role, digest = parts[0], parts[1], parts[2]
		}
		b, err := hex.DecodeString(digest)
		if t.Role == "" || err != nil || len(b) != 32 {
			return nil, &TokenError{which, `must be "NAME:ROLE:SHA256HEX" (64 hex digits; rgz-backup token new prints one)`}
		}
		if !tokenName.MatchString(t.Name) {
			return nil, &TokenError{which, "its name must be 1-64 letters, digits, '.', '_', '-' or '@'"}
		}
		if first, ok := names[t.Name]; ok {
			return nil, &TokenError{which, fmt.Sprintf("its name %q is entry %d's too: each token needs its own", t.Name, first)}
		}
		names[t.Name] = i + 1
		t.SHA256 = [32]byte(b)
		out = append(out, t)
	}
	return out, nil
}
