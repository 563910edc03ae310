package main

import (
	"bytes"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binary is rgz-backup, built once for the demo's tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rgz-demo-test-")
	if err != nil {
		panic(err)
	}
	_ = os.Chmod(dir, 0o755) // the demo's daemon runs as PostgreSQL's user
	binary = filepath.Join(dir, "rgz-backup")
	if out, err := exec.Command("go", "build", "-o", binary, "../cmd/rgz-backup").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// `make demo`, as the README tells a newcomer to type: a backup, verified
// and listed, on a throwaway server.
func TestDemo(t *testing.T) {
	t.Parallel()
	if err := run(binary, t.TempDir(), 5, false); err != nil { // 5: a dump over the demo's 1 MB floor
		t.Fatal(err)
	}
}

// `make screenshots`: every picture the README and docs/CONSOLE.md show,
// taken from a daemon with its history, each a PNG of a real page.
func TestScreenshots(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	if err := screenshots(binary, t.TempDir(), out, 2, false); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"console-overview.png", "console-overview-failed.png", "console-overview-phone.png",
		"console-charts.png", "console-backup.png", "console-restore-test.png"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil || img.Bounds().Dx() < 300 || img.Bounds().Dy() < 300 {
			t.Errorf("%s: not a page's picture (%v)", name, err)
		}
	}
}
