// Package version says which build this is: the release version, commit
// and build date set at release time with -ldflags (make build and make
// package do), else what the Go toolchain recorded (debug.ReadBuildInfo:
// the VCS revision and time of a build from a checkout), else "devel".
// Every backup records the version that took it (manifest and catalog
// row), and the daemon exports it as rgz_backup_build_info.
package version

import (
	"runtime"
	"runtime/debug"
)

// Set at release time:
//
//	go build -ldflags "-X github.com/mosaique/rgz-backup/internal/version.version=1.4.0 \
//	  -X github.com/mosaique/rgz-backup/internal/version.commit=abc123 \
//	  -X github.com/mosaique/rgz-backup/internal/version.date=2026-11-26T00:00:00Z"
var version, commit, date string

// Info is a build's identity.
type Info struct {
	Version   string `json:"version"`    // "devel" for a local build
	Commit    string `json:"commit"`     // "" when unknown
	Date      string `json:"build_date"` // RFC 3339; "" when unknown
	GoVersion string `json:"go_version"`
}

// Get is this build's identity.
func Get() Info {
	return from(version, commit, date, runtime.Version(), debug.ReadBuildInfo)
}

// from decides the identity: the -ldflags values first, then the
// toolchain's build settings.
func from(v, c, d, goVersion string, read func() (*debug.BuildInfo, bool)) Info {
	info := Info{Version: v, Commit: c, Date: d, GoVersion: goVersion}
	if bi, ok := read(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version // go install module@version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && info.Commit == "":
				info.Commit = s.Value
			case s.Key == "vcs.time" && info.Date == "":
				info.Date = s.Value
			case s.Key == "vcs.modified" && s.Value == "true" && info.Commit != "" && c == "":
				info.Commit += "-dirty"
			}
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	return info
}

// Build is what a backup records of the build that took it: the version,
// and the commit when known.
func (i Info) Build() string {
	if i.Commit == "" {
		return i.Version
	}
	return i.Version + " (commit " + i.Commit + ")"
}

// String is the one line `rgz-backup --version` prints.
func (i Info) String() string {
	s := "rgz-backup " + i.Version
	if i.Commit != "" {
		s += " (commit " + i.Commit
		if i.Date != "" {
			s += ", built " + i.Date
		}
		s += ")"
	}
	return s + " " + i.GoVersion
}
