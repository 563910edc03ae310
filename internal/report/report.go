// Package report renders catalog rows for people: the end-of-backup report
// (the specification's "Exemple Backup"), the list of backups, what retention did,
// and human sizes.
package report

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/retention"
)

// Bytes is a decimal size as the specification's report writes it: "1.24 GB".
func Bytes(n int64) string { return BytesWith(n, 2) }

// BytesWith is Bytes with that many decimals ("1.2 GB" in a subject).
func BytesWith(n int64, decimals int) string {
	units := []string{"bytes", "kB", "MB", "GB", "TB"}
	f, i := float64(n), 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.*f %s", decimals, f, units[i])
}

// Grouped writes an integer with thousands separators: 1,240,000,000.
func Grouped(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

const stamp = "2006-01-02 15:04:05 UTC"

// Text is the report printed at the end of a backup and by `show`, in
// English: TextIn(e, "en").
func Text(e catalog.Execution) string { return TextIn(e, "en") }

// TextIn is the report in lang ("fr" or "en"; anything else is English):
// a failed backup says what to do; a good one describes itself section by
// section. Each language is whole: every label, date and number is the
// language's (the errors quoted are the programs' own words).
func TextIn(e catalog.Execution, lang string) string {
	p := page{fr: lang == "fr"}
	summary(&p, e)
	if e.Status == catalog.StatusFailed {
		p.line("")
		p.line(p.t("Manual action required: read the error above, fix its cause, then run"))
		p.line(p.t("`rgz-backup backup` and `rgz-backup verify --all`. Older backups are untouched."))
		return p.String()
	}
	for _, section := range []func(*page, catalog.Execution){metadata, contents, files, keptUntil, validation, concerns} {
		section(&p, e)
	}
	return p.String()
}

// page is a report being written, line by line, in English or French.
type page struct {
	strings.Builder
	fr bool
}

func (p *page) line(format string, args ...any) { fmt.Fprintf(p, format+"\n", args...) }

// t is an English line's French, on a French page (french lists every one:
// a test holds it whole).
func (p *page) t(english string) string {
	if f, ok := french[english]; ok && p.fr {
		return f
	}
	return english
}

// bytes and grouped write sizes and counts as the page's language does.
func (p *page) bytes(n int64) string {
	if !p.fr {
		return Bytes(n)
	}
	return strings.NewReplacer(".", ",", "bytes", "octets", "kB", "ko", "MB", "Mo", "GB", "Go", "TB", "To").Replace(Bytes(n))
}

func (p *page) grouped(n int64) string {
	if !p.fr {
		return Grouped(n)
	}
	return strings.ReplaceAll(Grouped(n), ",", "\u202f") // French groups with a narrow space
}

// trigger is what started a run, as the catalog says it or in French.
func (p *page) trigger(t catalog.Trigger) string {
	if !p.fr {
		return string(t)
	}
	if fr, ok := map[catalog.Trigger]string{catalog.TriggerScheduled: "planifiée", catalog.TriggerCatchUp: "rattrapage",
		catalog.TriggerManual: "manuelle", catalog.TriggerAPI: "par l'API"}[t]; ok {
		return fr
	}
	return string(t)
}

// day is the report's title date: "February 5, 2026", "5 février 2026".
func (p *page) day(t time.Time) string {
	if !p.fr {
		return t.Format("January 2, 2006")
	}
	months := []string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}
	return fmt.Sprintf("%d %s %d", t.Day(), months[t.Month()-1], t.Year())
}

// french is every line of the report in French.
var french = map[string]string{
	"BACKUP POSTGRESQL — %s":                             "SAUVEGARDE POSTGRESQL — %s",
	"Start:        %s":                                   "Début :       %s",
	"End:          %s":                                   "Fin :         %s",
	"Filename:     %s":                                   "Fichier :     %s",
	"Status:       SUCCESS ✓":                            "Statut :      SUCCÈS ✓",
	"Status:       PARTIAL (local copy good; see error)": "Statut :      PARTIELLE (la copie locale est bonne ; voir l'erreur)",
	"Status:       FAILED ✗":                             "Statut :      ÉCHEC ✗",
	"Attempt:      %d (%s, on %s)":                       "Tentative :   %d (%s, sur %s)",
	"Error:        %s":                                   "Erreur :      %s",
	"Duration:     %d seconds":                           "Durée :       %d secondes",
	"Manual action required: read the error above, fix its cause, then run":           "Action manuelle requise : lire l'erreur ci-dessus, en corriger la cause, puis lancer",
	"`rgz-backup backup` and `rgz-backup verify --all`. Older backups are untouched.": "`rgz-backup backup` et `rgz-backup verify --all`. Les sauvegardes précédentes sont intactes.",
	"Metadata:":                              "Métadonnées :",
	"  Size (compressed):   %s (%s bytes)":   "  Taille (compressée) :   %s (%s octets)",
	"  Size (uncompressed): %s (%s bytes)":   "  Taille (décompressée) : %s (%s octets)",
	"  Compression ratio:   %.0f%% (%s)":     "  Taux de compression :   %.0f %% (%s)",
	"  Encrypted (age) to:  %s":              "  Chiffrée (age) pour :   %s",
	"  Checksum CRC32:      %s":              "  Somme CRC32 :           %s",
	"  Checksum SHA-256:    %s":              "  Somme SHA-256 :         %s",
	"Contents (database %s; server %s; %s):": "Contenu (base %s ; serveur %s ; %s) :",
	"  Tables: %d   Indexes: %d   Triggers: %d   Sequences: %d   Functions: %d":                     "  Tables : %d   Index : %d   Déclencheurs : %d   Séquences : %d   Fonctions : %d",
	"  Views: %d   Materialized views: %d   Constraints: %d   Foreign keys: %d   Large objects: %d": "  Vues : %d   Vues matérialisées : %d   Contraintes : %d   Clés étrangères : %d   Objets larges : %d",
	"  Rows (exact, in the dump's snapshot), biggest tables:":                                       "  Lignes (exactes, dans l'instantané du dump), plus grandes tables :",
	"    - %s: %s rows":         "    - %s : %s lignes",
	"Files:":                    "Fichiers :",
	"  %s (sha256sum -c), %s":   "  %s (sha256sum -c), %s",
	"  %s (roles, tablespaces)": "  %s (rôles, tablespaces)",
	"  Uploaded S3: %s":         "  Copie S3 : %s",
	"Retention:":                "Rétention :",
	"  ARCEP copy: Keep until %s (%d days, compliance: first backup of %s)": "  Copie ARCEP : conservée jusqu'au %s (%d jours, conformité : première sauvegarde de %s)",
	"  Delete after: %s (%d days)":                                          "  Supprimée après le : %s (%d jours)",
	"  Deleted by retention: %s":                                            "  Supprimée par la rétention : %s",
	"Validation:":                                                           "Validation :",
	"  Re-read from disk: checksums match, decompresses to exactly what pg_dump wrote": "  Relue depuis le disque : sommes conformes, se décompresse exactement en ce que pg_dump a écrit",
	"  pg_restore --list check: OK ✓ (%d entries)":                                     "  Vérification pg_restore --list : OK ✓ (%d entrées)",
	"  Restore test: %s (%s)":         "  Test de restauration : %s (%s)",
	"  Restore test: not tested yet":  "  Test de restauration : pas encore testée",
	"SUSPECT — kept, but look at it:": "SUSPECTE — conservée, mais à examiner :",
	"Warnings:":                       "Avertissements :",
}

// list writes a heading and its items, when there are items.
func (p *page) list(heading string, items []string) {
	if len(items) == 0 {
		return
	}
	p.line("")
	p.line("%s", p.t(heading))
	for _, it := range items {
		p.line("  - %s", it)
	}
}

func summary(p *page, e catalog.Execution) {
	p.line(p.t("BACKUP POSTGRESQL — %s"), p.day(e.BackupDate))
	p.line("")
	p.line(p.t("Start:        %s"), e.BackupDate.Format(stamp))
	if e.FinishedAt != nil {
		p.line(p.t("End:          %s"), e.FinishedAt.Format(stamp))
	}
	p.line(p.t("Filename:     %s"), deref(e.FilePath, e.Filename))
	switch e.Status {
	case catalog.StatusSuccess:
		p.line(p.t("Status:       SUCCESS ✓"))
	case catalog.StatusPartial:
		p.line(p.t("Status:       PARTIAL (local copy good; see error)"))
	default:
		p.line(p.t("Status:       FAILED ✗"))
	}
	p.line(p.t("Attempt:      %d (%s, on %s)"), e.Attempt, p.trigger(e.TriggeredBy), deref(e.Hostname, "?"))
	if e.ErrorMessage != nil {
		p.line(p.t("Error:        %s"), *e.ErrorMessage)
	}
	if e.DurationSeconds != nil {
		p.line(p.t("Duration:     %d seconds"), *e.DurationSeconds)
	}
}

func metadata(p *page, e catalog.Execution) {
	p.line("")
	p.line(p.t("Metadata:"))
	if e.FileSizeBytes != nil {
		p.line(p.t("  Size (compressed):   %s (%s bytes)"), p.bytes(*e.FileSizeBytes), p.grouped(*e.FileSizeBytes))
	}
	if e.UncompressedSizeBytes != nil {
		p.line(p.t("  Size (uncompressed): %s (%s bytes)"), p.bytes(*e.UncompressedSizeBytes), p.grouped(*e.UncompressedSizeBytes))
	}
	if e.FileSizeBytes != nil && e.UncompressedSizeBytes != nil && *e.UncompressedSizeBytes > 0 {
		p.line(p.t("  Compression ratio:   %.0f%% (%s)"), 100*(1-float64(*e.FileSizeBytes)/float64(*e.UncompressedSizeBytes)), compression(e))
	}
	if e.Encrypted {
		p.line(p.t("  Encrypted (age) to:  %s"), strings.Join(e.EncryptionRecipients, ", "))
	}
	p.line(p.t("  Checksum CRC32:      %s"), deref(e.ChecksumCRC32, "-"))
	p.line(p.t("  Checksum SHA-256:    %s"), deref(e.ChecksumSHA256, "-"))
}

func contents(p *page, e catalog.Execution) {
	p.line("")
	p.line(p.t("Contents (database %s; server %s; %s):"), deref(e.DatabaseName, "?"), deref(e.ServerVersion, "?"), deref(e.PgDumpVersion, "pg_dump ?"))
	c := e.ObjectCounts
	p.line(p.t("  Tables: %d   Indexes: %d   Triggers: %d   Sequences: %d   Functions: %d"), c.Tables, c.Indexes, c.Triggers, c.Sequences, c.Functions)
	p.line(p.t("  Views: %d   Materialized views: %d   Constraints: %d   Foreign keys: %d   Large objects: %d"),
		c.Views, c.MaterializedViews, c.Constraints, c.ForeignKeys, c.LargeObjects)
	if len(e.RowCounts) > 0 {
		p.line(p.t("  Rows (exact, in the dump's snapshot), biggest tables:"))
		for _, t := range Biggest(e.RowCounts, 5) {
			p.line(p.t("    - %s: %s rows"), t, p.grouped(e.RowCounts[t]))
		}
	}
}

func files(p *page, e catalog.Execution) {
	p.line("")
	p.line(p.t("Files:"))
	p.line(p.t("  %s (sha256sum -c), %s"), e.Filename+layout.SHA256Suffix, e.Filename+layout.ManifestSuffix)
	if e.GlobalsFilename != nil {
		p.line(p.t("  %s (roles, tablespaces)"), *e.GlobalsFilename)
	}
	if e.ArchiveS3Path != nil {
		p.line(p.t("  Uploaded S3: %s"), *e.ArchiveS3Path)
	}
}

func keptUntil(p *page, e catalog.Execution) {
	p.line("")
	p.line(p.t("Retention:"))
	if e.RetentionUntil != nil {
		days := int(e.RetentionUntil.Sub(e.BackupDate.Truncate(24*time.Hour)).Hours() / 24)
		if e.RetentionClass == catalog.ClassCompliance {
			p.line(p.t("  ARCEP copy: Keep until %s (%d days, compliance: first backup of %s)"),
				e.RetentionUntil.Format(time.DateOnly), days, e.BackupDate.Format("2006-01"))
		} else {
			p.line(p.t("  Delete after: %s (%d days)"), e.RetentionUntil.Format(time.DateOnly), days)
		}
	}
	if e.DeletedAt != nil {
		p.line(p.t("  Deleted by retention: %s"), e.DeletedAt.Format(stamp))
	}
}

func validation(p *page, e catalog.Execution) {
	p.line("")
	p.line(p.t("Validation:"))
	p.line(p.t("  Re-read from disk: checksums match, decompresses to exactly what pg_dump wrote"))
	p.line(p.t("  pg_restore --list check: OK ✓ (%d entries)"), e.ObjectCounts.Entries)
	if e.RestoreTestedAt != nil {
		p.line(p.t("  Restore test: %s (%s)"), e.RestoreTestStatus, e.RestoreTestedAt.Format(stamp))
	} else {
		p.line(p.t("  Restore test: not tested yet"))
	}
}

// concerns are what a person should look at in a good backup.
func concerns(p *page, e catalog.Execution) {
	if e.Suspect {
		p.list("SUSPECT — kept, but look at it:", e.SuspectReasons)
	}
	p.list("Warnings:", e.Warnings)
}

func compression(e catalog.Execution) string {
	f := "?"
	if e.CompressionFormat != nil {
		f = string(*e.CompressionFormat)
	}
	if f == "none" || e.CompressionLevel == nil {
		return f
	}
	return fmt.Sprintf("%s level %d", f, *e.CompressionLevel)
}

// Biggest returns the n tables with the most rows, most first.
func Biggest(counts map[string]int64, n int) []string {
	names := make([]string, 0, len(counts))
	for t := range counts {
		names = append(names, t)
	}
	sort.Slice(names, func(i, j int) bool {
		if counts[names[i]] != counts[names[j]] {
			return counts[names[i]] > counts[names[j]]
		}
		return names[i] < names[j]
	})
	return names[:min(n, len(names))]
}

// List renders rows as a table, one backup a line; with several
// databases, each line starts with the backup's target and database.
func List(rows []catalog.Execution, copies map[string][]catalog.Copy, several bool) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	if several {
		fmt.Fprint(w, "TARGET\tDATABASE\t")
	}
	fmt.Fprintln(w, "BACKUP DATE (UTC)\tSTATUS\tSIZE\tCRC32\tRESTORE TEST\tCOPIES\tFILENAME\tNOTE")
	for _, e := range rows {
		if several {
			fmt.Fprintf(w, "%s\t%s\t", Name(e.TargetName), Name(deref(e.DatabaseName, "-")))
		}
		size := "-"
		if e.FileSizeBytes != nil {
			size = Bytes(*e.FileSizeBytes)
		}
		note := ""
		switch {
		case e.ErrorMessage != nil:
			note = firstLine(*e.ErrorMessage, 60)
		case e.DeletedAt != nil:
			note = "deleted " + e.DeletedAt.Format(time.DateOnly)
		case e.Suspect:
			note = "SUSPECT"
		case e.RetentionClass == catalog.ClassCompliance:
			note = "compliance copy"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.BackupDate.Format("2006-01-02 15:04:05"), e.Status, size,
			deref(e.ChecksumCRC32, "-"), e.RestoreTestStatus, CopiesState(copies[e.ID]), e.Filename, note)
	}
	w.Flush()
	return b.String()
}

// CopiesState sums up a backup's copies in a few characters: "-" for
// none, else how many are verified out of how many are recorded ("2/3"),
// deleted ones left out.
func CopiesState(copies []catalog.Copy) string {
	verified, recorded := 0, 0
	for _, c := range copies {
		if c.DeletedAt != nil {
			continue
		}
		recorded++
		if c.Verified() {
			verified++
		}
	}
	if recorded == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", verified, recorded)
}

// Name shows a name that came from outside (a database's, chosen by
// whoever may CREATE DATABASE) on a terminal: as it is when it is plain
// printable text without spaces, else quoted with its control bytes
// escaped, so that it can neither break a table nor send the terminal an
// escape sequence.
func Name(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) || r == '"' || r == '\\' {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

func deref(s *string, fallback string) string {
	if s == nil {
		return fallback
	}
	return *s
}

// Retention renders what a retention run decided and did.
func Retention(r retention.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Retention as of %s UTC", r.Now.Format(time.DateTime))
	if r.DryRun {
		b.WriteString(" (dry run: nothing is deleted)")
	}
	b.WriteString("\n")
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, p := range r.Promoted {
		fmt.Fprintf(w, "  compliance\t%s\tfirst good backup of %s: kept as that month's compliance copy\n", p.Filename, p.Date.Format("2006-01"))
	}
	deleted, kept := 0, 0
	verb := "delete"
	if r.DryRun || r.Local.Refused != "" || (r.S3 != nil && r.S3.Refused != "") {
		verb = "would delete"
	}
	plans := []struct {
		where string
		plan  *retention.Plan
	}{{"", &r.Local}, {" from S3", r.S3}}
	for i := range r.Destinations {
		plans = append(plans, struct {
			where string
			plan  *retention.Plan
		}{" from " + r.Destinations[i].Destination, &r.Destinations[i].Plan})
	}
	for _, p := range plans {
		if p.plan == nil {
			continue
		}
		for _, d := range p.plan.Decisions {
			if d.Delete {
				deleted++
				fmt.Fprintf(w, "  %s%s\t%s\t%s\n", verb, p.where, d.Copy.Filename, d.Why)
			} else {
				kept++
				fmt.Fprintf(w, "  keep%s\t%s\t%s\n", strings.Replace(p.where, "from", "in", 1), d.Copy.Filename, d.Why)
			}
		}
	}
	for _, f := range r.Unknown {
		fmt.Fprintf(w, "  unknown\t%s\tnot in the catalog: left alone\n", f)
	}
	w.Flush()
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "Problem: %s\n", p)
	}
	refused := r.Local.Refused
	if refused == "" && r.S3 != nil {
		refused = r.S3.Refused
	}
	for _, d := range r.Destinations {
		if refused == "" {
			refused = d.Plan.Refused
		}
	}
	if refused != "" {
		fmt.Fprintf(&b, "REFUSED: %s\n", refused)
		return b.String()
	}
	done := len(r.Deleted) + len(r.S3Deleted)
	for _, d := range r.Destinations {
		done += len(d.Deleted)
	}
	if r.DryRun {
		done = deleted
	}
	fmt.Fprintf(&b, "%d copies %s, %d expired kept by a safety rule, %d unknown files.\n",
		done, map[bool]string{true: "would be deleted", false: "deleted"}[r.DryRun], kept, len(r.Unknown))
	return b.String()
}

// Copies lists a backup's copies in BACKUP_DESTINATIONS, each verified
// (with when and how big) or not (with why); "" when there are none.
func Copies(copies []catalog.Copy) string {
	if len(copies) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\nCopies:\n")
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, c := range copies {
		switch {
		case c.DeletedAt != nil:
			fmt.Fprintf(w, "  %s\tdeleted by retention %s\n", c.Destination, c.DeletedAt.UTC().Format(stamp))
		case c.Verified() && c.LastError == nil:
			size := ""
			if c.SizeBytes != nil {
				size = " (" + Bytes(*c.SizeBytes) + ")"
			}
			fmt.Fprintf(w, "  %s\tverified %s%s\n", c.Destination, c.VerifiedAt.UTC().Format(stamp), size)
		case c.Verified():
			fmt.Fprintf(w, "  %s\tverified %s; a later copy failed: %s\n", c.Destination, c.VerifiedAt.UTC().Format(stamp), *c.LastError)
		default:
			fmt.Fprintf(w, "  %s\tMISSING: %s\n", c.Destination, deref(c.LastError, "not copied yet"))
		}
	}
	w.Flush()
	return b.String()
}
