package api

import (
	"github.com/mosaique/rgz-backup/internal/layout"
	"strings"
	"testing"
	"time"
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

func FuzzParseListQuery(f *testing.F) {
	f.Add("30", "100", "")
	f.Add("0", "-1", "garbage")
	f.Add("3650", "1000", EncodeCursor(time.Date(2026, 2, 5, 3, 0, 0, 0, time.UTC), "00000000-0000-0000-0000-000000000001"))
	f.Fuzz(func(t *testing.T, days, limit, cursor string) {
		q, err := ParseListQuery(map[string][]string{"days": {days}, "limit": {limit}, "cursor": {cursor}})
		if err != nil {
			return
		}
		if q.Days < 1 || q.Days > 3650 || q.Limit < 1 || q.Limit > 1000 {
			t.Fatalf("accepted %+v", q)
		}
	})
}
