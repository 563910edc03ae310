package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// updateSuites are where Debian's fixes since the point release live: the
// security archive (another address) and the stable updates.
func updateSuites(suite, mirror string) []archiveSuite {
	return []archiveSuite{
		{Mirror: strings.TrimSuffix(mirror, "/debian") + "/debian-security", Suite: suite + "-security"},
		{Mirror: mirror, Suite: suite + "-updates"},
	}
}

type archiveSuite struct{ Mirror, Suite string }

// pkg is one package of an index: what a newer version replaces.
type pkg struct {
	Name, Version, Filename, SHA256 string
}

// debName reads name and version from a downloaded package's file name
// (name_version_arch.deb, the epoch's colon written %3a).
func debName(file string) (name, version string, ok bool) {
	parts := strings.Split(strings.TrimSuffix(filepath.Base(file), ".deb"), "_")
	if len(parts) != 3 {
		return "", "", false
	}
	v, err := url.PathUnescape(parts[1])
	return parts[0], v, err == nil
}

// releaseSum is the SHA-256 the (verified) Release text gives for path.
func releaseSum(release, path string) (string, bool) {
	inSHA256 := false
	for _, line := range strings.Split(release, "\n") {
		if !strings.HasPrefix(line, " ") {
			inSHA256 = strings.HasPrefix(line, "SHA256:")
			continue
		}
		if f := strings.Fields(line); inSHA256 && len(f) == 3 && f[2] == path {
			return f[0], true
		}
	}
	return "", false
}

// parsePackages reads a Packages index: its stanzas' name, version, file
// and SHA-256.
func parsePackages(r io.Reader) (map[string]pkg, error) {
	out := map[string]pkg{}
	var cur pkg
	flush := func() {
		if cur.Name != "" && cur.Filename != "" && cur.SHA256 != "" {
			out[cur.Name] = cur
		}
		cur = pkg{}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		key, value, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch key {
		case "Package":
			cur.Name = value
		case "Version":
			cur.Version = value
		case "Filename":
			cur.Filename = value
		case "SHA256":
			cur.SHA256 = value
		}
	}
	flush()
	return out, sc.Err()
}

// newer replaces each of debs that an update suite holds in a newer
// version by that version, downloaded into cache and checked against the
// suite's signed index. The packages debootstrap chose are the set; only
// their versions move.
func newer(debs []string, o options, cache string) ([]string, error) {
	out := make([]string, len(debs))
	copy(out, debs)
	for _, as := range updateSuites(o.suite, o.mirror) {
		index, err := fetchIndex(as, o.arch)
		if err != nil {
			return nil, err
		}
		for i, deb := range out {
			name, version, ok := debName(deb)
			if !ok {
				continue
			}
			p, ok := index[name]
			if !ok || !versionGreater(p.Version, version) {
				continue
			}
			file, err := fetchChecked(as.Mirror+"/"+p.Filename, filepath.Join(cache, filepath.Base(p.Filename)), p.SHA256)
			if err != nil {
				return nil, fmt.Errorf("%s %s from %s: %w", name, p.Version, as.Suite, err)
			}
			fmt.Printf("%s: %s %s → %s (%s)\n", o.suite, name, version, p.Version, as.Suite)
			out[i] = file
		}
	}
	return out, nil
}

// fetchIndex fetches a suite's InRelease, verifies it with Debian's
// archive keyring (gpgv), and reads the main component's Packages index
// for arch, checked against it.
func fetchIndex(as archiveSuite, arch string) (map[string]pkg, error) {
	signed, err := get(as.Mirror + "/dists/" + as.Suite + "/InRelease")
	if err != nil {
		return nil, err
	}
	gpgv := exec.Command("gpgv", "--keyring", "/usr/share/keyrings/debian-archive-keyring.gpg", "--output", "-", "-")
	gpgv.Stdin = bytes.NewReader(signed)
	var release, stderr bytes.Buffer
	gpgv.Stdout, gpgv.Stderr = &release, &stderr
	if err := gpgv.Run(); err != nil {
		return nil, fmt.Errorf("%s InRelease: not signed by Debian's archive keys: %v: %s", as.Suite, err, stderr.String())
	}
	path := "main/binary-" + arch + "/Packages.xz"
	sum, ok := releaseSum(release.String(), path)
	if !ok {
		return nil, fmt.Errorf("%s: its Release lists no %s", as.Suite, path)
	}
	xzData, err := get(as.Mirror + "/dists/" + as.Suite + "/" + path)
	if err != nil {
		return nil, err
	}
	if got := sha256.Sum256(xzData); hex.EncodeToString(got[:]) != sum {
		return nil, fmt.Errorf("%s %s: SHA-256 %x, its Release says %s", as.Suite, path, got, sum)
	}
	unxz := exec.Command("xz", "-dc")
	unxz.Stdin = bytes.NewReader(xzData)
	text, err := unxz.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: xz: %w", as.Suite, path, err)
	}
	return parsePackages(bytes.NewReader(text))
}

// fetchChecked downloads url to file unless a file with the SHA-256 is
// there already, and checks it.
func fetchChecked(url, file, sum string) (string, error) {
	if b, err := os.ReadFile(file); err == nil {
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) == sum {
			return file, nil
		}
	}
	b, err := get(url)
	if err != nil {
		return "", err
	}
	if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != sum {
		return "", fmt.Errorf("%s: SHA-256 %x, its index says %s", url, got, sum)
	}
	tmp := file + ".part"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return "", err
	}
	return file, os.Rename(tmp, file)
}

var client = &http.Client{Timeout: 5 * time.Minute}

func get(url string) ([]byte, error) {
	res, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return io.ReadAll(io.LimitReader(res.Body, 1<<30))
}

// versionGreater is Debian's version order (dpkg --compare-versions).
func versionGreater(a, b string) bool {
	return exec.Command("dpkg", "--compare-versions", a, "gt", b).Run() == nil
}
