package config

import (
	"encoding/hex"
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
	// ConsoleSession is how long a console login lasts
	// (BACKUP_CONSOLE_SESSION_HOURS).
	ConsoleSession time.Duration
	// AuditRetentionDays is how long the audit keeps its rows
	// (BACKUP_AUDIT_RETENTION_DAYS): the daily retention job prunes older.
	AuditRetentionDays int
}

// StaticToken is one BACKUP_API_TOKENS entry: a role and the SHA-256 of
// the token (the token itself is never stored).
type StaticToken struct {
	Role   string
	SHA256 [32]byte
}

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
	raw := r.str("BACKUP_API_TOKENS")
	if raw == "" {
		return a
	}
	for i, entry := range strings.Split(raw, ",") {
		role, digest, ok := strings.Cut(strings.TrimSpace(entry), ":")
		b, err := hex.DecodeString(digest)
		if !ok || role == "" || err != nil || len(b) != 32 {
			// The value may hold real digests: name the entry, not its text.
			r.fail("BACKUP_API_TOKENS", "entry "+strconv.Itoa(i+1)+" of "+strconv.Itoa(len(strings.Split(raw, ","))),
				`must be "ROLE:SHA256HEX,…" (64 hex digits each; rgz-backup token new prints one)`)
			return a
		}
		a.Tokens = append(a.Tokens, StaticToken{Role: role, SHA256: [32]byte(b)})
	}
	return a
}
