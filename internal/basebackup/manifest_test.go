package basebackup

import (
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/wal"
)

func TestParseManifest(t *testing.T) {
	t.Parallel()
	good := `{ "PostgreSQL-Backup-Manifest-Version": 1,
"Files": [ { "Path": "PG_VERSION", "Size": 3, "Last-Modified": "2026-12-06 10:00:00 GMT", "Checksum-Algorithm": "SHA256", "Checksum": "ab" } ],
"WAL-Ranges": [
{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000100" }
],
"Manifest-Checksum": "00" }`
	m, err := ParseManifest([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if m.Start() != (WALRange{1, 0x2000028, 0x2000100}) || m.End() != m.Start() {
		t.Fatalf("%+v", m)
	}
	two := strings.Replace(good, `{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000100" }`,
		`{ "Timeline": 2, "Start-LSN": "0/3000000", "End-LSN": "1/10" }, { "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/3000000" }`, 1)
	if m, err = ParseManifest([]byte(two)); err != nil || m.End().End != wal.LSN(1<<32|0x10) || m.Start().Timeline != 1 {
		t.Fatalf("two ranges: %+v %v", m, err)
	}
	for name, bad := range map[string]string{
		"not JSON":     "PGDMP",
		"not manifest": `{"WAL-Ranges": []}`,
		"no ranges":    `{"PostgreSQL-Backup-Manifest-Version": 1, "WAL-Ranges": []}`,
		"bad LSN":      `{"PostgreSQL-Backup-Manifest-Version": 1, "WAL-Ranges": [{"Timeline": 1, "Start-LSN": "x", "End-LSN": "0/1"}]}`,
		"backwards":    `{"PostgreSQL-Backup-Manifest-Version": 1, "WAL-Ranges": [{"Timeline": 1, "Start-LSN": "0/5", "End-LSN": "0/1"}]}`,
		"no timeline":  `{"PostgreSQL-Backup-Manifest-Version": 1, "WAL-Ranges": [{"Start-LSN": "0/1", "End-LSN": "0/2"}]}`,
	} {
		if _, err := ParseManifest([]byte(bad)); err == nil || !strings.Contains(err.Error(), "backup_manifest") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
