// Package azuritetest runs Azurite, the Azure Storage emulator (its blob
// service, installed from npm by the install script), on a free loopback
// port, shared by the tests of a process that run at the same time. A
// missing Azurite fails the test, never skips it.
package azuritetest

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	dir      string
	proc     testtool.Process
}

// Start gives the test a running server: the one the tests running now
// share, or a new one. It stops when the last test using it ends. Each
// test works in containers of its own names. Node takes a few CPU-seconds
// to start Azurite: one per test was a tenth of the suite's CPU.
func Start(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil {
		dir, err := os.MkdirTemp("", "rgz-azurite-")
		if err != nil {
			t.Fatal(err)
		}
		srv, err := Launch(dir)
		if err != nil {
			os.RemoveAll(dir)
			t.Fatal(err)
		}
		shared.srv = srv
	}
	shared.users++
	t.Cleanup(func() {
		shared.mu.Lock()
		defer shared.mu.Unlock()
		if shared.users--; shared.users == 0 {
			shared.srv.Stop()
			os.RemoveAll(shared.srv.dir)
			shared.srv = nil
		}
	})
	return shared.srv
}

var shared struct {
	mu    sync.Mutex
	srv   *Server
	users int
}

// Launch runs a server keeping its data and log in dir (the benchmarks'
// way; tests use Start). The caller stops it. A server that could not bind
// the port it was given (another test process took it meanwhile) is started
// again on another.
func Launch(dir string) (*Server, error) {
	for attempt := 1; ; attempt++ {
		s, err := launch(dir)
		if !errors.Is(err, testtool.ErrExited) || attempt == 3 {
			return s, err
		}
	}
}

func launch(dir string) (*Server, error) {
	addr, port, err := testtool.FreeAddr()
	if err != nil {
		return nil, err
	}
	s := &Server{Endpoint: "http://" + addr + "/" + Account, dir: dir}
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
	// Node starts slowly when the other tests load the machine. Ready is
	// Azurite answering (its Server header), not just anything listening.
	return s, s.proc.StartUntil(cmd, func() bool { return s.answers() }, 90*time.Second)
}

// answers says whether Azurite itself answers at the server's address.
func (s *Server) answers() bool {
	c := http.Client{Timeout: 2 * time.Second}
	res, err := c.Get(s.Endpoint)
	if err != nil {
		return false
	}
	res.Body.Close()
	return strings.HasPrefix(res.Header.Get("Server"), "Azurite")
}

// Stop stops the server at once.
func (s *Server) Stop() {
	if pid := s.proc.Pid(); pid > 0 {
		testtool.KillDescendants(pid)
	}
	s.proc.Stop()
}
