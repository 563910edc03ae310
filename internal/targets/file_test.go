package targets

import (
	"errors"
	"strings"
	"testing"
)

const goodFile = `# two servers
targets:
  - name: rgz-db
    url: postgres://backup@rgz-db:5432/postgres
    password_env: RGZ_DB_PASSWORD
    databases: ["*"]
    exclude: [test_*]
  - name: billing
    url: postgres://backup@billing:5432/billing
    password_file: /etc/rgz-backup/billing.pass
    databases: [billing, invoices]
    schedule: "0 4 * * *"
    compression: zstd
    retention_days: 60
    destinations: ["sftp://rgz@site-b/srv/billing"]
    restore_test_schedule: "0 6 * * 0"
    timeout_seconds: 7200
`

func TestParseTargetsFile(t *testing.T) {
	t.Parallel()
	f, err := Parse("targets.yaml", []byte(goodFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Targets) != 2 {
		t.Fatalf("%+v", f)
	}
	a, b := f.Targets[0], f.Targets[1]
	if a.Name != "rgz-db" || a.Line != 3 || a.PasswordEnv != "RGZ_DB_PASSWORD" || len(a.Databases) != 1 || a.Exclude[0] != "test_*" {
		t.Fatalf("first: %+v", a)
	}
	if b.Line != 8 || b.Compression != "zstd" || b.RetentionDays != 60 || b.TimeoutSeconds != 7200 || b.Databases[1] != "invoices" ||
		b.Schedule != "0 4 * * *" || len(b.Destinations) != 1 {
		t.Fatalf("second: %+v", b)
	}
}

// Every mistake is one line naming the file's line and the problem.
func TestTargetsFileErrorsNameTheLine(t *testing.T) {
	t.Parallel()
	target := func(extra string) string {
		return "targets:\n  - name: a\n    url: postgres://u@h/db\n    databases: [db]\n" + extra
	}
	cases := []struct {
		name, file string
		line       int
		has        string
	}{
		{"empty", "", 1, "targets"},
		{"not YAML", "targets: [\n", 1, "expected"},
		{"another top key", "servers: []\n", 1, `unknown key "servers"`},
		{"no targets", "targets: []\n", 1, "at least one"},
		{"unknown key", target("    pasword_env: X\n"), 5, `unknown key "pasword_env"`},
		{"a number for a name", "targets:\n  - name: [a]\n    url: postgres://u@h/db\n    databases: [db]\n", 2, "name"},
		{"missing url", "targets:\n  - name: a\n    databases: [db]\n", 2, `needs "url"`},
		{"bad name", "targets:\n  - name: RGZ DB\n    url: postgres://u@h/db\n    databases: [db]\n", 2, "lowercase"},
		{"password in the url", "targets:\n  - name: a\n    url: postgres://u:hunter2@h/db\n    databases: [db]\n", 3, "password never goes in the file"},
		{"both password sources", target("    password_env: X\n    password_file: /f\n"), 6, "give one"},
		{"star among names", "targets:\n  - name: a\n    url: postgres://u@h/db\n    databases: ['*', db]\n", 4, `"*" alone`},
		{"pattern as a database", "targets:\n  - name: a\n    url: postgres://u@h/db\n    databases: [db_*]\n", 4, "exclude"},
		{"bad exclusion", target("    exclude: ['x[']\n"), 5, "malformed"},
		{"bad schedule", target("    schedule: every night\n"), 5, "schedule"},
		{"bad compression", target("    compression: lzma\n"), 5, "compression"},
		{"retention out of range", target("    retention_days: 0\n"), 5, "retention_days"},
		{"timeout not a number", target("    timeout_seconds: soon\n"), 5, "timeout_seconds"},
		{"bad destination", target("    destinations: ['ftp://x/y']\n"), 5, "unknown kind"},
		{"twice the same name", target("  - name: a\n    url: postgres://u@h/db\n    databases: [db]\n"), 5, "already named at line 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(c.file))
			var le *LineError
			if !errors.As(err, &le) || le.Line != c.line || !strings.Contains(le.Msg, c.has) || strings.Contains(err.Error(), "\n") ||
				strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("%v (%#v), want line %d saying %q", err, le, c.line, c.has)
			}
		})
	}
}
