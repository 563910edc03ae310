// Package auth says who a caller of the HTTP API and the console is, and
// what their role allows: the platform's JWTs and static tokens today
// (BACKUP_API_*), one place for any further way in.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mosaique/rgz-backup/internal/config"
)

// Caller is who made a request, as its token says.
type Caller struct {
	// Subject is "jwt:" and the JWT's sub (or, without one, its iss and
	// jti: "jwt:ISS#JTI"), or "token:" and a static token's name.
	Subject string
	Role    string
	// Expires is when the credential stops being valid (a JWT's exp);
	// zero for a static token, valid until it leaves the list.
	Expires time.Time
	// Token is the SHA-256 of the static token used; zero for a JWT.
	Token [32]byte
}

// Authenticator checks `Authorization: Bearer` tokens: the platform's JWTs
// (HS256 with a shared secret, or RS256/ES256 with a public key) and
// static tokens stored as their SHA-256.
type Authenticator struct {
	secret    []byte
	publicKey any
	roleClaim string
	tokens    atomic.Pointer[[]config.StaticToken] // replaced whole by SetTokens
	checks    []jwt.ParserOption                   // iss and aud, when configured
}

// SetTokens replaces the static tokens (BACKUP_API_TOKENS_FILE read
// again): requests after it see the new list.
func (a *Authenticator) SetTokens(tokens []config.StaticToken) { a.tokens.Store(&tokens) }

// Listed says whether the static token of digest sum is accepted now
// with role.
func (a *Authenticator) Listed(sum [32]byte, role string) bool {
	for _, t := range a.Tokens() {
		if t.SHA256 == sum && t.Role == role {
			return true
		}
	}
	return false
}

// Tokens are the static tokens accepted now.
func (a *Authenticator) Tokens() []config.StaticToken { return *a.tokens.Load() }

// New reads the API settings (and the public key file).
func New(cfg config.API) (*Authenticator, error) {
	a := &Authenticator{secret: []byte(cfg.JWTSecret), roleClaim: cfg.RoleClaim}
	a.SetTokens(cfg.Tokens)
	if a.roleClaim == "" {
		a.roleClaim = "role"
	}
	if cfg.JWTIssuer != "" {
		a.checks = append(a.checks, jwt.WithIssuer(cfg.JWTIssuer))
	}
	if cfg.JWTAudience != "" {
		a.checks = append(a.checks, jwt.WithAudience(cfg.JWTAudience))
	}
	if cfg.JWTPublicKeyFile != "" {
		pem, err := os.ReadFile(cfg.JWTPublicKeyFile)
		if err != nil {
			return nil, &config.Error{Var: "BACKUP_API_JWT_PUBLIC_KEY_FILE", Value: cfg.JWTPublicKeyFile, Allowed: "must be a readable PEM file: " + err.Error()}
		}
		if key, err := jwt.ParseRSAPublicKeyFromPEM(pem); err == nil {
			a.publicKey = key
		} else if key, err := jwt.ParseECPublicKeyFromPEM(pem); err == nil {
			a.publicKey = key
		} else {
			return nil, &config.Error{Var: "BACKUP_API_JWT_PUBLIC_KEY_FILE", Value: cfg.JWTPublicKeyFile, Allowed: "must hold an RSA or EC public key in PEM"}
		}
	}
	return a, nil
}

// errUnauthenticated is every reason a token is refused; the reason is
// for the log, the caller gets 401 alone.
var errUnauthenticated = errors.New("unauthenticated")

// Authenticate returns the caller of a request, or an error wrapping
// errUnauthenticated that says why (never quoting the token).
func (a *Authenticator) Authenticate(r *http.Request) (Caller, error) {
	header := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(header, " ")
	if header == "" {
		return Caller{}, fmt.Errorf("%w: no Authorization header", errUnauthenticated)
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return Caller{}, fmt.Errorf("%w: Authorization is not \"Bearer <token>\"", errUnauthenticated)
	}
	token = strings.TrimSpace(token)
	if strings.Count(token, ".") == 2 {
		return a.jwt(token)
	}
	return a.static(token)
}

func (a *Authenticator) jwt(token string) (Caller, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		switch t.Method.(type) {
		case *jwt.SigningMethodHMAC:
			if len(a.secret) == 0 {
				return nil, errors.New("HS256 tokens are not accepted: BACKUP_API_JWT_SECRET is not set")
			}
			return a.secret, nil
		case *jwt.SigningMethodRSA, *jwt.SigningMethodECDSA:
			if a.publicKey == nil {
				return nil, errors.New("RS256/ES256 tokens are not accepted: BACKUP_API_JWT_PUBLIC_KEY_FILE is not set")
			}
			return a.publicKey, nil
		}
		return nil, fmt.Errorf("algorithm %v is not accepted", t.Header["alg"])
	}, append([]jwt.ParserOption{jwt.WithValidMethods([]string{"HS256", "RS256", "ES256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(30e9)},
		a.checks...)...)
	if err != nil {
		return Caller{}, fmt.Errorf("%w: JWT refused: %v", errUnauthenticated, err)
	}
	role, _ := claims[a.roleClaim].(string)
	if role == "" {
		return Caller{}, fmt.Errorf("%w: JWT has no %q claim", errUnauthenticated, a.roleClaim)
	}
	subject, err := jwtSubject(claims)
	if err != nil {
		return Caller{}, fmt.Errorf("%w: %v", errUnauthenticated, err)
	}
	caller := Caller{Subject: subject, Role: role}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		caller.Expires = exp.Time
	}
	return caller, nil
}

// jwtSubject is who the audit says a JWT's caller is: its sub, or,
// without one, its issuer and id; a token with neither is nobody the
// audit could name, and is refused.
func jwtSubject(claims jwt.MapClaims) (string, error) {
	if sub, _ := claims["sub"].(string); strings.TrimSpace(sub) != "" {
		return "jwt:" + sub, nil
	}
	iss, _ := claims["iss"].(string)
	jti, _ := claims["jti"].(string)
	if strings.TrimSpace(iss) == "" || strings.TrimSpace(jti) == "" {
		return "", errors.New(`JWT has no "sub" claim (nor "iss" and "jti" to name it by)`)
	}
	return "jwt:" + iss + "#" + jti, nil
}

// static compares the token's SHA-256 with every configured digest, in
// constant time and without stopping early, so timing says nothing.
func (a *Authenticator) static(token string) (Caller, error) {
	sum := sha256.Sum256([]byte(token))
	found := -1
	tokens := a.Tokens()
	for i, t := range tokens {
		if subtle.ConstantTimeCompare(sum[:], t.SHA256[:]) == 1 && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return Caller{}, fmt.Errorf("%w: unknown token", errUnauthenticated)
	}
	t := tokens[found]
	return Caller{Subject: "token:" + t.Name, Role: t.Role, Token: t.SHA256}, nil
}

// Roles of the specification: admin may do everything, noc may read.
const (
	RoleAdmin = "admin"
	RoleNOC   = "noc"
)

// Allowed says whether role may use method: GET for admin and noc, POST
// for admin; any other role (the platform has more) for nothing.
func Allowed(role, method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead:
		return role == RoleAdmin || role == RoleNOC
	default:
		return role == RoleAdmin
	}
}

// NewToken makes a random static token and the BACKUP_API_TOKENS entry
// that admits it for role, under the name the digest gives it.
func NewToken(role string) (token, entry string, err error) {
	return NewNamedToken("", role)
}

// NewNamedToken is NewToken with the entry's name: NAME:ROLE:SHA256HEX
// (without a name, ROLE:SHA256HEX).
func NewNamedToken(name, role string) (token, entry string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = "rgzb_" + base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(token))
	entry = role + ":" + hex.EncodeToString(sum[:])
	if name != "" {
		entry = name + ":" + entry
	}
	return token, entry, nil
}
