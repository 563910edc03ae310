package layout

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Segment is the one way a name that comes from outside the program (a
// database's name, chosen by whoever may CREATE DATABASE; a target's name;
// a name read back from a manifest or a request) becomes a folder of the
// backup directory or a segment of a destination's key. It is reversible
// (ParseSegment) and never collides: ASCII letters, digits, '-', '_' and
// '.' stay as they are, except a '.' in first or last place (a leading one
// hides a file, a trailing one is dropped by SMB and Windows shares);
// every other byte is %XX (upper-case hex), '%' itself included. So the
// result is plain
// ASCII, never empty ("" is "%"), never hidden, never "." or "..", and
// holds no '/', '\', NUL or control character: it stays one level below
// where it is joined, on every file system and store. Two names that
// Unicode would normalise to the same text (é and e + U+0301) have
// different bytes, hence different segments. The names the tool uses
// today (rgz, site-b, billing_2) are their own segment, so existing
// folders keep their names.
func Segment(name string) string {
	if name == "" {
		return "%"
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if plainByte(c) && (c != '.' || i > 0 && i < len(name)-1) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func plainByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// ErrNotSegment is a folder or key segment that Segment did not make.
var ErrNotSegment = errors.New("not a name's segment")

// ParseSegment is the name whose Segment is seg; a seg that Segment would
// not have written (a stray '%', lower-case hex, a byte that should have
// been encoded) is refused, so that one name has one segment.
func ParseSegment(seg string) (string, error) {
	if seg == "%" {
		return "", nil
	}
	var b strings.Builder
	for i := 0; i < len(seg); i++ {
		if seg[i] != '%' {
			b.WriteByte(seg[i])
			continue
		}
		if i+2 >= len(seg) {
			return "", fmt.Errorf("%q: %w", seg, ErrNotSegment)
		}
		hi, lo := unhex(seg[i+1]), unhex(seg[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("%q: %w", seg, ErrNotSegment)
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	name := b.String()
	if Segment(name) != seg {
		return "", fmt.Errorf("%q: %w", seg, ErrNotSegment)
	}
	return name, nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// MaxSegment is the longest segment a folder may have: NAME_MAX on the
// file systems a backup directory lives on. A PostgreSQL name (63 bytes at
// most) is 189 bytes at worst, so only a name that is not a database's can
// be refused by it.
const MaxSegment = 255

// ErrOutside is a path that would leave the directory it must stay in.
var ErrOutside = errors.New("outside the backup directory")

// Within checks that p is root or below it, lexically (both are cleaned;
// no symbolic link is followed): the check made wherever a path is built
// from something a row, a manifest or a request says, before anything is
// written, read for a restore or deleted there.
func Within(root, p string) error {
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("%q holds a NUL byte: %w", p, ErrOutside)
	}
	rel, err := filepath.Rel(filepath.Clean(root), filepath.Clean(p))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return fmt.Errorf("%s is not in %s: %w", p, root, ErrOutside)
	}
	return nil
}

// DatabaseDir is where the backups of database on target go when the
// service backs up several: ROOT/SEGMENT(TARGET)/SEGMENT(DATABASE), two
// levels below root whatever the names hold. A name too long for a folder
// is refused.
func DatabaseDir(root, target, database string) (string, error) {
	t, d := Segment(target), Segment(database)
	if len(t) > MaxSegment || len(d) > MaxSegment {
		return "", fmt.Errorf("target %.40q, database %.40q: name too long for a folder", target, database)
	}
	dir := filepath.Join(root, t, d)
	if err := Within(root, dir); err != nil { // cannot happen: the segments are plain
		return "", err
	}
	return dir, nil
}

// FolderOf is the folder of database on target below a destination's
// root: SEGMENT(TARGET)/SEGMENT(DATABASE), as DatabaseDir is below
// BACKUP_LOCAL_DIR.
func FolderOf(target, database string) string { return Segment(target) + "/" + Segment(database) }

// stemLayout is the date a dump's name starts with, to the second.
const stemLayout = "20060102_150405"

// The names of the files the tool writes: a dump (its second, the
// compression's extension, age's when encrypted), and the globals beside
// it.
var (
	dumpName    = regexp.MustCompile(`^\d{8}_\d{6}\.dump(\.gz|\.zst|\.bz2)?(\.age)?$`)
	globalsName = regexp.MustCompile(`^\d{8}_\d{6}` + regexp.QuoteMeta(GlobalsSuffix) + `(\.age)?$`)
)

// IsDumpName says whether name is one the tool gives a backup's dump
// (20260205_030015.dump.gz, .dump.zst, .dump.bz2, .dump, each with .age
// when encrypted): the names accepted wherever a person or a request names
// a backup (API, console, CLI), and the only ones a row or a manifest may
// give for a dump.
func IsDumpName(name string) bool { return dumpName.MatchString(name) }

// IsGlobalsName says whether name is one the tool gives a globals file.
func IsGlobalsName(name string) bool { return globalsName.MatchString(name) }

// DumpNameHint says what IsDumpName accepts, for error messages.
const DumpNameHint = "YYYYMMDD_HHMMSS.dump, .dump.gz, .dump.zst or .dump.bz2, with .age when encrypted"

var stem = regexp.MustCompile(`^\d{8}_\d{6}$`)

// IsStem says whether s is a backup's date stem (20260205_030015), which
// names one backup: no two backups share a second (backup.FreeSecond).
func IsStem(s string) bool { return stem.MatchString(s) }

// Candidates are the dump names a person may mean by ref: the name
// itself, the encrypted file of that name (.age added: the runbook's
// names work whether backups are encrypted or not), or, for a stem,
// every name a backup of that second can have. None for anything else.
func Candidates(ref string) []string {
	switch {
	case IsDumpName(ref) && !strings.HasSuffix(ref, ".age"):
		return []string{ref, ref + ".age"}
	case IsDumpName(ref):
		return []string{ref}
	case IsStem(ref):
		var out []string
		for _, ext := range []string{".dump.gz", ".dump.zst", ".dump.bz2", ".dump"} {
			out = append(out, ref+ext, ref+ext+".age")
		}
		return out
	}
	return nil
}
