package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mosaique/rgz-backup/internal/config"
)

func pemFile(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	return path
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	secret := []byte("platform-secret-0123456789abcdef")
	token, entry, err := NewToken("noc")
	if err != nil {
		t.Fatal(err)
	}
	role, digest, _ := strings.Cut(entry, ":")
	var sum [32]byte
	b, _ := hex.DecodeString(digest)
	copy(sum[:], b)

	hs := config.API{JWTSecret: string(secret), Tokens: []config.StaticToken{{Name: "grafana", Role: role, SHA256: sum}}}
	rs := config.API{JWTPublicKeyFile: pemFile(t, &rsaKey.PublicKey)}
	es := config.API{JWTPublicKeyFile: pemFile(t, &ecKey.PublicKey), RoleClaim: "rgz_role"}
	ours := hs
	ours.JWTIssuer, ours.JWTAudience = "https://auth.mosaique.example", "rgz-backup"
	exp := time.Now().Add(time.Hour).Unix()
	past := time.Now().Add(-time.Hour).Unix()

	tests := []struct {
		name     string
		cfg      config.API
		header   string
		wantRole string // "" = refused
	}{
		{"HS256 admin", hs, "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"role": "admin", "exp": exp, "sub": "alice"}), "admin"},
		{"HS256 noc", hs, "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "someone", "role": "noc", "exp": exp}), "noc"},
		{"another role passes authentication", hs, "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "someone", "role": "reseller", "exp": exp}), "reseller"},
		{"bad signature", hs, "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("wrong"), jwt.MapClaims{"sub": "someone", "role": "admin", "exp": exp}), ""},
		{"expired", hs, "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "someone", "role": "admin", "exp": past}), ""},
		{"exp required", hs, "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "someone", "role": "admin"}), ""},
		{"no role", hs, "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "someone", "exp": exp}), ""},
		{"alg none", hs, "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "someone", "role": "admin", "exp": exp}), ""},
		{"RS256", rs, "Bearer " + sign(t, jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"sub": "someone", "role": "admin", "exp": exp}), "admin"},
		{"RS256 other key", rs, "Bearer " + sign(t, jwt.SigningMethodRS256, otherRSA, jwt.MapClaims{"sub": "someone", "role": "admin", "exp": exp}), ""},
		{"HS256 without a secret", rs, "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "someone", "role": "admin", "exp": exp}), ""},
		{"ES256 with its own role claim", es, "Bearer " + sign(t, jwt.SigningMethodES256, ecKey, jwt.MapClaims{"sub": "someone", "rgz_role": "noc", "exp": exp}), "noc"},
		{"static token", hs, "Bearer " + token, "noc"},
		// Without sub, a JWT is named by its issuer and id, or refused:
		// never audited as nobody.
		{"no sub, named by iss and jti", hs, "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"role": "noc", "exp": exp, "iss": "platform", "jti": "42"}), "noc"},
		{"no sub, no jti", hs, "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"role": "noc", "exp": exp, "iss": "platform"}), ""},
		{"an empty sub", hs, "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"role": "noc", "exp": exp, "sub": " "}), ""},
		{"unknown static token", hs, "Bearer rgzb_not-a-token", ""},
		{"no header", hs, "", ""},
		{"not bearer", hs, "Basic YWRtaW46YWRtaW4=", ""},
		{"empty bearer", hs, "Bearer ", ""},
		{"malformed JWT", hs, "Bearer a.b.c", ""},
		// With BACKUP_API_JWT_ISSUER and BACKUP_API_JWT_AUDIENCE: only
		// tokens minted for this service by that issuer.
		{"our issuer and audience", ours, "Bearer " + sign(t, jwt.SigningMethodHS256, secret,
			jwt.MapClaims{"sub": "someone", "role": "admin", "exp": exp, "iss": "https://auth.mosaique.example", "aud": []string{"billing", "rgz-backup"}}), "admin"},
		{"a token for another audience", ours, "Bearer " + sign(t, jwt.SigningMethodHS256, secret,
			jwt.MapClaims{"sub": "someone", "role": "admin", "exp": exp, "iss": "https://auth.mosaique.example", "aud": "billing"}), ""},
		{"a token without an audience", ours, "Bearer " + sign(t, jwt.SigningMethodHS256, secret,
			jwt.MapClaims{"sub": "someone", "role": "admin", "exp": exp, "iss": "https://auth.mosaique.example"}), ""},
		{"another issuer", ours, "Bearer " + sign(t, jwt.SigningMethodHS256, secret,
			jwt.MapClaims{"sub": "someone", "role": "admin", "exp": exp, "iss": "https://evil.example", "aud": "rgz-backup"}), ""},
		{"without the settings, any audience (as before)", hs, "Bearer " + sign(t, jwt.SigningMethodHS256, secret,
			jwt.MapClaims{"sub": "someone", "role": "noc", "exp": exp, "aud": "billing"}), "noc"},
		{"static tokens are not JWTs: no audience", ours, "Bearer " + token, "noc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			caller, err := a.Authenticate(r)
			if tt.wantRole == "" {
				if !errors.Is(err, errUnauthenticated) {
					t.Fatalf("accepted as %+v (%v)", caller, err)
				}
				if token != "" && strings.Contains(err.Error(), token) {
					t.Fatal("the error quotes the token")
				}
				return
			}
			if err != nil || caller.Role != tt.wantRole {
				t.Fatalf("caller %+v, err %v", caller, err)
			}
			// Who the audit names, and until when the credential holds.
			switch {
			case tt.name == "static token":
				if caller.Subject != "token:grafana" || caller.Token != sum || !caller.Expires.IsZero() {
					t.Fatalf("static token: %+v", caller)
				}
				if !a.Listed(sum, "noc") || a.Listed(sum, "admin") || a.Listed([32]byte{1}, "noc") {
					t.Fatal("Listed does not say which token is accepted with which role")
				}
			case tt.name == "no sub, named by iss and jti":
				if caller.Subject != "jwt:platform#42" {
					t.Fatalf("subject %q", caller.Subject)
				}
			case strings.HasPrefix(tt.header, "Bearer ey"):
				if caller.Subject != "jwt:someone" && caller.Subject != "jwt:alice" || caller.Expires.Unix() != exp || caller.Token != [32]byte{} {
					t.Fatalf("JWT caller %+v", caller)
				}
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		role, method string
		want         bool
	}{
		{"admin", "GET", true}, {"noc", "GET", true}, {"admin", "POST", true},
		{"noc", "POST", false}, {"reseller", "GET", false}, {"reseller", "POST", false}, {"", "GET", false},
	} {
		if got := Allowed(tt.role, tt.method); got != tt.want {
			t.Errorf("Allowed(%q, %s) = %v", tt.role, tt.method, got)
		}
	}
}

func TestBadPublicKeyFileIsAConfigError(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "junk.pem")
	os.WriteFile(path, []byte("not a key"), 0o600)
	for _, p := range []string{path, "/nonexistent/key.pem"} {
		_, err := New(config.API{JWTPublicKeyFile: p})
		var cfgErr *config.Error
		if !errors.As(err, &cfgErr) || cfgErr.Var != "BACKUP_API_JWT_PUBLIC_KEY_FILE" {
			t.Errorf("%s: %v", p, err)
		}
	}
}
