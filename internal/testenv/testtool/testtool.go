// Package testtool finds the programs the install script gives the tests
// (MinIO, Mailpit, age: `go install`ed into GOPATH/bin; sshd from Debian),
// free loopback addresses to run them on, and runs them.
package testtool

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Find looks for name in PATH, then in GOPATH/bin.
func Find(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found (run scripts/install-deps.sh)", name)
}

// FreeAddr is a loopback address nobody listens on now, and one this
// process was never given before: a server a test stops (an outage) keeps
// its port to come back on, and the kernel, asked for a free port, readily
// hands out the one just released — a daemon once got the stopped Mailpit's
// port and sent its mails to itself.
func FreeAddr() (string, int, error) {
	handedOut.mu.Lock()
	defer handedOut.mu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", 0, err
		}
		addr, port := l.Addr().String(), l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return addr, port, nil
		}
	}
	return "", 0, errors.New("no loopback port left that this process was not given before")
}

var handedOut = struct {
	mu    sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// Process is a server program a test starts, stops and starts again.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the program has exited
}

// ErrExited is StartUntil's error when the program ended before it was
// ready: a server that could not bind its port (another process took it
// between FreeAddr and the server's bind) exits at once, and waiting for
// it would only find whoever holds the port now.
var ErrExited = errors.New("exited before it was ready")

// Start runs cmd in its own process group (killed with the test process)
// and waits until readyURL answers 200.
func (p *Process) Start(cmd *exec.Cmd, readyURL string, within time.Duration) error {
	return p.StartUntil(cmd, func() bool {
		res, err := http.Get(readyURL)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, within)
}

// StartUntil is Start with another readiness check.
func (p *Process) StartUntil(cmd *exec.Cmd, ready func() bool, within time.Duration) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", filepath.Base(cmd.Path), err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(p.done)
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-p.done:
			p.cmd = nil
			return fmt.Errorf("%s %w (%s)", filepath.Base(cmd.Path), ErrExited, cmd.ProcessState)
		default:
		}
		if ready() {
			return nil
		}
	}
	p.Stop()
	return fmt.Errorf("%s did not become ready within %s", filepath.Base(cmd.Path), within)
}

// Listening says whether something accepts TCP connections at addr.
func Listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Pid is the running program's process id; 0 when stopped.
func (p *Process) Pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// KillDescendants SIGKILLs every process below pid, however they left its
// process group (a daemon's per-connection children).
func KillDescendants(pid int) {
	children := map[int][]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndex(s, ")")+1:])
		var child, parent int
		fmt.Sscan(filepath.Base(filepath.Dir(p)), &child)
		if len(fields) > 1 {
			fmt.Sscan(fields[1], &parent)
		}
		children[parent] = append(children[parent], child)
	}
	var kill func(int)
	kill = func(p int) {
		for _, c := range children[p] {
			kill(c)
			_ = syscall.Kill(c, syscall.SIGKILL)
		}
	}
	kill(pid)
}

// Stop kills the program and its children at once: an outage, not a
// shutdown.
func (p *Process) Stop() {
	if p.cmd == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

// ForTest is a server started for one test: it fails t on err, and
// stops s when t ends.
func ForTest[S interface{ Stop() }](t testing.TB, s S, err error) S {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// WriteExecutable writes a program (a script, a copied binary) for a test
// to run. A file still open for writing cannot be executed (ETXTBSY, "text
// file busy"), and a child forked by a parallel test at that moment keeps
// the write descriptor open until it execs; holding syscall.ForkLock while
// the file is open keeps every fork of this process out of that window.
func WriteExecutable(path string, data []byte) error {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	return os.WriteFile(path, data, 0o755)
}
