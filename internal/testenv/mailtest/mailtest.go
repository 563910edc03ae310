// Package mailtest runs a real SMTP server, Mailpit, on loopback for
// tests, and reads what arrived through its HTTP API. It can be stopped
// and started again (an SMTP outage). The binary comes from
// scripts/install-deps.sh; a missing one fails the tests.
package mailtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/testenv/testtool"
)

// Server is one Mailpit.
type Server struct {
	SMTPHost string
	SMTPPort int
	api      string
	smtpAddr string
	proc     testtool.Process
}

// Start runs a Mailpit that accepts any login without TLS.
func Start() (*Server, error) {
	smtpAddr, smtpPort, err := testtool.FreeAddr()
	if err != nil {
		return nil, err
	}
	apiAddr, _, err := testtool.FreeAddr()
	if err != nil {
		return nil, err
	}
	s := &Server{SMTPHost: "127.0.0.1", SMTPPort: smtpPort, smtpAddr: smtpAddr, api: "http://" + apiAddr}
	return s, s.Restart()
}

// Restart starts it again on the same addresses (after Stop).
func (s *Server) Restart() error {
	bin, err := testtool.Find("mailpit")
	if err != nil {
		return err
	}
	addr := strings.TrimPrefix(s.api, "http://")
	cmd := exec.Command(bin, "--smtp", s.smtpAddr, "--listen", addr, "--smtp-auth-accept-any", "--smtp-auth-allow-insecure",
		"--disable-version-check", "--quiet")
	return s.proc.Start(cmd, s.api+"/readyz", 20*time.Second)
}

// Stop stops it (what it received is kept in memory only: gone).
func (s *Server) Stop() { s.proc.Stop() }

// Mail is a message as it arrived.
type Mail struct {
	ID      string
	Subject string
	To      []string
	Text    string
	HTML    string
}

// Messages returns what arrived, newest first, with their bodies.
func (s *Server) Messages() ([]Mail, error) {
	var list struct {
		Messages []struct {
			ID      string
			Subject string
			To      []struct{ Address string }
		}
	}
	if err := s.get("/api/v1/messages", &list); err != nil {
		return nil, err
	}
	var out []Mail
	for _, m := range list.Messages {
		var full struct{ Text, HTML string }
		if err := s.get("/api/v1/message/"+m.ID, &full); err != nil {
			return nil, err
		}
		mail := Mail{ID: m.ID, Subject: m.Subject, Text: full.Text, HTML: full.HTML}
		for _, to := range m.To {
			mail.To = append(mail.To, to.Address)
		}
		out = append(out, mail)
	}
	return out, nil
}

func (s *Server) get(path string, v any) error {
	res, err := http.Get(s.api + path)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("mailpit %s: %s", path, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}
