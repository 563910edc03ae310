// Package notify tells people what happened: an email (text and HTML parts
// from the template files in templates/, in French or English) and a JSON
// webhook, for a good backup, a failed one (once per run, after its last
// attempt), a backup left without its S3 copy, and a failed restore test.
// Composing is a pure function; sending is SMTP (go-mail) and HTTP.
package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"text/template"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/report"
)

// Kinds of events.
const (
	BackupSuccess     = "backup_success"
	BackupFailed      = "backup_failed"
	BackupPartial     = "backup_partial"
	RestoreTestFailed = "restore_test_failed"
	// A run over several databases (BACKUP_DATABASES) is told in one mail:
	BackupRunSuccess = "backup_run_success" // every database backed up, every copy there
	BackupRunFailed  = "backup_run_failed"  // one or more failed or lack a copy
	// Point-in-time recovery (docs/PITR.md):
	PITRRestoreTestFailed = "pitr_restore_test_failed"
	PITRArchiveBroken     = "pitr_archive_broken" // a gap, a bad copy, a lost slot: told once
)

// Event is something to tell.
type Event struct {
	Kind        string               `json:"event"`
	Backup      catalog.Execution    `json:"backup"`
	Attempts    []catalog.Execution  `json:"attempts,omitempty"` // the run's attempts, oldest first
	NextRun     time.Time            `json:"next_run,omitzero"`
	RestoreTest *catalog.RestoreTest `json:"restore_test,omitempty"`
	Host        string               `json:"host"`
	// Server is the backed-up server (HOST:PORT), named in the mail
	// whatever failed, even before it was reached.
	Server string `json:"server,omitempty"`
	// Run is every database's last row in a run over several (kinds
	// BackupRun*), in order.
	Run []catalog.Execution `json:"run,omitempty"`
	// PITRRestoreTest is a point-in-time restore test (its kinds).
	PITRRestoreTest *catalog.PITRRestoreTest `json:"pitr_restore_test,omitempty"`
	// PITRCheck is what broke an archive (kind PITRArchiveBroken).
	PITRCheck *catalog.ArchiveCheck `json:"pitr_check,omitempty"`
}

// ForRun is the one event of a run over several databases: each
// database's row (a failed one where nothing was recorded says so too).
func ForRun(rows []catalog.Execution, host string) Event {
	e := Event{Kind: BackupRunSuccess, Run: rows, Host: host}
	for _, r := range rows {
		if r.Status != catalog.StatusSuccess {
			e.Kind = BackupRunFailed
		}
	}
	return e
}

// ForBackup is the event a run's last row calls for: success, partial (no
// S3 copy) or failed; server is the backed-up server (config's Server).
func ForBackup(row catalog.Execution, host, server string) Event {
	e := Event{Kind: BackupSuccess, Backup: row, Attempts: []catalog.Execution{row}, Host: host, Server: server}
	switch row.Status {
	case catalog.StatusPartial:
		e.Kind = BackupPartial
	case catalog.StatusFailed:
		e.Kind = BackupFailed
	}
	return e
}

// Message is what is sent.
type Message struct {
	Subject string
	Text    string
	HTML    string
}

//go:embed templates/*.tmpl
var templateFiles embed.FS

var (
	// Each language's file defines the same blocks, one per kind of event.
	textTemplates = map[string]*template.Template{
		"fr": template.Must(template.ParseFS(templateFiles, "templates/fr.txt.tmpl")),
		"en": template.Must(template.ParseFS(templateFiles, "templates/en.txt.tmpl")),
	}
	pageTemplate = htmltemplate.Must(htmltemplate.ParseFS(templateFiles, "templates/page.html.tmpl"))
)

// Subject is the specification's form: "Backup OK — 1.2 GB — checksum f7e42c9f",
// "Backup FAILED — <reason>"; mail filters rely on it, in every language.
// A backup of a server other than the environment's (a targets file) ends
// with " — TARGET/DATABASE".
func Subject(e Event) string {
	subject := subjectOf(e)
	if t := e.Backup.TargetName; t != "" && t != catalog.DefaultTarget && len(e.Run) == 0 {
		subject += " — " + QualifiedName(e.Backup)
	}
	return subject
}

// QualifiedName names a row's database: "DATABASE" on the environment's
// server, "TARGET/DATABASE" on another.
func QualifiedName(r catalog.Execution) string {
	if r.TargetName == "" || r.TargetName == catalog.DefaultTarget {
		return deref(r.DatabaseName)
	}
	return r.TargetName + "/" + deref(r.DatabaseName)
}

func subjectOf(e Event) string {
	switch e.Kind {
	case BackupSuccess:
		size := ""
		if e.Backup.FileSizeBytes != nil {
			size = OneDecimal(*e.Backup.FileSizeBytes)
		}
		return fmt.Sprintf("Backup OK — %s — checksum %s", size, deref(e.Backup.ChecksumCRC32))
	case BackupFailed:
		return "Backup FAILED — " + firstLine(deref(e.Backup.ErrorMessage), 120)
	case BackupPartial:
		return "Backup PARTIAL — a copy is missing — " + firstLine(deref(e.Backup.ErrorMessage), 100)
	case RestoreTestFailed:
		name := ""
		if e.RestoreTest != nil {
			name = e.RestoreTest.BackupFilename
		}
		return "Restore test FAILED — " + name
	case PITRRestoreTestFailed:
		target := ""
		if t := e.PITRRestoreTest; t != nil && t.Target != nil {
			target = t.Target.UTC().Format(time.RFC3339)
		}
		return "Point-in-time restore test FAILED — " + target
	case PITRArchiveBroken:
		problem := ""
		if c := e.PITRCheck; c != nil && len(c.Problems) > 0 {
			problem = firstLine(c.Problems[0], 100)
		}
		return "Point-in-time archive BROKEN — " + problem
	case BackupRunSuccess:
		var total int64
		for _, r := range e.Run {
			if r.FileSizeBytes != nil {
				total += *r.FileSizeBytes
			}
		}
		return fmt.Sprintf("Backup OK — %d databases — %s", len(e.Run), OneDecimal(total))
	case BackupRunFailed:
		var bad []string
		for _, r := range e.Run {
			if r.Status != catalog.StatusSuccess {
				bad = append(bad, QualifiedName(r))
			}
		}
		return fmt.Sprintf("Backup FAILED — %d of %d databases — %s", len(bad), len(e.Run), firstLine(strings.Join(bad, ", "), 100))
	}
	return "rgz-backup: " + e.Kind
}

// Compose renders an event in lang (fr or en).
func Compose(e Event, lang string) (Message, error) {
	if lang != "en" {
		lang = "fr"
	}
	v := view{Host: e.Host, Server: e.Server, Report: report.TextIn(e.Backup, lang),
		Backup: rowView{Filename: e.Backup.Filename, Database: QualifiedName(e.Backup), Error: deref(e.Backup.ErrorMessage)}}
	if deref(e.Backup.DatabaseName) == "" {
		v.Backup.Database = map[string]string{"en": "the configured database", "fr": "la base configurée"}[lang]
	}
	if !e.NextRun.IsZero() {
		v.NextRun = e.NextRun.UTC().Format("2006-01-02 15:04:05") + " UTC"
	}
	for _, a := range e.Attempts {
		v.Attempts = append(v.Attempts, attemptView{Attempt: a.Attempt, At: a.BackupDate.UTC().Format("2006-01-02 15:04:05") + " UTC",
			Error: deref(a.ErrorMessage)})
		if a.Status == catalog.StatusFailed && e.Kind == BackupSuccess {
			v.FailedBefore++
		}
	}
	for _, r := range e.Run {
		rv := runView{Database: QualifiedName(r), Status: statusWords[lang][r.Status], Filename: r.Filename, Error: firstLine(deref(r.ErrorMessage), 200)}
		if r.FileSizeBytes != nil {
			rv.Size = OneDecimal(*r.FileSizeBytes)
		}
		if r.Status != catalog.StatusSuccess {
			v.RunFailed++
		}
		v.Run = append(v.Run, rv)
	}
	if t := e.RestoreTest; t != nil {
		v.RestoreTest = &testView{BackupFilename: t.BackupFilename, Error: deref(t.ErrorMessage), Mismatches: t.Mismatches}
	}
	if t := e.PITRRestoreTest; t != nil {
		v.PITR = &pitrView{Base: t.BaseBackupLabel, Error: t.Error, Problems: t.Problems, Kind: string(t.Kind)}
		if t.Target != nil {
			v.PITR.Target = t.Target.UTC().Format("2006-01-02 15:04:05") + " UTC"
		}
		if t.SystemID != 0 {
			v.PITR.SystemID = fmt.Sprint(t.SystemID)
		}
	}
	if c := e.PITRCheck; c != nil {
		v.PITR = &pitrView{Problems: c.Problems, SystemID: fmt.Sprint(c.SystemID)}
	}
	var text bytes.Buffer
	if err := textTemplates[lang].ExecuteTemplate(&text, e.Kind, v); err != nil {
		return Message{}, fmt.Errorf("compose %s: %w", e.Kind, err)
	}
	m := Message{Subject: Subject(e), Text: strings.TrimSpace(text.String()) + "\n"}
	var html bytes.Buffer
	ok := e.Kind == BackupSuccess || e.Kind == BackupRunSuccess
	if err := pageTemplate.ExecuteTemplate(&html, "page", map[string]any{"Subject": m.Subject, "Text": m.Text, "OK": ok}); err != nil {
		return Message{}, fmt.Errorf("compose %s: %w", e.Kind, err)
	}
	m.HTML = html.String()
	return m, nil
}

// statusWords are a row's status as each language says it.
var statusWords = map[string]map[catalog.Status]string{
	"en": {catalog.StatusSuccess: "success", catalog.StatusFailed: "failed", catalog.StatusPartial: "partial (a copy is missing)"},
	"fr": {catalog.StatusSuccess: "réussie", catalog.StatusFailed: "en échec", catalog.StatusPartial: "partielle (une copie manque)"},
}

type view struct {
	Server       string
	Backup       rowView
	Attempts     []attemptView
	FailedBefore int
	Report       string
	NextRun      string
	RestoreTest  *testView
	Host         string
	Run          []runView // a run over several databases
	RunFailed    int
	PITR         *pitrView
}

type pitrView struct {
	Target, Base, Error, Kind, SystemID string
	Problems                            []string
}

type runView struct{ Database, Status, Filename, Size, Error string }

type rowView struct{ Filename, Database, Error string }

type attemptView struct {
	Attempt   int
	At, Error string
}

type testView struct {
	BackupFilename, Error string
	Mismatches            []string
}

// OneDecimal is a size as the specification's subject writes it: "1.2 GB".
func OneDecimal(n int64) string { return report.BytesWith(n, 1) }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}
