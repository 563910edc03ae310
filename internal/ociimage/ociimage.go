// Package ociimage writes a container image as an OCI image layout in a
// tar file (an "oci-archive", what `podman load` and `skopeo copy` read),
// reproducibly: the same files and settings give the same bytes, so the
// same commit gives the same image digest (issue 31, docs/CONTAINER.md).
//
// The image has one layer. Its entries are sorted by path, owned by the
// UID/GID the caller gives (root unless said otherwise), and dated at the
// image's Created time; every compression runs at a fixed level with an
// empty gzip header. Nothing of the machine that builds it (its clock,
// its users, the order a directory lists in) reaches the image.
package ociimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/klauspost/compress/gzip"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// File is one entry of the image's layer.
type File struct {
	Path     string      // absolute, as the container sees it: "/usr/bin/rgz-backup"
	Mode     fs.FileMode // permissions, with fs.ModeDir or fs.ModeSymlink for those
	UID, GID int
	Link     string // a symlink's target
	Source   string // a regular file's contents, from this host path
	Data     []byte // or given here (Source empty)
}

// Config is what the runtime reads to start a container (the image
// configuration's "config" object).
type Config struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
}

// Image is what Write writes.
type Image struct {
	Arch    string    // GOARCH: amd64, arm64
	Created time.Time // the commit's date, not the build's
	Config  Config
	// Annotations go on the manifest (the OCI annotations: version,
	// revision, source, created); RefName names it in the layout's index
	// ("1.4.0-pg15").
	Annotations map[string]string
	RefName     string
	Files       []File
}

// Media types of the OCI image specification.
const (
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// Result says what Write wrote: the manifest's digest is the image's
// (what a registry and `podman image inspect` show), the layer's sizes
// what it weighs.
type Result struct {
	Digest           string // sha256:… of the manifest
	LayerBytes       int64  // compressed, as pulled
	UncompressedSize int64
}

// Write writes img to w as an OCI layout in a tar file. scratch is a
// directory for the layer while its digest is computed (it is removed).
func Write(w io.Writer, img Image, scratch string) (Result, error) {
	files, err := complete(img.Files)
	if err != nil {
		return Result{}, err
	}
	layerFile, err := os.CreateTemp(scratch, "layer-*.tar.gz")
	if err != nil {
		return Result{}, err
	}
	defer os.Remove(layerFile.Name())
	defer layerFile.Close()
	zipped := sha256.New()
	plain := sha256.New()
	counted := &counter{}
	gz, err := gzip.NewWriterLevel(io.MultiWriter(layerFile, zipped, counted), gzip.BestCompression)
	if err != nil {
		return Result{}, err
	}
	plainCount := &counter{}
	if err := writeLayer(io.MultiWriter(gz, plain, plainCount), files, img.Created); err != nil {
		return Result{}, err
	}
	if err := gz.Close(); err != nil {
		return Result{}, err
	}
	layer := descriptor{MediaType: mediaLayer, Digest: digest(zipped), Size: counted.n}

	cfg, err := json.Marshal(map[string]any{
		"created":      img.Created.UTC().Format(time.RFC3339),
		"architecture": img.Arch,
		"os":           "linux",
		"config":       img.Config,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{digest(plain)}},
		"history":      []map[string]any{{"created": img.Created.UTC().Format(time.RFC3339), "created_by": "rgz-backup make image (internal/ociimage)"}},
	})
	if err != nil {
		return Result{}, err
	}
	config := descriptor{MediaType: mediaConfig, Digest: digestOf(cfg), Size: int64(len(cfg))}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaManifest,
		"config":        config,
		"layers":        []descriptor{layer},
		"annotations":   img.Annotations,
	})
	if err != nil {
		return Result{}, err
	}
	manifestDesc := descriptor{MediaType: mediaManifest, Digest: digestOf(manifest), Size: int64(len(manifest)),
		Platform: &platform{Architecture: img.Arch, OS: "linux"}}
	if img.RefName != "" {
		manifestDesc.Annotations = map[string]string{"org.opencontainers.image.ref.name": img.RefName}
	}
	index, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mediaIndex, "manifests": []descriptor{manifestDesc}})
	if err != nil {
		return Result{}, err
	}

	out := tar.NewWriter(w)
	entry := func(name string, size int64, body io.Reader) error {
		h := &tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: img.Created, Format: tar.FormatPAX, Typeflag: tar.TypeReg}
		if body == nil {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		if err := out.WriteHeader(h); err != nil {
			return err
		}
		if body != nil {
			_, err := io.Copy(out, body)
			return err
		}
		return nil
	}
	blob := func(d descriptor) string { return "blobs/sha256/" + strings.TrimPrefix(d.Digest, "sha256:") }
	if _, err := layerFile.Seek(0, io.SeekStart); err != nil {
		return Result{}, err
	}
	for _, e := range []struct {
		name string
		size int64
		body io.Reader
	}{
		{"oci-layout", -1, strings.NewReader(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", int64(len(index)), bytes.NewReader(index)},
		{"blobs/", 0, nil},
		{"blobs/sha256/", 0, nil},
		{blob(config), config.Size, bytes.NewReader(cfg)},
		{blob(manifestDesc), manifestDesc.Size, bytes.NewReader(manifest)},
		{blob(layer), layer.Size, layerFile},
	} {
		if e.size < 0 {
			e.size = int64(len(`{"imageLayoutVersion":"1.0.0"}`))
		}
		if err := entry(e.name, e.size, e.body); err != nil {
			return Result{}, fmt.Errorf("write %s: %w", e.name, err)
		}
	}
	if err := out.Close(); err != nil {
		return Result{}, err
	}
	return Result{Digest: manifestDesc.Digest, LayerBytes: layer.Size, UncompressedSize: plainCount.n}, nil
}

// complete sorts files by path and adds every parent directory that is
// not listed (root's, 0755), so that a runtime creates none itself. Two
// entries for one path are an error.
func complete(files []File) ([]File, error) {
	byPath := map[string]File{}
	for _, f := range files {
		p := path.Clean(f.Path)
		if !path.IsAbs(p) || p == "/" {
			return nil, fmt.Errorf("image path %q: must be absolute, not /", f.Path)
		}
		if _, dup := byPath[p]; dup {
			return nil, fmt.Errorf("image path %s listed twice", p)
		}
		f.Path = p
		byPath[p] = f
	}
	for p := range byPath {
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			if _, ok := byPath[dir]; !ok {
				byPath[dir] = File{Path: dir, Mode: fs.ModeDir | 0o755}
			}
		}
	}
	out := make([]File, 0, len(byPath))
	for _, f := range byPath {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// writeLayer writes files (sorted, complete) as the layer's tar.
func writeLayer(w io.Writer, files []File, mtime time.Time) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		h := &tar.Header{Name: strings.TrimPrefix(f.Path, "/"), Mode: unixMode(f.Mode),
			Uid: f.UID, Gid: f.GID, ModTime: mtime, Format: tar.FormatPAX}
		var body io.Reader
		switch {
		case f.Mode.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case f.Mode&fs.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
		case f.Source != "":
			data, err := os.ReadFile(f.Source)
			if err != nil {
				return err
			}
			h.Typeflag, h.Size, body = tar.TypeReg, int64(len(data)), bytes.NewReader(data)
		default:
			h.Typeflag, h.Size, body = tar.TypeReg, int64(len(f.Data)), bytes.NewReader(f.Data)
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("layer %s: %w", f.Path, err)
		}
		if body != nil {
			if n, err := io.Copy(tw, body); err != nil || n != h.Size {
				return fmt.Errorf("layer %s: %d of %d bytes: %v", f.Path, n, h.Size, err)
			}
		}
	}
	return tw.Close()
}

// unixMode is m's permission bits as tar and Unix write them.
func unixMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func digest(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

func digestOf(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }
