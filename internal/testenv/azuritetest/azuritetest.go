// Package azuritetest runs Azurite, the Azure Storage emulator (its blob
// service, installed from npm by the install script), on a free loopback
// port for one test. A missing Azurite fails the test, never skips it.
package azuritetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/testenv/testtool"
)

// Azurite's well-known development account.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Server is one running Azurite blob service.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT/devstoreaccount1
	addr     string
	dir      string
	proc     testtool.Process
}

// Start runs a server for the test; it stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Launch(t.TempDir())
	return testtool.ForTest(t, s, err)
}

// Launch runs a server keeping its data and log in dir (the benchmarks'
// way; tests use Start). The caller stops it.
func Launch(dir string) (*Server, error) {
	addr, port, err := testtool.FreeAddr()
	if err != nil {
		return nil, err
	}
	s := &Server{Endpoint: "http://" + addr + "/" + Account, addr: addr, dir: dir}
	bin, err := testtool.Find("azurite-blob")
	if err != nil {
		return nil, err
	}
	log, err := os.OpenFile(filepath.Join(s.dir, "azurite.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port), "--location", s.dir,
		"--silent", "--skipApiVersionCheck", "--disableProductStyleUrl")
	cmd.Stdout, cmd.Stderr = log, log
	// Node starts slowly when the other tests load the machine.
	return s, s.proc.StartUntil(cmd, func() bool { return testtool.Listening(s.addr) }, 90*time.Second)
}

// Stop stops the server at once (an outage).
func (s *Server) Stop() {
	if pid := s.proc.Pid(); pid > 0 {
		testtool.KillDescendants(pid)
	}
	s.proc.Stop()
}
