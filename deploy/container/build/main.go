// Command build makes rgz-backup's container image (make image,
// docs/CONTAINER.md): a root of files taken from Debian's own packages
// (debootstrap downloads them; nothing is pulled from an image
// registry), holding the binary, the PostgreSQL programs it runs, the
// shared libraries those need and nothing else of the distribution, then
// written by internal/ociimage as a reproducible OCI archive with its
// digest beside it.
//
//	go run ./deploy/container/build -suite bookworm -arch amd64 \
//	  -binary bin/linux_amd64/rgz-backup -version 1.4.0 -revision abc123 \
//	  -created 2026-12-06T22:00:00Z -dist dist
//
// writes dist/rgz-backup_1.4.0-pg15_amd64.oci.tar and its .digest; the
// image is named rgz-backup:1.4.0-pg15 once loaded (podman load -i).
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/ociimage"
)

// Suites are the Debian releases an image is built from, and the
// PostgreSQL major version each gives (the client must be at least the
// server's: one image per major).
var Suites = map[string]int{"bookworm": 15, "trixie": 17}

// The image's user: a fixed UID/GID, so that a volume's owner is known
// before the container starts (chown 10001:10001 on the host).
const (
	uid = 10001
	gid = 10001
)

// programs are the PostgreSQL programs rgz-backup runs: the dumps, the
// WAL stream and base backups, and for the point-in-time restore test
// the server itself (pg_ctl, postgres, pg_controldata, pg_waldump that
// pg_verifybackup calls).
//
// initdb is there for the image's own tests and compose's test override:
// the image starts a PostgreSQL of its major version (the check that an
// older pg_dump refuses a newer server; the compose file's database).
var programs = []string{"pg_dump", "pg_restore", "pg_dumpall", "pg_receivewal", "pg_basebackup", "pg_verifybackup",
	"pg_waldump", "pg_controldata", "pg_ctl", "postgres", "initdb"}

func main() {
	var o options
	flag.StringVar(&o.suite, "suite", "bookworm", "the Debian release: bookworm (PostgreSQL 15) or trixie (17)")
	flag.StringVar(&o.arch, "arch", "amd64", "amd64 or arm64")
	flag.StringVar(&o.binary, "binary", "", "the rgz-backup binary for that architecture (static)")
	flag.StringVar(&o.dist, "dist", "dist", "where to write rgz-backup_VERSION-pgN_ARCH.oci.tar and its .digest")
	flag.StringVar(&o.version, "version", "devel", "the image's version (org.opencontainers.image.version)")
	flag.StringVar(&o.revision, "revision", "", "the commit")
	flag.StringVar(&o.created, "created", "", "the commit's date, RFC 3339 (the image's only date)")
	flag.StringVar(&o.source, "source", "https://github.com/mosaique/rgz-backup", "the source's address")
	flag.StringVar(&o.cache, "cache", "/var/cache/rgz-backup-image/debootstrap", "where the downloaded packages are kept between builds")
	flag.StringVar(&o.mirror, "mirror", "http://deb.debian.org/debian", "the Debian mirror")
	flag.Parse()
	if err := o.build(); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// Name is the image archive's file name: rgz-backup_1.4.0-pg15_amd64.oci.tar.
func Name(version string, major int, arch string) string {
	return fmt.Sprintf("rgz-backup_%s-pg%d_%s.oci.tar", version, major, arch)
}

type options struct {
	suite, arch, binary, dist, version, revision, created, source, cache, mirror string
}

func (o options) build() error {
	major, ok := Suites[o.suite]
	if !ok {
		return fmt.Errorf("-suite %q: must be bookworm or trixie", o.suite)
	}
	if o.arch != "amd64" && o.arch != "arm64" {
		return fmt.Errorf("-arch %q: must be amd64 or arm64", o.arch)
	}
	if o.binary == "" {
		return errors.New("-binary is required")
	}
	out := filepath.Join(o.dist, Name(o.version, major, o.arch))
	created, err := time.Parse(time.RFC3339, o.created)
	if err != nil {
		return fmt.Errorf("-created %q: %w", o.created, err)
	}
	work, err := os.MkdirTemp(filepath.Dir(out), ".image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	debs, err := download(o, major, work)
	if err != nil {
		return err
	}
	// debootstrap takes the point release; the fixes since are in the
	// security and updates suites.
	if debs, err = newer(debs, o, o.cache); err != nil {
		return err
	}
	root, err := unpack(debs, filepath.Join(work, "staging"))
	if err != nil {
		return err
	}
	files, err := choose(root, major, o.arch)
	if err != nil {
		return err
	}
	files = append(files, ociimage.File{Path: "/usr/bin/rgz-backup", Mode: 0o755, Source: o.binary})

	labels := map[string]string{
		"org.opencontainers.image.title":       "rgz-backup",
		"org.opencontainers.image.description": fmt.Sprintf("PostgreSQL backups of the MOSAÏQUE platform, for PostgreSQL %d and older servers", major),
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.revision":    o.revision,
		"org.opencontainers.image.source":      o.source,
		"org.opencontainers.image.created":     created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.base.name":   "debian:" + o.suite + " (packages, not an image)",
		"io.mosaique.rgz-backup.postgresql":    fmt.Sprint(major),
	}
	img := ociimage.Image{Arch: o.arch, Created: created, Annotations: labels, RefName: fmt.Sprintf("rgz-backup:%s-pg%d", o.version, major), Files: files,
		Config: ociimage.Config{
			User:         fmt.Sprintf("%d:%d", uid, gid),
			Env:          []string{fmt.Sprintf("PATH=/usr/lib/postgresql/%d/bin:/usr/bin:/bin", major), "LANG=C.UTF-8", "BACKUP_LOCAL_DIR=/backups"},
			Entrypoint:   []string{"/usr/bin/rgz-backup"},
			Cmd:          []string{"serve"},
			WorkingDir:   "/backups",
			Volumes:      map[string]struct{}{"/backups": {}},
			ExposedPorts: map[string]struct{}{"8080/tcp": {}},
			StopSignal:   "SIGTERM",
			Labels:       labels,
		}}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".image-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	res, err := ociimage.Write(tmp, img, work)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.WriteFile(out+".digest", []byte(res.Digest+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	fmt.Printf("%s %s: %s, %.1f MB compressed, %.1f MB unpacked\n", out, img.RefName, res.Digest,
		float64(res.LayerBytes)/1e6, float64(res.UncompressedSize)/1e6)
	return nil
}

// download has debootstrap fetch (not install) a minimal root of suite
// with PostgreSQL's server and client, CA certificates and tzdata, and
// returns the packages' files. Its cache makes a second build offline.
func download(o options, major int, work string) ([]string, error) {
	if err := os.MkdirAll(o.cache, 0o755); err != nil {
		return nil, err
	}
	target := filepath.Join(work, "debootstrap")
	include := fmt.Sprintf("postgresql-%d,postgresql-client-%d,ca-certificates,tzdata,dash", major, major)
	cmd := exec.Command("debootstrap", "--download-only", "--arch="+o.arch, "--variant=minbase", "--include="+include,
		"--cache-dir="+o.cache, "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg", o.suite, target, o.mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return nil, fmt.Errorf("debootstrap --download-only %s %s: %w\n%s", o.suite, o.arch, err, strings.Join(lines[max(0, len(lines)-10):], "\n"))
	}
	debs, err := filepath.Glob(filepath.Join(target, "var/cache/apt/archives/*.deb"))
	if err != nil || len(debs) == 0 {
		return nil, fmt.Errorf("debootstrap left no packages in %s", target)
	}
	sort.Strings(debs)
	return debs, nil
}

// tree is the packages' files, unpacked: regular files on disk under dir,
// symlinks and owners kept here (a package's absolute symlink must not
// be followed on the host).
type tree struct {
	dir     string
	regular map[string]fs.FileMode // path → mode
	links   map[string]string      // path → target
	owner   map[string]string      // path → package
}

// unpack unpacks every package's files (not its scripts: nothing runs)
// into dir.
func unpack(debs []string, dir string) (*tree, error) {
	t := &tree{dir: dir, regular: map[string]fs.FileMode{}, links: map[string]string{}, owner: map[string]string{}}
	for _, deb := range debs {
		pkg := strings.SplitN(filepath.Base(deb), "_", 2)[0]
		if err := t.add(deb, pkg); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", filepath.Base(deb), err)
		}
	}
	// A merged /usr (trixie's packages ship /usr/lib only): /lib is /usr/lib.
	for _, top := range []string{"/bin", "/sbin", "/lib", "/lib64"} {
		if !t.hasUnder(top) && t.hasUnder("/usr"+top) {
			t.links[top] = "usr" + top
		}
	}
	return t, nil
}

func (t *tree) add(deb, pkg string) error {
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	readErr := t.read(tar.NewReader(out), pkg)
	_, _ = io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("dpkg-deb: %w: %s", err, stderr.String())
	}
	return readErr
}

func (t *tree) read(tr *tar.Reader, pkg string) error {
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := path.Clean("/" + h.Name)
		if p == "/" {
			continue
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			t.links[p], t.owner[p] = h.Linkname, pkg
		case tar.TypeLink:
			target := path.Clean("/" + h.Linkname)
			if err := copyFile(filepath.Join(t.dir, target), filepath.Join(t.dir, p)); err != nil {
				return err
			}
			t.regular[p], t.owner[p] = t.regular[target], pkg
		case tar.TypeReg:
			dst := filepath.Join(t.dir, p)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			t.regular[p], t.owner[p] = fs.FileMode(h.Mode).Perm(), pkg
		}
	}
}

func (t *tree) hasUnder(dir string) bool {
	for p := range t.regular {
		if strings.HasPrefix(p, dir+"/") {
			return true
		}
	}
	return false
}

// link is a symlink met on the way to a file: the image holds it too.
type link struct{ path, target string }

// resolve follows p's symlinks inside the tree: the file it names, and
// the links on the way.
func (t *tree) resolve(p string) (string, []link, error) {
	var chain []link
	for hops := 0; hops < 40; hops++ {
		parts := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
		followed := false
		for i := range parts {
			prefix := "/" + strings.Join(parts[:i+1], "/")
			target, ok := t.links[prefix]
			if !ok {
				continue
			}
			chain = append(chain, link{prefix, target})
			next := target
			if !path.IsAbs(target) {
				next = path.Join(path.Dir(prefix), target)
			}
			p, followed = path.Join(append([]string{next}, parts[i+1:]...)...), true
			break
		}
		if !followed {
			if _, ok := t.regular[p]; !ok {
				return "", nil, fmt.Errorf("%s: not in the packages", p)
			}
			return p, chain, nil
		}
	}
	return "", nil, fmt.Errorf("%s: too many symlinks", p)
}

// copyFile copies a hard link's target (a package's second name for one
// file).
func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}
