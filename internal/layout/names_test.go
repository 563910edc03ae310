package layout

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// hostileNames are names a CREATE DATABASE accepts (or a manifest or a
// request could carry) that a raw path join would turn into another
// place.
var hostileNames = []string{
	"rgz", "site-b", "billing_2", "v1.2", // their own segment
	"", ".", "..", "...", ".hidden", "../../somewhere", "../..", "/etc", "a/b", `a\b`, `..\..\x`,
	"%", "%2E", "%%", "100%", "a%2Fb", "a/b%", // the escape byte itself
	"tab\there", "new\nline", "\x1b[31mred", "\x7f", "nul\x00byte",
	"é", "e\u0301", "ﬁ", "Å", "A\u030a", "Ω", "Ω", // Unicode that normalises alike
	"MixedCase", "mixedcase", " lead", "trail ", "white space",
	"*", "?", "[x]", "~", "$HOME", "`id`", ";rm -rf", "'quote'", `"dq"`,
	strings.Repeat("z", 63), strings.Repeat("é", 31), strings.Repeat("/", 63), strings.Repeat(".", 63),
	string([]byte{0xff, 0xfe}), // not UTF-8 at all
}

// The encoding is reversible, one-to-one, and its result is one plain
// folder level: never empty, hidden, "." or "..", never a separator, a NUL
// or a control byte, never non-ASCII.
func TestSegment(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, name := range hostileNames {
		seg := Segment(name)
		back, err := ParseSegment(seg)
		if err != nil || back != name {
			t.Errorf("%q → %q → %q, %v", name, seg, back, err)
		}
		if other, dup := seen[seg]; dup && other != name {
			t.Errorf("%q and %q share the segment %q", name, other, seg)
		}
		seen[seg] = name
		if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, ".") || strings.HasSuffix(seg, ".") {
			t.Errorf("%q → %q: not a plain folder", name, seg)
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; c < 0x21 || c > 0x7e || c == '/' || c == '\\' {
				t.Errorf("%q → %q holds byte %#x", name, seg, c)
			}
		}
		dir, err := DatabaseDir("/backups", "default", name)
		if err != nil {
			t.Errorf("%q: %v", name, err)
			continue
		}
		if filepath.Dir(filepath.Dir(dir)) != "/backups" || filepath.Base(dir) != seg {
			t.Errorf("%q lands at %s, not two levels below /backups", name, dir)
		}
	}
	for name, seg := range map[string]string{"rgz": "rgz", "..": "%2E%2E", ".": "%2E", "a/b": "a%2Fb", "": "%", "%": "%25", "é": "%C3%A9", ".x": "%2Ex", "x.": "x%2E", "v1.2": "v1.2"} {
		if got := Segment(name); got != seg {
			t.Errorf("Segment(%q) = %q, want %q", name, got, seg)
		}
	}
}

// A segment the encoding did not write is refused, so that a folder or a
// key read back names one database or none.
func TestParseSegmentRefuses(t *testing.T) {
	t.Parallel()
	for _, seg := range []string{"%2", "%zz", "%2e.", "a%2fb", "%41", "a b", "..", ".x", "a/b", "é", "%%", "x%", "x.", "%2E."} {
		if name, err := ParseSegment(seg); !errors.Is(err, ErrNotSegment) {
			t.Errorf("ParseSegment(%q) = %q, %v", seg, name, err)
		}
	}
}

func FuzzSegment(f *testing.F) {
	for _, n := range hostileNames {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		seg := Segment(name)
		if back, err := ParseSegment(seg); err != nil || back != name {
			t.Fatalf("%q → %q → %q, %v", name, seg, back, err)
		}
		if strings.ContainsAny(seg, "/\\\x00") || strings.HasPrefix(seg, ".") {
			t.Fatalf("%q → %q", name, seg)
		}
		if _, err := ParseSegment(name); err == nil && Segment(mustParse(t, name)) != name {
			t.Fatalf("%q parses but is not its own encoding", name)
		}
	})
}

func mustParse(t *testing.T, seg string) string {
	n, err := ParseSegment(seg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWithin(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		root, p string
		ok      bool
	}{
		{"/b", "/b", true},
		{"/b", "/b/default/rgz", true},
		{"/b/", "/b/x/../y", true},
		{"/b", "/b/..", false},
		{"/b", "/b/../c", false},
		{"/b", "/bc", false},
		{"/b", "/", false},
		{"/b", "/b/x\x00y", false},
		{"/b", "relative", false},
		{"/b", "/b/..x", true}, // a name, not a step up
	} {
		if err := Within(c.root, c.p); (err == nil) != c.ok {
			t.Errorf("Within(%q, %q) = %v", c.root, c.p, err)
		} else if err != nil && !errors.Is(err, ErrOutside) {
			t.Errorf("Within(%q, %q): %v is not ErrOutside", c.root, c.p, err)
		}
	}
}

// A row (from the catalog or a manifest anyone could have written) locates
// files only under the directory it is asked about, and only by the names
// the tool gives.
func TestOfRefusesRowsThatLeave(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	good := catalog.Execution{Filename: "20260205_030015.dump.gz.age", FilePath: str("/b/default/%2E%2E/20260205_030015.dump.gz.age")}
	files, err := Of(good, "/b")
	if err != nil || files.Globals != "/b/default/%2E%2E/20260205_030015.globals.sql.gz" || files.SHA256 != "/b/default/%2E%2E/20260205_030015.dump.gz.age.sha256" {
		t.Fatalf("%+v %v", files, err)
	}
	for name, row := range map[string]catalog.Execution{
		"file_path above the root":    {Filename: "20260205_030015.dump.gz", FilePath: str("/b/../etc/20260205_030015.dump.gz")},
		"file_path elsewhere":         {Filename: "20260205_030015.dump.gz", FilePath: str("/etc/20260205_030015.dump.gz")},
		"file_path naming other file": {Filename: "20260205_030015.dump.gz", FilePath: str("/b/passwd")},
		"filename with a path":        {Filename: "../../etc/passwd"},
		"filename not a backup's":     {Filename: "passwd"},
		"hidden filename":             {Filename: ".20260205_030015.dump.gz"},
		"globals with a path":         {Filename: "20260205_030015.dump.gz", GlobalsFilename: str("../20260205_030015.globals.sql.gz")},
	} {
		if files, err := Of(row, "/b"); err == nil {
			t.Errorf("%s: located %+v", name, files)
		}
	}
}

// Every name the tool writes is accepted wherever a backup is named; no
// other is.
func TestDumpAndGlobalsNames(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"20260205_030015.dump.gz", "20260205_030015.dump.zst", "20260205_030015.dump.bz2", "20260205_030015.dump",
		"20260205_030015.dump.gz.age", "20260205_030015.dump.zst.age", "20260205_030015.dump.bz2.age", "20260205_030015.dump.age"} {
		if !IsDumpName(n) {
			t.Errorf("%s refused", n)
		}
		if g := GlobalsName(n); !IsGlobalsName(g) || !IsGlobalsName(g+".age") {
			t.Errorf("globals of %s refused", n)
		}
	}
	for _, n := range []string{"", "20260205_030015.dump.gz.sha256", "../20260205_030015.dump.gz", "20260205_030015.dump.xz", "x.dump.gz", "20260205_030015.dump.gz\n"} {
		if IsDumpName(n) {
			t.Errorf("%q accepted", n)
		}
	}
}

// What a person may type for a backup: its name, its name without .age
// (the runbook's names work whether backups are encrypted or not), or its
// stem; nothing else.
func TestCandidates(t *testing.T) {
	t.Parallel()
	for ref, want := range map[string][]string{
		"20260205_030015.dump.gz":     {"20260205_030015.dump.gz", "20260205_030015.dump.gz.age"},
		"20260205_030015.dump.gz.age": {"20260205_030015.dump.gz.age"},
		"20260205_030015":             {"20260205_030015.dump.gz", "20260205_030015.dump.gz.age", "20260205_030015.dump.zst", "20260205_030015.dump.zst.age", "20260205_030015.dump.bz2", "20260205_030015.dump.bz2.age", "20260205_030015.dump", "20260205_030015.dump.age"},
		"../20260205_030015":          nil,
		"passwd":                      nil,
	} {
		if got := Candidates(ref); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("Candidates(%q) = %v, want %v", ref, got, want)
		}
	}
}
