package config

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var updateEnvTemplate = flag.Bool("update-env-template", false, "rewrite deploy/debian/rgz-backup.env from EnvTemplate")

const envTemplateFile = "../../deploy/debian/rgz-backup.env"

// The package's env file is the template of every variable, and once
// the required values are filled it is a valid configuration.
func TestEnvTemplate(t *testing.T) {
	if *updateEnvTemplate {
		if err := os.WriteFile(envTemplateFile, []byte(EnvTemplate()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(envTemplateFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != EnvTemplate() {
		t.Fatalf("%s is not EnvTemplate(): go test ./internal/config -run EnvTemplate -args -update-env-template", envTemplateFile)
	}
	for _, v := range Variables {
		if !strings.Contains(string(b), v.Name+"=") {
			t.Errorf("%s is not in the template", v.Name)
		}
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[k] = v
		}
	}
	if _, err := Load(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "POSTGRES_") {
		t.Fatalf("the template as shipped should ask for the database: %v", err)
	}
	env["POSTGRES_USER"], env["POSTGRES_DB"] = "rgz", "rgz"
	cfg, err := Load(func(k string) string { return env[k] })
	if err != nil || cfg.LocalDir != "/var/lib/rgz-backup/backups" {
		t.Fatalf("the template once filled: %v %s", err, cfg.LocalDir)
	}
}
