package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteIsReproducible(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	build := func(reverse bool, touched time.Time) ([]byte, Result) {
		dir := t.TempDir()
		bin := filepath.Join(dir, "rgz-backup")
		if err := os.WriteFile(bin, []byte("\x7fELF binary"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(bin, touched, touched); err != nil {
			t.Fatal(err)
		}
		files := []File{
			{Path: "/usr/bin/rgz-backup", Mode: 0o755, Source: bin},
			{Path: "/backups", Mode: fs.ModeDir | 0o750, UID: 10001, GID: 10001},
			{Path: "/usr/bin/sh", Mode: fs.ModeSymlink | 0o777, Link: "dash"},
			{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
			{Path: "/etc/passwd", Mode: 0o644, Data: []byte("rgz:x:10001:10001::/backups:/usr/sbin/nologin\n")},
		}
		if reverse {
			for i, j := 0, len(files)-1; i < j; i, j = i+1, j-1 {
				files[i], files[j] = files[j], files[i]
			}
		}
		var out bytes.Buffer
		res, err := Write(&out, Image{Arch: "amd64", Created: created, RefName: "1.4.0-pg15",
			Config:      Config{User: "10001:10001", Entrypoint: []string{"/usr/bin/rgz-backup"}, Cmd: []string{"serve"}},
			Annotations: map[string]string{"org.opencontainers.image.revision": "abc"}, Files: files}, dir)
		if err != nil {
			t.Fatal(err)
		}
		return out.Bytes(), res
	}
	first, res := build(false, time.Now())
	second, again := build(true, time.Now().Add(-time.Hour))
	if res.Digest != again.Digest || !bytes.Equal(first, second) {
		t.Fatalf("two builds of the same files differ: %s, %s", res.Digest, again.Digest)
	}
	if !strings.HasPrefix(res.Digest, "sha256:") || res.LayerBytes == 0 {
		t.Fatalf("result %+v", res)
	}

	// The archive holds the layout; the layer, every parent directory
	// before its children, in order, owned and dated as said.
	blobs := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(first))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		blobs[h.Name] = b
	}
	var index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(blobs["index.json"], &index); err != nil || len(index.Manifests) != 1 ||
		index.Manifests[0].Digest != res.Digest || index.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "1.4.0-pg15" {
		t.Fatalf("index.json: %v %s", err, blobs["index.json"])
	}
	if _, ok := blobs["oci-layout"]; !ok {
		t.Fatal("no oci-layout")
	}
	var manifest struct{ Layers []struct{ Digest string } }
	if err := json.Unmarshal(blobs["blobs/sha256/"+strings.TrimPrefix(res.Digest, "sha256:")], &manifest); err != nil || len(manifest.Layers) != 1 {
		t.Fatalf("manifest: %v", err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(blobs["blobs/sha256/"+strings.TrimPrefix(manifest.Layers[0].Digest, "sha256:")]))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	layer := tar.NewReader(gz)
	for {
		h, err := layer.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if !h.ModTime.Equal(created) {
			t.Errorf("%s dated %s", h.Name, h.ModTime)
		}
		switch h.Name {
		case "backups/":
			if h.Uid != 10001 || h.Mode != 0o750 {
				t.Errorf("backups/: uid %d mode %o", h.Uid, h.Mode)
			}
		case "tmp/":
			if h.Mode != 0o1777 {
				t.Errorf("tmp/: mode %o", h.Mode)
			}
		case "usr/bin/sh":
			if h.Typeflag != tar.TypeSymlink || h.Linkname != "dash" {
				t.Errorf("usr/bin/sh: %+v", h)
			}
		}
	}
	want := "backups/ etc/ etc/passwd tmp/ usr/ usr/bin/ usr/bin/rgz-backup usr/bin/sh"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("layer: %s\nwant   %s", got, want)
	}
}

func TestWriteRefusesBadPaths(t *testing.T) {
	t.Parallel()
	for _, files := range [][]File{
		{{Path: "usr/bin/x", Data: []byte("x")}},
		{{Path: "/", Mode: fs.ModeDir}},
		{{Path: "/etc/x", Data: []byte("a")}, {Path: "/etc//x", Data: []byte("b")}},
	} {
		if _, err := Write(io.Discard, Image{Arch: "amd64", Files: files}, t.TempDir()); err == nil {
			t.Errorf("%+v: written", files)
		}
	}
}
