package main

import (
	"strings"
	"testing"
)

func TestIndexes(t *testing.T) {
	t.Parallel()
	release := `Origin: Debian
Suite: stable-security
MD5Sum:
 0123 2590922 main/binary-arm64/Packages.xz
SHA256:
 454c 2590922 main/binary-arm64/Packages
 8181 384880 main/binary-arm64/Packages.xz
`
	if sum, ok := releaseSum(release, "main/binary-arm64/Packages.xz"); !ok || sum != "8181" {
		t.Errorf("the Packages.xz sum: %q %v (not the MD5 section's)", sum, ok)
	}
	if _, ok := releaseSum(release, "main/binary-amd64/Packages.xz"); ok {
		t.Error("a path the Release does not list was found")
	}

	index, err := parsePackages(strings.NewReader(`Package: libpq5
Source: postgresql-15
Version: 15.20-0+deb12u1
Filename: pool/updates/main/p/postgresql-15/libpq5_15.20-0+deb12u1_amd64.deb
SHA256: aa
Description: multi-line
 continued: with a colon

Package: no-file
Version: 1

Package: tzdata
Version: 2025b-0+deb12u2
Filename: pool/updates/main/t/tzdata/tzdata_2025b-0+deb12u2_all.deb
SHA256: bb
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(index) != 2 || index["libpq5"].Version != "15.20-0+deb12u1" || index["tzdata"].SHA256 != "bb" ||
		!strings.HasSuffix(index["libpq5"].Filename, "libpq5_15.20-0+deb12u1_amd64.deb") {
		t.Fatalf("index: %+v", index)
	}

	for file, want := range map[string][2]string{
		"/cache/libpq5_15.18-0+deb12u1_amd64.deb": {"libpq5", "15.18-0+deb12u1"},
		"zlib1g_1%3a1.2.13.dfsg-1_arm64.deb":      {"zlib1g", "1:1.2.13.dfsg-1"},
	} {
		if name, version, ok := debName(file); !ok || name != want[0] || version != want[1] {
			t.Errorf("debName(%s) = %s %s %v", file, name, version, ok)
		}
	}
	if !versionGreater("15.20-0+deb12u1", "15.18-0+deb12u1") || versionGreater("1:1.2", "1:1.10") || !versionGreater("1:0.1", "9.9") {
		t.Error("Debian's version order")
	}
}
