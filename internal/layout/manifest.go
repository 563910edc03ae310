package layout

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
)

// Manifest is what FILE.manifest.json holds: the catalog row, so that a
// backup still describes itself when the catalog is lost with the database.
type Manifest struct {
	ManifestVersion int `json:"manifest_version"`
	catalog.Execution
}

// WriteManifest writes the manifest of the dump at dumpPath, atomically,
// and returns its path.
func WriteManifest(dumpPath string, row catalog.Execution) (string, error) {
	b, err := json.MarshalIndent(Manifest{ManifestVersion: 1, Execution: row}, "", "  ")
	if err != nil {
		return "", err
	}
	p := dumpPath + ManifestSuffix
	return p, archive.WriteFileAtomic(p, append(b, '\n'))
}

// WriteSHA256 writes FILE.sha256, which `sha256sum -c` accepts, and
// returns its path.
func WriteSHA256(dumpPath string, s archive.Sums) (string, error) {
	p := dumpPath + SHA256Suffix
	return p, archive.WriteFileAtomic(p, []byte(s.SHA256Hex()+"  "+filepath.Base(dumpPath)+"\n"))
}

// ReadManifest reads FILE.manifest.json: the row as it was when the backup
// was taken, for when the catalog is unreachable or lost.
func ReadManifest(path string) (catalog.Execution, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return catalog.Execution{}, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return catalog.Execution{}, fmt.Errorf("manifest %s: %w", path, err)
	}
	return m.Execution, nil
}

// CheckManifest says whether a manifest found under the name manifestName
// (FILE.manifest.json, in a directory or a destination) may be taken for
// the backup it describes: anyone who can write there could have written
// it, so its names must be the tool's (NamesOf), its dump the one it sits
// beside, and its target and database names ones a folder can hold.
func CheckManifest(row catalog.Execution, manifestName string) error {
	if _, err := NamesOf(row); err != nil {
		return fmt.Errorf("manifest %s: %w", manifestName, err)
	}
	if manifestName != row.Filename+ManifestSuffix {
		return fmt.Errorf("manifest %s describes another file, %s", manifestName, row.Filename)
	}
	if stem, _, _ := strings.Cut(row.Filename, "."); stem != row.BackupDate.UTC().Format(stemLayout) {
		return fmt.Errorf("manifest %s: the backup's date %s is not its name's", manifestName, row.BackupDate.UTC().Format(time.RFC3339))
	}
	db := ""
	if row.DatabaseName != nil {
		db = *row.DatabaseName
	}
	if _, err := DatabaseDir("/", row.TargetName, db); err != nil {
		return fmt.Errorf("manifest %s: %w", manifestName, err)
	}
	return nil
}

// Manifests reads every manifest in dir, newest backup first, each row's
// file_path where the manifest was found (a directory brought to another
// host has other paths). Hidden files (an attempt's leftovers) are not
// backups. A manifest that does not read, or that CheckManifest refuses,
// is left out and said in refused: one bad file never hides the others.
func Manifests(dir string) (rows []catalog.Execution, refused []string, err error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*"+ManifestSuffix))
	if err != nil {
		return nil, nil, err
	}
	for i := len(paths) - 1; i >= 0; i-- { // names sort by date
		if strings.HasPrefix(filepath.Base(paths[i]), ".") {
			continue
		}
		row, err := ReadManifest(paths[i])
		if err == nil {
			err = CheckManifest(row, filepath.Base(paths[i]))
		}
		if err != nil {
			refused = append(refused, fmt.Sprintf("%s: %v", paths[i], err))
			continue
		}
		path := filepath.Join(dir, row.Filename)
		row.FilePath = &path
		rows = append(rows, row)
	}
	return rows, refused, nil
}
