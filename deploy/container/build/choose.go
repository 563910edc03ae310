package main

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mosaique/rgz-backup/internal/ociimage"
)

// triplets are the multiarch directories of Debian's libraries.
var triplets = map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}

// selection is what the image holds, by path.
type selection struct {
	t     *tree
	files map[string]ociimage.File
	elves []string // ELF files whose libraries are still to be found
	libs  []string // where the dynamic linker looks
}

// choose picks the image's files from the unpacked packages: the
// PostgreSQL programs, their libraries (found as the dynamic linker
// would, from each ELF file's needs), PostgreSQL's own modules and data,
// the shell pg_ctl and pg_verifybackup run their children through, the
// time zones, the CA certificates, the C.UTF-8 locale, each package's
// copyright, and the image's users.
func choose(t *tree, major int, arch string) ([]ociimage.File, error) {
	triplet := triplets[arch]
	s := &selection{t: t, files: map[string]ociimage.File{},
		libs: []string{"/lib/" + triplet, "/usr/lib/" + triplet, "/lib", "/usr/lib"}}
	pg := fmt.Sprintf("/usr/lib/postgresql/%d", major)
	for _, p := range programs {
		if err := s.add(pg + "/bin/" + p); err != nil {
			return nil, err
		}
	}
	// The server's modules (plpgsql, amcheck the restore test runs, the
	// text search dictionaries), not the JIT: it pulls LLVM, 100 MB.
	for p := range t.regular {
		if path.Dir(p) == pg+"/lib" && strings.HasSuffix(p, ".so") && !strings.HasPrefix(path.Base(p), "llvmjit") {
			if err := s.add(p); err != nil {
				return nil, err
			}
		}
	}
	share := fmt.Sprintf("/usr/share/postgresql/%d/", major)
	if err := s.addUnder(share, func(p string) bool { return !strings.HasPrefix(p, share+"man/") }); err != nil {
		return nil, err
	}
	if err := s.addUnder("/usr/share/zoneinfo/", func(p string) bool { return !strings.HasPrefix(p, "/usr/share/zoneinfo/right/") }); err != nil {
		return nil, err
	}
	if err := s.addUnder("/usr/lib/locale/C.utf8/", func(string) bool { return true }); err != nil {
		return nil, err
	}
	// pg_ctl starts postgres, and pg_verifybackup runs pg_waldump,
	// through system(3): /bin/sh. Debian's dash, and no other shell.
	if err := s.add("/bin/dash"); err != nil {
		if err = s.add("/usr/bin/dash"); err != nil {
			return nil, err
		}
	}
	binDir, _, err := t.resolveDir("/bin")
	if err != nil {
		return nil, err
	}
	s.files[binDir+"/sh"] = ociimage.File{Path: binDir + "/sh", Mode: fs.ModeSymlink | 0o777, Link: "dash"}
	if err := s.libraries(); err != nil {
		return nil, err
	}
	if err := s.certificates(); err != nil {
		return nil, err
	}
	s.copyrights()
	for _, f := range []ociimage.File{
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(fmt.Sprintf("root:x:0:0:root:/root:/usr/sbin/nologin\nrgz:x:%d:%d:rgz-backup:/backups:/usr/sbin/nologin\n", uid, gid))},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(fmt.Sprintf("root:x:0:\nrgz:x:%d:\n", gid))},
		{Path: "/etc/nsswitch.conf", Mode: 0o644, Data: []byte("passwd: files\ngroup: files\nhosts: files dns\n")},
		{Path: "/backups", Mode: fs.ModeDir | 0o750, UID: uid, GID: gid},
		{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
	} {
		s.files[f.Path] = f
	}
	out := make([]ociimage.File, 0, len(s.files))
	for _, f := range s.files {
		out = append(out, f)
	}
	return out, nil
}

// add puts p in the image, with the symlinks on its way; an ELF file's
// libraries will follow.
func (s *selection) add(p string) error {
	final, chain, err := s.t.resolve(p)
	if err != nil {
		return err
	}
	for _, l := range chain {
		s.files[l.path] = ociimage.File{Path: l.path, Mode: fs.ModeSymlink | 0o777, Link: l.target}
	}
	if _, done := s.files[final]; done {
		return nil
	}
	src := filepath.Join(s.t.dir, final)
	s.files[final] = ociimage.File{Path: final, Mode: s.t.regular[final], Source: src}
	if isELF(src) {
		s.elves = append(s.elves, final)
	}
	return nil
}

// addUnder adds every file and symlink under dir that keep says to.
func (s *selection) addUnder(dir string, keep func(string) bool) error {
	var paths []string
	for p := range s.t.regular {
		if strings.HasPrefix(p, dir) && keep(p) {
			paths = append(paths, p)
		}
	}
	for p, target := range s.t.links {
		if strings.HasPrefix(p, dir) && keep(p) {
			s.files[p] = ociimage.File{Path: p, Mode: fs.ModeSymlink | 0o777, Link: target}
		}
	}
	if len(paths) == 0 {
		return fmt.Errorf("%s: nothing in the packages", dir)
	}
	for _, p := range paths {
		if err := s.add(p); err != nil {
			return err
		}
	}
	return nil
}

// libraries adds what each ELF file needs, as the dynamic linker finds
// it, until nothing new is needed. A library the packages do not hold is
// an error: the image would not start that program.
func (s *selection) libraries() error {
	for len(s.elves) > 0 {
		p := s.elves[0]
		s.elves = s.elves[1:]
		f, err := elf.Open(filepath.Join(s.t.dir, p))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		needed, err := f.ImportedLibraries()
		var runpath []string
		if rp, rerr := f.DynString(elf.DT_RUNPATH); rerr == nil {
			for _, r := range rp {
				runpath = append(runpath, strings.Split(strings.ReplaceAll(r, "$ORIGIN", path.Dir(p)), ":")...)
			}
		}
		interp := ""
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				b := make([]byte, prog.Filesz)
				if _, rerr := prog.ReadAt(b, 0); rerr == nil {
					interp = strings.TrimRight(string(b), "\x00")
				}
			}
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if interp != "" {
			if err := s.add(interp); err != nil {
				return fmt.Errorf("%s's interpreter: %w", p, err)
			}
		}
		for _, lib := range needed {
			found := false
			for _, dir := range append(runpath, s.libs...) {
				if _, _, err := s.t.resolve(dir + "/" + lib); err == nil {
					if err := s.add(dir + "/" + lib); err != nil {
						return err
					}
					found = true
					break
				}
			}
			if !found {
				return fmt.Errorf("%s needs %s, which no downloaded package holds", p, lib)
			}
		}
	}
	return nil
}

// certificates is Mozilla's CA bundle as update-ca-certificates would
// write it (no package script runs here), in a fixed order.
func (s *selection) certificates() error {
	var crts []string
	for p := range s.t.regular {
		if strings.HasPrefix(p, "/usr/share/ca-certificates/mozilla/") && strings.HasSuffix(p, ".crt") {
			crts = append(crts, p)
		}
	}
	if len(crts) == 0 {
		return fmt.Errorf("no CA certificates in the packages")
	}
	sort.Strings(crts)
	var bundle []byte
	for _, p := range crts {
		b, err := os.ReadFile(filepath.Join(s.t.dir, p))
		if err != nil {
			return err
		}
		bundle = append(bundle, b...)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			bundle = append(bundle, '\n')
		}
	}
	s.files["/etc/ssl/certs/ca-certificates.crt"] = ociimage.File{Path: "/etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Data: bundle}
	return nil
}

// copyrights adds the copyright file of every package the image holds a
// file of: Debian's licences travel with its binaries.
func (s *selection) copyrights() {
	pkgs := map[string]bool{}
	for p := range s.files {
		if owner := s.t.owner[p]; owner != "" {
			pkgs[owner] = true
		}
	}
	for pkg := range pkgs {
		_ = s.add("/usr/share/doc/" + pkg + "/copyright") // a package without one ships it elsewhere
	}
}

// resolveDir is where directory p really is (a merged /usr's /bin is
// /usr/bin).
func (t *tree) resolveDir(p string) (string, []link, error) {
	if target, ok := t.links[p]; ok {
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		return t.resolveDir(target)
	}
	return p, nil, nil
}

func isELF(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	_, err = f.Read(magic)
	return err == nil && string(magic) == "\x7fELF"
}
