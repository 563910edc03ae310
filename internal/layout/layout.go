// Package layout names the files of a backup directory and reads and
// writes the ones kept beside the dumps: the .sha256, the manifest (the
// catalog row, so that a backup describes itself when the catalog is
// lost), the globals, the restore tests kept beside, the notes of attempts
// that failed while the catalog was unreachable, and the dumps recovery
// moved aside. Every other package asks here for a name.
package layout

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// The sidecars' suffixes, after the dump's own name.
const (
	SHA256Suffix       = ".sha256"
	ManifestSuffix     = ".manifest.json"
	RestoreTestsSuffix = ".restore-tests.json"
	// GlobalsSuffix follows the dump's stem (its name up to the first dot).
	GlobalsSuffix = ".globals.sql.gz"
)

// UnverifiedPrefix hides a dump that recovery could not vouch for.
const UnverifiedPrefix = ".unverified-"

// Files are the paths of everything a backup keeps: the dump and its
// sidecars.
type Files struct {
	Dump         string
	SHA256       string
	Manifest     string
	Globals      string
	RestoreTests string
}

// All is the dump, then its sidecars.
func (f Files) All() []string { return append([]string{f.Dump}, f.Sidecars()...) }

// Sidecars are the files beside the dump.
func (f Files) Sidecars() []string {
	return []string{f.SHA256, f.Manifest, f.Globals, f.RestoreTests}
}

// Of are a backup's files: beside its file_path when the row has one,
// else in dir. A row is read from the catalog or from a manifest, which
// anyone with write access to a destination could have written: its names
// must be ones the tool gives (IsDumpName, IsGlobalsName) and its files
// must lie in dir or below it (Within), or nothing is located — so that
// nothing is ever read for a restore, written or deleted elsewhere.
func Of(row catalog.Execution, dir string) (Files, error) {
	names, err := NamesOf(row)
	if err != nil {
		return Files{}, err
	}
	root := dir
	if row.FilePath != nil {
		dir = filepath.Dir(*row.FilePath)
		if filepath.Base(*row.FilePath) != row.Filename {
			return Files{}, fmt.Errorf("backup %s: its file_path %s names another file", row.Filename, *row.FilePath)
		}
	}
	if err := Within(root, dir); err != nil {
		return Files{}, fmt.Errorf("backup %s: %w", row.Filename, err)
	}
	dump := filepath.Join(dir, names.Dump)
	return Files{Dump: dump, SHA256: dump + SHA256Suffix, Manifest: dump + ManifestSuffix,
		Globals: filepath.Join(dir, names.Globals), RestoreTests: RestoreTestsFile(dump)}, nil
}

// In are a backup's files in dir, wherever its row says it was: a
// manifest read in dir, or files brought from another directory or host.
// The names are checked as Of checks them.
func In(row catalog.Execution, dir string) (Files, error) {
	row.FilePath = nil
	return Of(row, dir)
}

// NamesOf are a backup's file names (no directory), checked: the dump's
// and the globals' must be names the tool gives. The sidecars' follow.
func NamesOf(row catalog.Execution) (Files, error) {
	if !IsDumpName(row.Filename) {
		return Files{}, fmt.Errorf("%.80q is not a backup's name (%s)", row.Filename, DumpNameHint)
	}
	globals := GlobalsName(row.Filename)
	if row.GlobalsFilename != nil {
		globals = *row.GlobalsFilename
	}
	if !IsGlobalsName(globals) {
		return Files{}, fmt.Errorf("backup %s: %.80q is not a globals file's name", row.Filename, globals)
	}
	dump := row.Filename
	return Files{Dump: dump, SHA256: dump + SHA256Suffix, Manifest: dump + ManifestSuffix,
		Globals: globals, RestoreTests: RestoreTestsFile(dump)}, nil
}

// Folder is where a backup's copies go below each destination's root:
// FolderOf(TARGET, DATABASE) when its file is in that database's own
// directory (DatabaseDir: several databases, issue 16), else "" (today's
// one database, whose keys stay YYYY/MM/FILE). A directory named before
// names were encoded, by the raw name, is still recognised when the raw
// name is one plain segment, so that its copies keep their keys.
func Folder(row catalog.Execution) string {
	if row.FilePath == nil || row.DatabaseName == nil || row.TargetName == "" {
		return ""
	}
	dir := filepath.Dir(*row.FilePath)
	base, parent := filepath.Base(dir), filepath.Base(filepath.Dir(dir))
	if base == Segment(*row.DatabaseName) && parent == Segment(row.TargetName) {
		return FolderOf(row.TargetName, *row.DatabaseName)
	}
	if base == *row.DatabaseName && parent == row.TargetName && legacySegment(base) && legacySegment(parent) {
		return parent + "/" + base
	}
	return ""
}

// LocalPathOf is where the backup whose dump a destination holds under
// key lives, or lived, below root: its database's directory when the key
// is in its database's folder (Folder), root itself for the flat keys of
// one database. A key that is neither — a manifest put in another
// database's folder, under another month, or under another name — is
// refused: it is not where the tool would have put that backup.
func LocalPathOf(row catalog.Execution, root, key string) (string, error) {
	date := row.BackupDate.UTC().Format("2006/01") + "/" + row.Filename
	db := ""
	if row.DatabaseName != nil {
		db = *row.DatabaseName
	}
	folder := FolderOf(row.TargetName, db)
	switch {
	case key == date:
		return filepath.Join(root, row.Filename), nil
	case key == folder+"/"+date:
		dir, err := DatabaseDir(root, row.TargetName, db)
		if err != nil {
			return "", err
		}
		return filepath.Join(dir, row.Filename), nil
	case legacySegment(row.TargetName) && legacySegment(db) && key == row.TargetName+"/"+db+"/"+date:
		return filepath.Join(root, row.TargetName, db, row.Filename), nil
	}
	return "", fmt.Errorf("%s is not where backup %s of %s/%s would be copied", key, row.Filename, row.TargetName, db)
}

// legacySegment says whether a folder named by a raw name (before
// Segment) is one safe level: no separator, not hidden, no NUL.
func legacySegment(s string) bool {
	return s != "" && !strings.HasPrefix(s, ".") && !strings.ContainsAny(s, "/\\\x00")
}

// GlobalsName is the globals file of the dump named dumpName.
func GlobalsName(dumpName string) string {
	stem, _, _ := strings.Cut(dumpName, ".")
	return stem + GlobalsSuffix
}

// RestoreTestsFile is the sidecar beside a dump that keeps its restore
// tests' outcomes, so that they outlive the catalog (catalog rebuild).
func RestoreTestsFile(dumpPath string) string { return dumpPath + RestoreTestsSuffix }
