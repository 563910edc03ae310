// Package layout names the files of a backup directory and reads and
// writes the ones kept beside the dumps: the .sha256, the manifest (the
// catalog row, so that a backup describes itself when the catalog is
// lost), the globals, the restore tests kept beside, the notes of attempts
// that failed while the catalog was unreachable, and the dumps recovery
// moved aside. Every other package asks here for a name.
package layout

import (
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

// Of are a backup's files in dir (or beside its file_path, when the row
// has one).
func Of(row catalog.Execution, dir string) Files {
	if row.FilePath != nil {
		dir = filepath.Dir(*row.FilePath)
	}
	dump := filepath.Join(dir, row.Filename)
	globals := GlobalsName(row.Filename)
	if row.GlobalsFilename != nil {
		globals = *row.GlobalsFilename
	}
	return Files{Dump: dump, SHA256: dump + SHA256Suffix, Manifest: dump + ManifestSuffix,
		Globals: filepath.Join(dir, globals), RestoreTests: RestoreTestsFile(dump)}
}

// Folder is where a backup's copies go below each destination's root:
// "TARGET/DATABASE" when its file is in BACKUP_LOCAL_DIR/TARGET/DATABASE
// (several databases: issue 16), else "" (today's one database, whose
// keys stay YYYY/MM/FILE).
func Folder(row catalog.Execution) string {
	if row.FilePath == nil || row.DatabaseName == nil || row.TargetName == "" {
		return ""
	}
	dir := filepath.Dir(*row.FilePath)
	if filepath.Base(dir) != *row.DatabaseName || filepath.Base(filepath.Dir(dir)) != row.TargetName {
		return ""
	}
	return row.TargetName + "/" + *row.DatabaseName
}

// GlobalsName is the globals file of the dump named dumpName.
func GlobalsName(dumpName string) string {
	stem, _, _ := strings.Cut(dumpName, ".")
	return stem + GlobalsSuffix
}

// RestoreTestsFile is the sidecar beside a dump that keeps its restore
// tests' outcomes, so that they outlive the catalog (catalog rebuild).
func RestoreTestsFile(dumpPath string) string { return dumpPath + RestoreTestsSuffix }
