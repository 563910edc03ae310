// Package sshtest runs a real OpenSSH server (Debian's sshd, from the
// install script) on a free loopback port for one test: its own host key,
// one authorized client key, password logins off, and the SFTP subsystem
// the SFTP destination speaks. A missing sshd fails the test, never skips it.
package sshtest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/testenv/testtool"
)

// Server is one running sshd.
type Server struct {
	Addr       string // 127.0.0.1:PORT
	Port       int
	User       string // who logs in: this process's user
	KeyFile    string // the client's private key, authorized
	KnownHosts string // a known_hosts file holding the server's host key for Addr
	HostKey    string // the server's public host key line
	Root       string // a directory the user may write, for the test's files
	dir        string
	proc       testtool.Process
}

// Start runs a server for the test; it stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Launch(t.TempDir())
	return testtool.ForTest(t, s, err)
}

// Launch runs a server whose keys, configuration and files live in dir
// (the benchmarks' way; tests use Start). The caller stops it.
func Launch(dir string) (*Server, error) {
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		return nil, fmt.Errorf("sshd is missing (run scripts/install-deps.sh): %w", err)
	}
	me, err := user.Current()
	if err != nil {
		return nil, err
	}
	addr, port, err := testtool.FreeAddr()
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: addr, Port: port, User: me.Username, dir: dir,
		KeyFile: filepath.Join(dir, "client_ed25519"), KnownHosts: filepath.Join(dir, "known_hosts"), Root: filepath.Join(dir, "home")}
	for _, k := range []string{filepath.Join(dir, "host_ed25519"), s.KeyFile} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rgz-test", "-f", k).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ssh-keygen: %v %s", err, out)
		}
	}
	pub, err := os.ReadFile(s.KeyFile + ".pub")
	if err != nil {
		return nil, err
	}
	hostPub, err := os.ReadFile(filepath.Join(dir, "host_ed25519.pub"))
	if err != nil {
		return nil, err
	}
	s.HostKey = string(hostPub)
	config := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/host_ed25519
AuthorizedKeysFile %s/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile %s/sshd.pid
Subsystem sftp internal-sftp
LogLevel ERROR
`, port, dir, dir, dir)
	for _, w := range []struct {
		path string
		data []byte
	}{
		{filepath.Join(dir, "authorized_keys"), pub},
		{s.KnownHosts, fmt.Appendf(nil, "[127.0.0.1]:%d %s", port, hostPub)},
		{filepath.Join(dir, "sshd_config"), []byte(config)},
	} {
		if err := os.WriteFile(w.path, w.data, 0o600); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(s.Root, 0o750); err != nil {
		return nil, err
	}
	// sshd wants its privilege-separation directory (the package's
	// service would create it at boot).
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, err
	}
	return s, s.start()
}

// Stop stops the server and every session it serves, at once (an outage):
// sshd's per-connection processes leave its process group.
func (s *Server) Stop() {
	if pid := s.proc.Pid(); pid > 0 {
		testtool.KillDescendants(pid)
	}
	s.proc.Stop()
}

// Restart starts it (again) on the same address, with the same keys. Its
// log is sshd.log in the server's directory.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

func (s *Server) start() error {
	log, err := os.OpenFile(filepath.Join(s.dir, "sshd.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(s.dir, "sshd_config"))
	cmd.Stderr = log
	return s.proc.StartUntil(cmd, func() bool { return testtool.Listening(s.Addr) }, 15*time.Second)
}
