package api

import (
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/layout"
)

// Request parsing never panics, and what it accepts is well-formed.
func FuzzParseTestRestore(f *testing.F) {
	for _, seed := range []string{``, `{}`, `{"backup_filename": "20260205_030000.dump.gz"}`, `{"backup_filename": "../../etc/passwd"}`,
		`{"backup_filename": 1}`, `[]`, `{"a": 1}`, `{"backup_filename": "x"} {}`, "\x00"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseTestRestore(body)
		if err == nil && req.BackupFilename != "" && !layout.IsDumpName(req.BackupFilename) {
			t.Fatalf("accepted %q", req.BackupFilename)
		}
		if strings.Contains(req.BackupFilename, "/") && err == nil {
			t.Fatalf("accepted a path: %q", req.BackupFilename)
		}
	})
}
