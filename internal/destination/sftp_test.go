package destination_test

import (
	"context"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/destination/destinationtest"
	"github.com/mosaique/rgz-backup/internal/testenv/sshtest"
)

func sftpStore(t *testing.T, srv *sshtest.Server, root string) *destination.SFTP {
	s := destination.NewSFTP(destination.SFTPConfig{User: srv.User, Addr: srv.Addr, Root: root,
		SFTPSettings: destination.SFTPSettings{KeyFile: srv.KeyFile, KnownHosts: srv.KnownHosts}})
	t.Cleanup(func() { s.Close() })
	return s
}

// An SFTP server (Debian's OpenSSH on loopback) passes the suite.
func TestSFTPConforms(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	var seq atomic.Int64 // the subtests make their stores at once
	var roots sync.Map   // store → its directory (the server's, on this host)
	destinationtest.Run(t, destinationtest.Harness{
		New: func(t *testing.T) destination.Store {
			root := path.Join(srv.Root, "site-b", strings.Repeat("x", int(seq.Add(1))))
			s := sftpStore(t, srv, root)
			roots.Store(s, root)
			return s
		},
		Reopen: func(t *testing.T, st destination.Store) destination.Store {
			root, _ := roots.Load(st)
			return sftpStore(t, srv, root.(string))
		},
		Leftover: func(t *testing.T, st destination.Store, name string) {
			root, _ := roots.Load(st)
			leftoverFile(t, root.(string), name)
		},
		Left: func(t *testing.T, st destination.Store, name string) bool {
			root, _ := roots.Load(st)
			return leftoverThere(t, root.(string), name)
		},
	})
}

// A host key that known_hosts does not hold is refused: no trust on first
// use. After the server goes and comes back, the store connects again.
func TestSFTPHostKeyAndReconnect(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t)
	other := sshtest.Start(t) // its own host key
	ctx := context.Background()
	wrong := destination.NewSFTP(destination.SFTPConfig{User: srv.User, Addr: srv.Addr, Root: srv.Root,
		SFTPSettings: destination.SFTPSettings{KeyFile: srv.KeyFile, KnownHosts: other.KnownHosts}})
	if _, err := wrong.List(ctx); err == nil || !strings.Contains(err.Error(), "no trust on first use") {
		t.Fatalf("an unknown host key: %v", err)
	}
	s := sftpStore(t, srv, srv.Root)
	if _, err := s.List(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if _, err := s.List(ctx); err == nil {
		t.Fatal("listing a stopped server succeeded")
	}
	srv.Restart(t)
	if _, err := s.List(ctx); err != nil {
		t.Fatalf("after the server came back: %v", err)
	}
	if _, err := os.Stat(srv.Root); err != nil {
		t.Fatal(err)
	}
}
