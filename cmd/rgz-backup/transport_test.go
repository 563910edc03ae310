package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/console"
	"github.com/mosaique/rgz-backup/internal/front"
)

// selfSigned writes a certificate for 127.0.0.1 with serial serial and
// its key into dir; it returns their paths and the certificate.
func selfSigned(t *testing.T, dir string, serial int64) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "rgz-backup test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	// Written beside, then renamed: what an operator's renewal does.
	for path, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path+".new", pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile, cert
}

// tlsClient trusts the certificates given, and keeps its connections.
func tlsClient(certs ...*x509.Certificate) *http.Client {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// served is the serial of the certificate the answer came with.
func served(t *testing.T, c *http.Client, u string) int64 {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	if res.StatusCode != 200 || res.TLS == nil {
		t.Fatalf("GET %s: %d", u, res.StatusCode)
	}
	if res.Header.Get("Strict-Transport-Security") != front.HSTS {
		t.Fatalf("GET %s over TLS without HSTS: %v", u, res.Header)
	}
	return res.TLS.PeerCertificates[0].SerialNumber.Int64()
}

// serve speaks HTTPS from a certificate and key file: TLS 1.2 or later,
// HSTS, a Secure session cookie; on SIGHUP new connections get the new
// certificate while open ones go on, and a pair that does not load leaves
// the one in use. A bad pair at start is one clear error (exit 2).
func TestServeHTTPS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, first := selfSigned(t, dir, 1)
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	token, entry, err := auth.NewToken("admin")
	if err != nil {
		t.Fatal(err)
	}
	env["BACKUP_API_TOKENS"] = entry

	// Half a pair, or a key of another certificate: refused, named.
	half := map[string]string{"BACKUP_HTTP_TLS_CERT_FILE": certFile}
	other := t.TempDir()
	_, otherKey, _ := selfSigned(t, other, 9)
	for name, set := range map[string]map[string]string{
		"BACKUP_HTTP_TLS_KEY_FILE":  half,
		"BACKUP_HTTP_TLS_CERT_FILE": {"BACKUP_HTTP_TLS_CERT_FILE": certFile, "BACKUP_HTTP_TLS_KEY_FILE": otherKey},
	} {
		bad := serveEnv(t)
		for k, v := range set {
			bad[k] = v
		}
		r := rgz(t, bad, "config")
		if r.code != 2 || !strings.Contains(r.stderr, name) || strings.Contains(r.stderr, "PRIVATE KEY") || strings.Contains(r.stderr, "goroutine") {
			t.Fatalf("%v: %+v", set, r)
		}
	}

	env["BACKUP_HTTP_TLS_CERT_FILE"], env["BACKUP_HTTP_TLS_KEY_FILE"] = certFile, keyFile
	d := startServe(t, env)
	base := "https://" + d.addr
	kept := tlsClient(first)
	if got := served(t, kept, base+"/healthz"); got != 1 {
		t.Fatalf("served certificate %d", got)
	}
	if strings.Contains(d.logs.String(), "served in clear") {
		t.Fatalf("serve over TLS warns of clear text:\n%s", d.logs.String())
	}
	// The image's health check: HTTPS to the loopback, the daemon's own
	// certificate not checked; 1 where nothing answers.
	probeEnv := maps.Clone(env)
	probeEnv["BACKUP_HTTP_ADDR"] = d.addr
	if r := rgz(t, probeEnv, "healthcheck", "--ready"); r.code != 0 || !strings.Contains(r.stdout, "https://"+d.addr+"/readyz ok") {
		t.Fatalf("healthcheck --ready: %+v", r)
	}
	probeEnv["BACKUP_HTTP_ADDR"] = freeAddr(t)
	if r := rgz(t, probeEnv, "healthcheck"); r.code != 1 || !strings.Contains(r.stderr, "/healthz: dial tcp") {
		t.Fatalf("healthcheck of nothing: %+v", r)
	}
	// Older than TLS 1.2: refused at the handshake.
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}}}
	if res, err := old.Get(base + "/healthz"); err == nil {
		res.Body.Close()
		t.Fatal("a TLS 1.1 client was served")
	}
	// Plain HTTP to the TLS port: no answer that a browser would take.
	if res, err := http.Get("http://" + d.addr + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Fatal("plain HTTP was served on the TLS port")
		}
	}
	// The console's session cookie is Secure.
	res, err := console.LogIn(context.Background(), kept, base, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if cookie := sessionCookie(res); cookie == nil || !cookie.Secure || !cookie.HttpOnly {
		t.Fatalf("login over TLS: %d, cookie %+v", res.StatusCode, cookie)
	}

	// A renewed certificate, then SIGHUP: the open connection goes on,
	// a new one gets the new certificate.
	_, _, second := selfSigned(t, dir, 2)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the certificate reloaded", func() bool {
		return strings.Contains(d.logs.String(), "TLS certificate reloaded")
	})
	if got := served(t, kept, base+"/healthz"); got != 1 {
		t.Fatalf("the open connection was dropped: served certificate %d", got)
	}
	if got := served(t, tlsClient(second), base+"/healthz"); got != 2 {
		t.Fatalf("a new connection after SIGHUP: certificate %d", got)
	}
	// A broken file, then SIGHUP: said, and the certificate in use stays.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the refused reload said", func() bool {
		return strings.Contains(d.logs.String(), "TLS certificate was not reloaded")
	})
	if got := served(t, tlsClient(second), base+"/healthz"); got != 2 {
		t.Fatalf("after a refused reload: certificate %d", got)
	}
	if strings.Contains(d.logs.String(), "PRIVATE KEY") {
		t.Fatal("the logs hold the key")
	}
	d.stop(syscall.SIGTERM, 30*time.Second)
}

func sessionCookie(res *http.Response) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == console.CookieName && c.Value != "" {
			return c
		}
	}
	return nil
}

// Behind a TLS-terminating proxy: from a trusted peer, X-Forwarded-Proto
// makes the cookie Secure and the audit records the client X-Forwarded-For
// names; from any other peer both are ignored. Without TLS or a trusted
// proxy, serve says once that sessions and tokens travel in clear.
func TestServeBehindATrustedProxy(t *testing.T) {
	t.Parallel()
	login := func(addr, token string) *http.Response {
		t.Helper()
		proxied := http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-For": {"6.6.6.6, 198.51.100.7"}}
		res, err := console.LogIn(context.Background(), &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
			"http://"+addr, token, proxied)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	lastClient := func(env map[string]string, subject string) string {
		t.Helper()
		rows, err := openStore(t, env).AuditPage(context.Background(), catalog.Audit{}, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Subject == subject && r.Path == console.Prefix+"/login" {
				return r.Client
			}
		}
		t.Fatalf("no login of %s in the audit: %+v", subject, rows)
		return ""
	}
	for _, trusted := range []bool{true, false} {
		env := serveEnv(t)
		env["POSTGRES_BACKUP_ENABLED"] = "false"
		token, entry, err := auth.NewNamedToken("desk", "noc")
		if err != nil {
			t.Fatal(err)
		}
		env["BACKUP_API_TOKENS"] = entry
		if trusted {
			env["BACKUP_HTTP_TRUSTED_PROXIES"] = "10.0.0.0/8, 127.0.0.1"
		}
		d := startServe(t, env)
		res := login(d.addr, token)
		cookie := sessionCookie(res)
		if cookie == nil || cookie.Secure != trusted {
			t.Fatalf("trusted %v: login %d, cookie %+v", trusted, res.StatusCode, cookie)
		}
		if hsts := res.Header.Get("Strict-Transport-Security") != ""; hsts != trusted {
			t.Fatalf("trusted %v: HSTS %v", trusted, hsts)
		}
		want := map[bool]string{true: "198.51.100.7", false: "127.0.0.1"}[trusted]
		if got := lastClient(env, "token:desk"); got != want {
			t.Fatalf("trusted %v: the audit's client is %q, want %s", trusted, got, want)
		}
		warned := strings.Count(d.logs.String(), "served in clear")
		if warned != map[bool]int{true: 0, false: 1}[trusted] {
			t.Fatalf("trusted %v: the clear-text warning said %d times:\n%s", trusted, warned, d.logs.String())
		}
		d.stop(syscall.SIGTERM, 30*time.Second)
	}
}

// /metrics kept from whoever reaches the port: behind a bearer token
// (BACKUP_METRICS_TOKEN), and on an address of its own
// (BACKUP_METRICS_ADDR), where the API's port no longer serves it.
func TestMetricsGuarded(t *testing.T) {
	t.Parallel()
	get := func(addr, token string) (int, string) {
		t.Helper()
		var body []byte
		res, _ := apiCaller(t, addr, token)("GET", "/metrics", "", &body)
		return res.StatusCode, string(body)
	}
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	env["BACKUP_METRICS_TOKEN"] = "scrape-me-0123456789"
	env["BACKUP_METRICS_ADDR"] = freeAddr(t)
	d := startServe(t, env)
	if code, _ := get(d.addr, env["BACKUP_METRICS_TOKEN"]); code != http.StatusNotFound {
		t.Fatalf("/metrics on the API's port: %d", code)
	}
	metricsAddr := env["BACKUP_METRICS_ADDR"]
	for _, token := range []string{"", "wrong", "scrape-me"} {
		if code, body := get(metricsAddr, token); code != http.StatusUnauthorized || strings.Contains(body, "rgz_backup_") {
			t.Fatalf("/metrics with token %q: %d", token, code)
		}
	}
	if code, body := get(metricsAddr, env["BACKUP_METRICS_TOKEN"]); code != 200 || !strings.Contains(body, "rgz_backup_") {
		t.Fatalf("/metrics with its token: %d", code)
	}
	if strings.Contains(d.logs.String(), env["BACKUP_METRICS_TOKEN"]) {
		t.Fatal("the logs hold the metrics token")
	}
	if r := rgz(t, env, "config"); strings.Contains(r.stdout+r.stderr, env["BACKUP_METRICS_TOKEN"]) {
		t.Fatal("config prints the metrics token")
	}
	d.stop(syscall.SIGTERM, 30*time.Second)
}

// Against the daemon behind a trusted proxy: a login form that did not
// come from the console is refused; failed logins lock out the address
// that made them — the attacker's — and not an admin at another address.
func TestFailedLoginsLockOutTheirAddressOnly(t *testing.T) {
	t.Parallel()
	env := serveEnv(t)
	env["POSTGRES_BACKUP_ENABLED"] = "false"
	env["BACKUP_HTTP_TRUSTED_PROXIES"] = "127.0.0.1"
	token, entry, _ := auth.NewNamedToken("ops", "admin")
	env["BACKUP_API_TOKENS"] = entry
	d := startServe(t, env)
	base := "http://" + d.addr
	noRedirect := func() *http.Client {
		return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	from := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }

	// Another site's form: no login token, no session.
	res, err := noRedirect().PostForm(base+console.Prefix+"/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || sessionCookie(res) != nil {
		t.Fatalf("a login form from elsewhere: %d", res.StatusCode)
	}

	for i := range console.LoginFailures {
		res, err := console.LogIn(context.Background(), noRedirect(), base, "rgzb_guess", from("198.51.100.66"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i+1, res.StatusCode)
		}
	}
	res, err = console.LogIn(context.Background(), noRedirect(), base, token, from("198.51.100.66"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("the guessing address after %d failures: %d", console.LoginFailures, res.StatusCode)
	}
	res, err = console.LogIn(context.Background(), noRedirect(), base, token, from("198.51.100.7"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || sessionCookie(res) == nil {
		t.Fatalf("the admin at another address: %d", res.StatusCode)
	}
	d.stop(syscall.SIGTERM, 30*time.Second)
}
