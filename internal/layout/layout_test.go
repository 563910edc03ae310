package layout

import (
	"testing"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// With several databases a backup's copies go below TARGET/DATABASE; today's
// one database keeps YYYY/MM/FILE.
func TestFolder(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	for _, c := range []struct {
		name string
		row  catalog.Execution
		want string
	}{
		{"flat layout", catalog.Execution{TargetName: "default", DatabaseName: str("rgz"), FilePath: str("/backups/20260205_030000.dump.gz")}, ""},
		{"several databases", catalog.Execution{TargetName: "default", DatabaseName: str("rgz"), FilePath: str("/backups/default/rgz/20260205_030000.dump.gz")}, "default/rgz"},
		{"another server", catalog.Execution{TargetName: "site-b", DatabaseName: str("radius"), FilePath: str("/backups/site-b/radius/x.dump.gz")}, "site-b/radius"},
		{"no file", catalog.Execution{TargetName: "site-b", DatabaseName: str("radius")}, ""},
		{"a directory named like another database", catalog.Execution{TargetName: "default", DatabaseName: str("rgz"), FilePath: str("/srv/default/billing/x.dump.gz")}, ""},
	} {
		if got := Folder(c.row); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
