package destination

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SFTPConfig says how to reach an SFTP destination
// (sftp://USER@HOST:PORT/PATH): authentication by a private key file,
// the server's host key checked against a known_hosts file. There is no
// trust on first use: a host key known_hosts does not hold is refused.
type SFTPConfig struct {
	User string
	Addr string // HOST:PORT
	Root string // the directory on the server
	SFTPSettings
}

// SFTPSettings are what every sftp:// destination logs in with.
type SFTPSettings struct {
	KeyFile    string // BACKUP_SFTP_KEY_FILE
	KnownHosts string // BACKUP_SFTP_KNOWN_HOSTS
}

func init() {
	register(KindSFTP, kind{
		form: "sftp://USER@HOST[:PORT]/PATH",
		parse: func(u *url.URL, s *Spec) error {
			trimmed := strings.Trim(u.Path, "/")
			if u.User.Username() == "" || u.Hostname() == "" || trimmed == "" {
				return fmt.Errorf("sftp:// needs a user, a host and a directory (sftp://rgz@backup.example:22/srv/rgz)")
			}
			port := u.Port()
			if port == "" {
				port = "22"
			}
			s.User, s.Addr, s.Path = u.User.Username(), net.JoinHostPort(u.Hostname(), port), "/"+trimmed
			return nil
		},
		url: func(s Spec) string { return "sftp://" + s.User + "@" + s.Addr + s.Path },
		open: func(s Spec, set Settings) (Store, error) {
			return NewSFTP(SFTPConfig{User: s.User, Addr: s.Addr, Root: s.Path, SFTPSettings: set.SFTP}), nil
		},
	})
}

// SFTP is a destination on another site's SSH server. A copy is written
// to a hidden temporary file, synced (fsync@openssh.com), read back
// against the recorded CRC32, then renamed into place atomically
// (posix-rename@openssh.com): a failure never leaves a file under a
// backup's name that is not whole. It has no retention lock; RetainUntil
// is ignored.
type SFTP struct {
	cfg  SFTPConfig
	mu   sync.Mutex
	conn *ssh.Client
	c    *sftp.Client
}

// NewSFTP prepares a destination; it connects on first use.
func NewSFTP(cfg SFTPConfig) *SFTP { return &SFTP{cfg: cfg} }

func (s *SFTP) String() string {
	return "sftp://" + s.cfg.User + "@" + s.cfg.Addr + "/" + strings.TrimPrefix(s.cfg.Root, "/")
}

// Retains is false: an SFTP server has no retention lock.
func (s *SFTP) Retains() bool { return false }

// Close ends the connection.
func (s *SFTP) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropLocked()
}

func (s *SFTP) dropLocked() error {
	var err error
	if s.c != nil {
		err = s.c.Close()
	}
	if s.conn != nil {
		err = errors.Join(err, s.conn.Close())
	}
	s.c, s.conn = nil, nil
	return err
}

// client is the SFTP session, connected (again) when needed.
func (s *SFTP) client(ctx context.Context) (*sftp.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil {
		if _, err := s.c.Getwd(); err == nil {
			return s.c, nil
		}
		s.dropLocked() // the connection was lost: connect again
	}
	key, err := os.ReadFile(s.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: key file: %w", s, err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%s: key file %s: %w", s, s.cfg.KeyFile, err)
	}
	hostKeys, err := knownhosts.New(s.cfg.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("%s: known hosts file: %w", s, err)
	}
	conf := &ssh.ClientConfig{User: s.cfg.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys, Timeout: 15 * time.Second}
	d := net.Dialer{Timeout: 15 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot reach %s: %w", s, s.cfg.Addr, err)
	}
	c, chans, reqs, err := ssh.NewClientConn(raw, s.cfg.Addr, conf)
	if err != nil {
		raw.Close()
		var keyErr *knownhosts.KeyError
		if errors.As(err, &keyErr) {
			return nil, fmt.Errorf("%s: the server's host key is not the one %s holds for %s (refused: no trust on first use)", s, s.cfg.KnownHosts, s.cfg.Addr)
		}
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	s.conn = ssh.NewClient(c, chans, reqs)
	s.c, err = sftp.NewClient(s.conn, sftp.UseConcurrentWrites(true))
	if err != nil {
		s.dropLocked()
		return nil, fmt.Errorf("%s: start SFTP: %w", s, err)
	}
	return s.c, nil
}

func (s *SFTP) remote(name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", fmt.Errorf("%s: %w", s, err)
	}
	return path.Join(s.cfg.Root, name), nil
}

func (s *SFTP) Put(ctx context.Context, name string, src Source, o PutOptions) error {
	final, err := s.remote(name)
	if err != nil {
		return err
	}
	if err := CheckSource(ctx, src, o.Want); err != nil {
		return fmt.Errorf("copy to %s refused: %w", s, err)
	}
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	dir := path.Dir(final)
	if err := c.MkdirAll(dir); err != nil {
		return fmt.Errorf("%s: create %s: %w", s, dir, err)
	}
	if entries, err := c.ReadDir(dir); err == nil { // what interrupted Puts of the name left
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), tempPrefix(path.Base(final))) && time.Since(e.ModTime()) > StaleAfter {
				c.Remove(path.Join(dir, e.Name()))
			}
		}
	}
	tmp := path.Join(dir, tempPrefix(path.Base(final))+randomSuffix())
	if err := s.write(ctx, c, tmp, src, o.Want); err != nil {
		c.Remove(tmp)
		return fmt.Errorf("copy %s to %s: %w", name, s, err)
	}
	if err := c.PosixRename(tmp, final); err != nil {
		c.Remove(tmp)
		return fmt.Errorf("copy %s to %s: rename: %w", name, s, err)
	}
	return nil
}

func (s *SFTP) write(ctx context.Context, c *sftp.Client, tmp string, src Source, want Want) error {
	f, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return err
	}
	if err := fill(ctx, f, src); err != nil {
		return err
	}
	back, err := c.Open(tmp)
	if err != nil {
		return err
	}
	defer back.Close()
	return ReadBack(ctx, back, want)
}

func (s *SFTP) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := s.remote(name)
	if err != nil {
		return nil, err
	}
	c, err := s.client(ctx)
	if err != nil {
		return nil, err
	}
	f, err := c.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s in %s: %w", name, s, ErrNotFound)
	}
	return f, err
}

func (s *SFTP) Stat(ctx context.Context, name string) (Object, error) {
	p, err := s.remote(name)
	if err != nil {
		return Object{}, err
	}
	c, err := s.client(ctx)
	if err != nil {
		return Object{}, err
	}
	st, err := c.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Object{}, fmt.Errorf("%s in %s: %w", name, s, ErrNotFound)
	}
	if err != nil {
		return Object{}, fmt.Errorf("%s: %w", s, err)
	}
	return Object{Name: name, Size: st.Size()}, nil
}

func (s *SFTP) List(ctx context.Context) ([]Object, error) {
	c, err := s.client(ctx)
	if err != nil {
		return nil, err
	}
	var out []Object
	w := c.Walk(s.cfg.Root)
	for w.Step() {
		if err := w.Err(); err != nil {
			if errors.Is(err, fs.ErrNotExist) && w.Path() == s.cfg.Root {
				return nil, nil // nothing copied here yet
			}
			return nil, fmt.Errorf("list %s: %w", s, err)
		}
		if w.Path() != s.cfg.Root && strings.HasPrefix(path.Base(w.Path()), ".") {
			if w.Stat().IsDir() {
				w.SkipDir()
			}
			continue
		}
		if !w.Stat().Mode().IsRegular() {
			continue
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(w.Path(), s.cfg.Root), "/")
		out = append(out, Object{Name: rel, Size: w.Stat().Size()})
	}
	return out, ctx.Err()
}

func (s *SFTP) Remove(ctx context.Context, name string) error {
	p, err := s.remote(name)
	if err != nil {
		return err
	}
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	if err := c.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s from %s: %w", name, s, err)
	}
	return nil
}
