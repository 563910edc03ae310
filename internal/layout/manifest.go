package layout

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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

// Manifests reads every manifest in dir, newest backup first. Hidden files
// (an attempt's leftovers) are not backups.
func Manifests(dir string) ([]catalog.Execution, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*"+ManifestSuffix))
	if err != nil {
		return nil, err
	}
	var rows []catalog.Execution
	for i := len(paths) - 1; i >= 0; i-- { // names sort by date
		if strings.HasPrefix(filepath.Base(paths[i]), ".") {
			continue
		}
		row, err := ReadManifest(paths[i])
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}
