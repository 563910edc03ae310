// Package optest starts a real OpenID provider for the single sign-on
// tests: zitadel/oidc's example server (installed by
// scripts/install-deps.sh as zitadel-oidc-op), on a free loopback port,
// with the users a test gives it. Its clients are "web" and "api" (secret
// "secret", PKCE allowed), its issuer http://localhost:PORT/; its login
// form (/login/username) takes a username and a password.
package optest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/testenv/testtool"
)

// User is an account of the provider.
type User struct {
	ID, Username, Password, Email string
	Unverified                    bool // the provider has not verified the email
}

// Provider is a running provider.
type Provider struct {
	Issuer string // http://localhost:PORT/
	proc   testtool.Process
	cmd    func() *exec.Cmd
	ready  string
}

// ClientID and ClientSecret are the confidential client the example
// registers (with the redirect URIs Start is given).
const (
	ClientID     = "web"
	ClientSecret = "secret"
)

// Start runs the provider for redirectURIs (the relying parties' callback
// URLs, exactly) and users; it is stopped when the test ends.
func Start(t *testing.T, redirectURIs string, users ...User) *Provider {
	t.Helper()
	bin, err := testtool.Find("zitadel-oidc-op")
	if err != nil {
		t.Fatal("zitadel/oidc's example OpenID provider (installed by scripts/install-deps.sh) is needed by the single sign-on tests: ", err)
	}
	_, port, err := testtool.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	accounts := map[string]any{}
	for _, u := range users {
		accounts[u.ID] = map[string]any{"ID": u.ID, "Username": u.Username, "Password": u.Password, "Email": u.Email,
			"EmailVerified": !u.Unverified, "PreferredLanguage": "en", "FirstName": u.Username, "LastName": "Test"}
	}
	b, _ := json.Marshal(accounts)
	usersFile := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(usersFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Provider{Issuer: fmt.Sprintf("http://localhost:%d/", port)}
	p.ready = p.Issuer + ".well-known/openid-configuration"
	p.cmd = func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "REDIRECT_URI="+redirectURIs, "USERS_FILE="+usersFile)
		return cmd
	}
	if err := p.proc.Start(p.cmd(), p.ready, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.proc.Stop)
	return p
}

// Stop stops the provider: an outage.
func (p *Provider) Stop() { p.proc.Stop() }

// Restart starts it again after Stop, on the same port (its signing keys
// are new: the example makes them at start).
func (p *Provider) Restart() error {
	if err := p.proc.Start(p.cmd(), p.ready, 30*time.Second); err != nil {
		return errors.Join(errors.New("restart the OpenID provider"), err)
	}
	return nil
}
