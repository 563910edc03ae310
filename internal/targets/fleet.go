package targets

import (
	"sync/atomic"

	"github.com/mosaique/rgz-backup/internal/config"
)

// Fleet is the servers the daemon backs up now. Reload reads the targets
// file again (serve does on SIGHUP): jobs already queued or running keep
// the configuration they started with; the next run sees the new list. A
// file that no longer reads keeps the servers as they were.
type Fleet struct {
	cfg     config.Config
	getenv  func(string) string
	current atomic.Pointer[[]Server]
}

// NewFleet reads cfg's servers (Servers).
func NewFleet(cfg config.Config, getenv func(string) string) (*Fleet, error) {
	f := &Fleet{cfg: cfg, getenv: getenv}
	if _, err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Servers are the servers now.
func (f *Fleet) Servers() []Server { return *f.current.Load() }

// Server is the server named target now.
func (f *Fleet) Server(target string) (Server, bool) {
	for _, s := range f.Servers() {
		if s.Target == target {
			return s, true
		}
	}
	return Server{}, false
}

// Set puts servers back (a reload whose schedules were refused).
func (f *Fleet) Set(servers []Server) { f.current.Store(&servers) }

// Reload reads the servers again and returns them; on error the servers
// stay as they were.
func (f *Fleet) Reload() ([]Server, error) {
	servers, err := Servers(f.cfg, f.getenv)
	if err != nil {
		return nil, err
	}
	f.current.Store(&servers)
	return servers, nil
}
