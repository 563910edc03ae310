package filecheck

import (
	"context"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/dump"
)

// The archive read to its end: by the walk in this process for the
// versions it knows, by pg_restore for a newer one (never "unknown, so
// good").
func TestToTheEndChoosesByVersion(t *testing.T) {
	for _, c := range []struct {
		name, archive, says string
	}{
		{"a known version cut short", "PGDMP\x01\x0e\x00\x04\x08\x01", "cut short"},
		{"a newer version, told by pg_restore", "PGDMP\x01\x11\x00\x04\x08\x01\x00\x00\x00\x00\x00", "pg_restore: "},
		{"fewer bytes than a header", "PGD", "cut short"},
		{"no archive", "", "cut short"},
	} {
		full := &toTheEnd{ctx: context.Background(), tools: dump.Tools{}}
		for _, b := range []byte(c.archive) { // byte by byte: the choice waits for the head
			if _, err := full.Write([]byte{b}); err != nil {
				t.Fatal(err)
			}
		}
		if err := full.Close(); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %q", c.name, err, c.says)
		}
	}
}
