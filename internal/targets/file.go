package targets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/schedule"
)

// File is a targets file (BACKUP_TARGETS_FILE): the servers one service
// backs up, each with its databases and what it does differently from the
// environment's settings. docs/TARGETS.md gives the schema.
type File struct {
	Targets []Target
}

// Target is one server and the databases on it to back up.
type Target struct {
	Line         int      // where it starts in the file
	Name         string   // [a-z0-9_-], unique: in paths, labels, subjects
	URL          string   // libpq URL of a database to connect to, no password
	PasswordEnv  string   // the variable holding the password, or
	PasswordFile string   // the file holding it (one line); neither: .pgpass, trust, peer
	Databases    []string // names, or "*"
	Exclude      []string // names and patterns

	// Overrides of the environment's settings; zero: the environment's.
	Schedule            string
	Compression         string
	RetentionDays       int
	Destinations        []string
	RestoreTestSchedule string
	TimeoutSeconds      int
	// PITR: whether serve streams this server's WAL (docs/PITR.md);
	// absent (nil): BACKUP_PITR_ENABLED.
	PITR *bool
}

// LineError is a problem at a line of the file.
type LineError struct {
	File string
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

var targetName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidName says whether name is a target's name: lowercase letters,
// digits, - and _, at most 63.
func ValidName(name string) bool { return targetName.MatchString(name) }

// targetKeys are the keys a target may have, as written in the file.
var targetKeys = []string{"name", "url", "password_env", "password_file", "databases", "exclude",
	"schedule", "compression", "retention_days", "destinations", "restore_test_schedule", "timeout_seconds", "pitr"}

// ReadFile reads and checks a targets file; its error names the line.
func ReadFile(name string) (File, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return File{}, err
	}
	return Parse(name, data)
}

// Parse reads and checks a targets file's content; name is for messages.
func Parse(name string, data []byte) (File, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(&doc)
	if err != nil && !errors.Is(err, io.EOF) {
		return File{}, yamlError(name, err)
	}
	if len(doc.Content) == 0 {
		return File{}, &LineError{name, 1, `empty: list the servers under "targets:"`}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return File{}, &LineError{name, root.Line, `must be a mapping with one key, "targets"`}
	}
	var list *yaml.Node
	for i := 0; i < len(root.Content); i += 2 {
		key, value := root.Content[i], root.Content[i+1]
		if key.Value != "targets" {
			return File{}, &LineError{name, key.Line, fmt.Sprintf("unknown key %q (the file has one key, \"targets\")", key.Value)}
		}
		list = value
	}
	if list == nil || list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		return File{}, &LineError{name, root.Line, `"targets" must list at least one server`}
	}
	var f File
	seen := map[string]int{}
	for _, node := range list.Content {
		t, err := readTarget(name, node)
		if err != nil {
			return File{}, err
		}
		if first, dup := seen[t.Name]; dup {
			return File{}, &LineError{name, t.Line, fmt.Sprintf("target %q is already named at line %d", t.Name, first)}
		}
		seen[t.Name] = t.Line
		f.Targets = append(f.Targets, t)
	}
	return f, nil
}

func readTarget(file string, node *yaml.Node) (Target, error) {
	fail := func(n *yaml.Node, format string, args ...any) (Target, error) {
		return Target{}, &LineError{file, n.Line, fmt.Sprintf(format, args...)}
	}
	if node.Kind != yaml.MappingNode {
		return fail(node, "a target must be a mapping (name:, url:, databases: …)")
	}
	t := Target{Line: node.Line}
	at := map[string]*yaml.Node{}
	for i := 0; i < len(node.Content); i += 2 {
		key, value := node.Content[i], node.Content[i+1]
		if !slices.Contains(targetKeys, key.Value) {
			return fail(key, "unknown key %q (known: %s)", key.Value, strings.Join(targetKeys, ", "))
		}
		at[key.Value] = value
		if err := value.Decode(fieldOf(&t, key.Value)); err != nil {
			return fail(value, "%s: %s", key.Value, firstLine(err))
		}
	}
	for _, required := range []string{"name", "url", "databases"} {
		if at[required] == nil {
			return fail(node, "a target needs %q", required)
		}
	}
	if !targetName.MatchString(t.Name) {
		return fail(at["name"], "name %q: lowercase letters, digits, - and _ (it goes into paths and metric labels)", t.Name)
	}
	d, err := config.ParseDatabaseURL(t.URL)
	switch {
	case err != nil:
		return fail(at["url"], "url %s: %s", config.RedactURL(t.URL, false), err)
	case d.Password != "":
		return fail(at["url"], "url: the password never goes in the file; name its variable (password_env) or its file (password_file)")
	case t.PasswordEnv != "" && t.PasswordFile != "":
		return fail(at["password_file"], "password_env and password_file: give one")
	}
	if err := checkDatabases(t); err != nil {
		return fail(at["databases"], "%s", err)
	}
	for _, p := range t.Exclude {
		if _, err := path.Match(p, ""); err != nil {
			return fail(at["exclude"], "exclude %q: a malformed pattern", p)
		}
	}
	for _, key := range []string{"schedule", "restore_test_schedule"} {
		if spec := *fieldOf(&t, key).(*string); at[key] != nil {
			if _, err := schedule.Parse(spec); err != nil {
				return fail(at[key], "%s %q: %s", key, spec, err)
			}
		}
	}
	if at["compression"] != nil && !slices.Contains(archive.Formats, archive.Format(t.Compression)) {
		return fail(at["compression"], "compression %q: one of %v", t.Compression, archive.Formats)
	}
	if at["retention_days"] != nil && (t.RetentionDays < 1 || t.RetentionDays > 36500) {
		return fail(at["retention_days"], "retention_days: from 1 to 36500")
	}
	if at["timeout_seconds"] != nil && (t.TimeoutSeconds < 1 || t.TimeoutSeconds > 7*24*3600) {
		return fail(at["timeout_seconds"], "timeout_seconds: from 1 to 604800")
	}
	for _, raw := range t.Destinations {
		if _, err := destination.ParseURL(raw); err != nil {
			return fail(at["destinations"], "destination %s: %s", config.RedactURL(raw, false), err)
		}
	}
	return t, nil
}

func checkDatabases(t Target) error {
	if len(t.Databases) == 0 {
		return errors.New(`databases: list names, or "*" for every database`)
	}
	for _, db := range t.Databases {
		switch {
		case db == "*" && len(t.Databases) > 1:
			return errors.New(`databases: "*" means every database: list names, or "*" alone`)
		case db != "*" && (db == "" || strings.ContainsAny(db, "*?[")):
			return fmt.Errorf("databases: %q is not a database name (patterns go in exclude)", db)
		case len(db) > config.MaxDatabaseName:
			return fmt.Errorf("databases: %.20q…: a PostgreSQL database name has at most 63 bytes", db)
		}
	}
	return nil
}

// fieldOf is where a key's value goes.
func fieldOf(t *Target, key string) any {
	switch key {
	case "name":
		return &t.Name
	case "url":
		return &t.URL
	case "password_env":
		return &t.PasswordEnv
	case "password_file":
		return &t.PasswordFile
	case "databases":
		return &t.Databases
	case "exclude":
		return &t.Exclude
	case "schedule":
		return &t.Schedule
	case "compression":
		return &t.Compression
	case "retention_days":
		return &t.RetentionDays
	case "destinations":
		return &t.Destinations
	case "restore_test_schedule":
		return &t.RestoreTestSchedule
	case "pitr":
		return &t.PITR
	default: // timeout_seconds
		return &t.TimeoutSeconds
	}
}

// yamlError turns the YAML library's error into one line naming the file
// and the line.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	msg := firstLine(err)
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := regexp.MustCompile(`line (\d+): (.*)`).FindStringSubmatch(msg); m != nil {
		var line int
		fmt.Sscan(m[1], &line)
		return &LineError{file, line, m[2]}
	}
	return fmt.Errorf("%s: %s", file, strings.TrimPrefix(msg, "yaml: "))
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return strings.TrimPrefix(s, "yaml: ")
}

// CheckPasswords says, for the environment getenv reads, whether every
// target's password can be found: its variable set, its file readable.
// `targets check` runs it where the service runs.
func (f File) CheckPasswords(file string, getenv func(string) string) error {
	for _, t := range f.Targets {
		switch {
		case t.PasswordEnv != "" && getenv(t.PasswordEnv) == "":
			return &LineError{file, t.Line, fmt.Sprintf("target %s: password_env %s is not set in this environment", t.Name, t.PasswordEnv)}
		case t.PasswordFile != "":
			fh, err := os.Open(t.PasswordFile)
			if err != nil {
				return &LineError{file, t.Line, fmt.Sprintf("target %s: password_file: %v", t.Name, err)}
			}
			fh.Close()
		}
	}
	return nil
}

// Summary is one line per target: its name, server and databases.
func (f File) Summary() []string {
	var out []string
	for _, t := range f.Targets {
		dbs := strings.Join(t.Databases, ", ")
		if slices.Equal(t.Databases, []string{"*"}) {
			dbs = "every database"
		}
		if len(t.Exclude) > 0 {
			dbs += " except " + strings.Join(t.Exclude, ", ")
		}
		out = append(out, fmt.Sprintf("%s  %s  %s", t.Name, config.RedactURL(t.URL, false), dbs))
	}
	return out
}
