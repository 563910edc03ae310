package locate

import (
	"errors"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	for _, c := range []struct {
		from   string
		onDisk bool
		want   Step
	}{
		{"", true, UseLocal},
		{"", false, Fetch},
		{Local, true, UseLocal},
		{Local, false, Refuse},
		{"s3", true, Fetch}, // a copy asked for by name is read even when the local file is there
		{"sftp://rgz@nas/srv", false, Fetch},
	} {
		if got := Decide(c.from, c.onDisk); got != c.want {
			t.Errorf("Decide(%q, %v) = %d, want %d", c.from, c.onDisk, got, c.want)
		}
	}
}

// One set of messages, whichever verb reads the file.
func TestMissingSaysWhy(t *testing.T) {
	deleted := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		m    Missing
		want string
	}{
		{Missing{File: "a.dump.gz", From: Local}, "a.dump.gz is not on local disk"},
		{Missing{File: "a.dump.gz", From: Local, Deleted: &deleted}, "a.dump.gz is not on local disk (deleted by retention on 2026-03-01 12:00:00 UTC)"},
		{Missing{File: "a.dump.gz", Fetch: errors.New("bucket unreachable")}, "a.dump.gz is not on local disk, and its copies cannot be read: bucket unreachable"},
		{Missing{File: "a.dump.gz", From: "azblob"}, "a.dump.gz has no copy in azblob"},
		{Missing{File: "a.dump.gz"}, "a.dump.gz is not on local disk and has no copy in S3 or BACKUP_DESTINATIONS"},
	} {
		if got := c.m.Error(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.m, got, c.want)
		}
	}
}
