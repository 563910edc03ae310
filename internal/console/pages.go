package console

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/audit"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/disk"
	"github.com/mosaique/rgz-backup/internal/jobs"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/listquery"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/report"
	"github.com/mosaique/rgz-backup/internal/restoretest"
	"github.com/mosaique/rgz-backup/internal/targets"
)

// databaseView is one line of the overview: a database's state.
type databaseView struct {
	Name        string
	State       State
	Last        *catalog.Execution
	LastSuccess *catalog.Execution
}

func (c *server) overview(w http.ResponseWriter, r *http.Request, v viewer) {
	ctx := r.Context()
	now := c.now()
	data := map[string]any{"Flash": r.URL.Query().Get("done")}
	var views []databaseView
	if c.Config.Several() {
		states, err := c.Store.DatabaseStates(ctx)
		if err != nil {
			c.fail(w, r, v, err)
			return
		}
		for i := range states {
			s := states[i]
			name := s.Database
			if s.Target != catalog.DefaultTarget {
				name = s.Target + "/" + s.Database
			}
			views = append(views, databaseView{Name: name, State: Judge(&s.LastRun, s.LastSuccess, now), Last: &s.LastRun, LastSuccess: s.LastSuccess})
		}
	} else {
		last, err := c.Store.List(ctx, catalog.Filter{Limit: 1})
		if err != nil {
			c.fail(w, r, v, err)
			return
		}
		good, err := c.Store.List(ctx, catalog.Filter{Status: catalog.StatusSuccess, Limit: 1})
		if err != nil {
			c.fail(w, r, v, err)
			return
		}
		dv := databaseView{Name: c.Config.Database.Name()}
		if len(last) > 0 {
			dv.Last = &last[0]
		}
		if len(good) > 0 {
			dv.LastSuccess = &good[0]
		}
		dv.State = Judge(dv.Last, dv.LastSuccess, now)
		views = append(views, dv)
	}
	overall := State{Level: OK}
	for _, dv := range views {
		if rank(dv.State.Level) > rank(overall.Level) {
			overall = dv.State
		}
	}
	if len(views) == 0 {
		overall = Judge(nil, nil, now)
	}
	data["Overall"], data["Databases"] = overall, views
	if c.Config.ScheduleEnabled {
		data["NextRun"] = c.Config.Schedule.Next(now)
	}
	if u, err := disk.UsageOf(c.Config.LocalDir); err == nil && u.Total > 0 {
		used := u.UsedRatio() // as df says
		data["Disk"] = map[string]any{"UsedPercent": int(used*100 + 0.5), "Free": report.Bytes(int64(u.Free)),
			"Warning": used*100 >= float64(c.Config.WarningUsedPercent), "WarningPercent": c.Config.WarningUsedPercent}
	}
	if dests, err := c.Store.DestinationStats(ctx); err == nil {
		data["Destinations"] = dests
	}
	if t, err := c.Store.LastRestoreTest(ctx); err == nil {
		data["LastTest"] = t
	}
	if attempts, err := c.Store.Attempts(ctx); err == nil {
		data["Running"] = RunningOf(attempts, now)
	}
	if archives := c.archives(r, now); len(archives) > 0 {
		data["Archives"] = archives
		if t, err := c.Store.LastPITRRestoreTest(ctx, false); err == nil {
			data["LastPITRTest"] = t
		}
	}
	data["CanTestPITR"] = len(c.Streaming) > 0
	if streaming := targets.Streaming(c.Streaming); len(streaming) > 1 { // which one to test
		var names []string
		for _, s := range streaming {
			names = append(names, s.Target)
		}
		data["PITRTargets"] = names
	}
	c.render(w, r, "overview", v, data)
}

func rank(l Level) int {
	switch l {
	case Failed:
		return 2
	case Warning:
		return 1
	}
	return 0
}

// backups is the history with filters (status, days, database, triggered
// by), by keyset pages.
func (c *server) backups(w http.ResponseWriter, r *http.Request, v viewer) {
	q := r.URL.Query()
	query := url.Values{"days": {q.Get("days")}, "cursor": {q.Get("cursor")}, "limit": {"50"}, "target": {"*"}}
	if db := q.Get("database"); db != "" {
		query.Set("database", db)
	}
	for k, vals := range query {
		if len(vals) == 1 && vals[0] == "" {
			delete(query, k)
		}
	}
	lq, err := listquery.Parse(query)
	if err != nil {
		c.Log.Info("console: a bad filter", "error", err)
		c.refuse(w, r, v.Lang, http.StatusBadRequest, "bad_query")
		return
	}
	status, trigger := catalog.Status(q.Get("status")), catalog.Trigger(q.Get("triggered_by"))
	var rows []catalog.Execution
	next := ""
	afterDate, afterID := lq.AfterDate, lq.AfterID
	// Status and trigger filter the page's rows; keep reading pages until
	// one is full or the history ends (bounded: ten pages a request).
	for range 10 {
		page, err := c.Store.Page(r.Context(), c.now().UTC().AddDate(0, 0, -lq.Days), afterDate, afterID, lq.Limit, lq.Of)
		if err != nil {
			c.fail(w, r, v, err)
			return
		}
		for _, row := range page {
			afterDate, afterID = row.BackupDate, row.ID
			if (status == "" || row.Status == status) && (trigger == "" || row.TriggeredBy == trigger) {
				rows = append(rows, row)
			}
			if len(rows) == lq.Limit {
				break
			}
		}
		if len(page) < lq.Limit {
			afterID = ""
			break
		}
		if len(rows) == lq.Limit {
			break
		}
	}
	if afterID != "" {
		nq := url.Values{}
		for k := range q {
			nq.Set(k, q.Get(k))
		}
		nq.Set("cursor", listquery.EncodeCursor(afterDate, afterID))
		next = Prefix + "/backups?" + nq.Encode()
	}
	c.render(w, r, "backups", v, map[string]any{"Rows": rows, "Next": next, "Filter": map[string]string{
		"status": string(status), "days": strconv.Itoa(lq.Days), "database": lq.Of.Database, "triggered_by": string(trigger)}})
}

// backup is one backup's page: sums, sizes, counts, copies, restore
// tests, retention, the error.
func (c *server) backup(w http.ResponseWriter, r *http.Request, v viewer) {
	row, err := c.Store.Get(r.Context(), r.PathValue("id"))
	if c.lookupFailed(w, r, v, err) {
		return
	}
	copies, err := c.Store.Copies(r.Context(), row.ID)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	tests, err := c.Store.RestoreTestsOf(r.Context(), row.ID)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.render(w, r, "backup", v, map[string]any{"Row": row, "Copies": copies, "Tests": tests, "Report": report.Text(row)})
}

// download streams a backup's dump or its .sha256 (admin only, audited
// before the first byte and again with what was sent). It runs as long as
// bytes flow — each write may take DownloadIdle, the whole has no limit —
// and answers Range, so that a broken download resumes. The file is held
// open as a reader: retention does not delete it meanwhile.
func (c *server) download(w http.ResponseWriter, r *http.Request, v viewer) {
	row, err := c.Store.Get(r.Context(), r.PathValue("id"))
	file := r.PathValue("file")
	var path string
	if err == nil && row.Status.Good() && row.DeletedAt == nil && (file == row.Filename || file == row.Filename+layout.SHA256Suffix) {
		if files, ferr := layout.Of(row, c.Config.LocalDir); ferr == nil {
			path = map[string]string{row.Filename: files.Dump, row.Filename + layout.SHA256Suffix: files.SHA256}[file]
		}
	}
	var f *os.File
	if path != "" {
		f, err = lock.OpenForReading(path)
	}
	if path == "" || err != nil {
		c.refused(r, v, http.StatusNotFound, "not_found")
		c.refuse(w, r, v.Lang, http.StatusNotFound, "not_found")
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	action, ok := c.act(w, r, v)
	if !ok {
		return
	}
	began := c.now()
	sent := &flowWriter{Answered: audit.Answered{ResponseWriter: w}, idle: c.DownloadIdle}
	sent.Header().Set("Content-Type", "application/octet-stream")
	sent.Header().Set("Content-Disposition", `attachment; filename="`+file+`"`)
	http.ServeContent(sent, r, file, st.ModTime(), f)
	// What is still buffered goes now, so that "complete" means sent.
	if err := http.NewResponseController(sent.ResponseWriter).Flush(); err != nil && sent.Err == nil {
		sent.Err = err
	}
	action.End(r.Context(), sent.Status, sent.outcome(file, st.Size(), r.Header.Get("Range"), c.now().Sub(began)))
}

// flowWriter sends a download: each write may take idle (the connection's
// write deadline moves with it), and what was sent is counted.
type flowWriter struct {
	audit.Answered
	idle time.Duration
}

func (f *flowWriter) Write(b []byte) (int, error) {
	_ = http.NewResponseController(f.ResponseWriter).SetWriteDeadline(time.Now().Add(f.idle))
	return f.Answered.Write(b)
}

// outcome says what the download sent: how many bytes of how many, whether
// it completed, the range asked.
func (f *flowWriter) outcome(file string, size int64, ranges string, took time.Duration) string {
	want, _ := strconv.ParseInt(f.Header().Get("Content-Length"), 10, 64)
	done := "complete"
	if f.Err != nil || f.Bytes < want {
		done = "cut"
		if f.Err != nil {
			done += ": " + f.Err.Error()
		}
	}
	if f.Status >= 300 && f.Status != http.StatusPartialContent {
		done = "nothing sent"
	}
	what := fmt.Sprintf("download %s: %d of %d bytes in %s, %s", file, f.Bytes, size, took.Round(time.Second), done)
	if ranges != "" {
		what += " (" + ranges + ")"
	}
	return what
}

// restoreTests is the restore tests' history (a year), newest first.
func (c *server) restoreTests(w http.ResponseWriter, r *http.Request, v viewer) {
	tests, err := c.Store.RestoreTests(r.Context(), c.now().AddDate(-1, 0, 0))
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	c.render(w, r, "restore-tests", v, map[string]any{"Tests": tests})
}

// restoreTest is one test: its outcome and what differed. While it runs,
// console.js reloads the page until it ends.
func (c *server) restoreTest(w http.ResponseWriter, r *http.Request, v viewer) {
	test, err := c.Store.RestoreTest(r.Context(), r.PathValue("id"))
	if c.lookupFailed(w, r, v, err) {
		return
	}
	c.render(w, r, "restore-test", v, map[string]any{"Test": test})
}

// auditPage is how many audit rows a page shows.
const auditPage = 100

// audit is the audit log, newest first, a page at a time (keyset: the
// page after the row at|id): however large the table, a page reads and
// renders auditPage rows.
func (c *server) audit(w http.ResponseWriter, r *http.Request, v viewer) {
	var after catalog.Audit
	if cur := r.URL.Query().Get("before"); cur != "" {
		at, id, ok := strings.Cut(cur, "|")
		t, terr := time.Parse(time.RFC3339Nano, at)
		n, nerr := strconv.ParseInt(id, 10, 64)
		if !ok || terr != nil || nerr != nil {
			c.refuse(w, r, v.Lang, http.StatusBadRequest, "bad_query")
			return
		}
		after = catalog.Audit{At: t, ID: n}
	}
	rows, err := c.Store.AuditPage(r.Context(), after, auditPage+1)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	next := ""
	if len(rows) > auditPage {
		rows = rows[:auditPage]
		last := rows[len(rows)-1]
		next = Prefix + "/audit?" + url.Values{"before": {last.At.UTC().Format(time.RFC3339Nano) + "|" + strconv.FormatInt(last.ID, 10)}}.Encode()
	}
	c.render(w, r, "audit", v, map[string]any{"Log": rows, "Next": next})
}

// startBackup queues a backup (every database, with several).
func (c *server) startBackup(w http.ResponseWriter, r *http.Request, v viewer) {
	action, ok := c.act(w, r, v)
	if !ok {
		return
	}
	job, err := jobs.Enqueue(r.Context(), c.Queue, catalog.TriggerAPI)
	if err != nil {
		action.End(r.Context(), http.StatusInternalServerError, "internal")
		c.fail(w, r, v, err)
		return
	}
	action.End(r.Context(), http.StatusSeeOther, fmt.Sprintf("backup job %d run %s", job.JobID, job.RunID))
	http.Redirect(w, r, Prefix+"/?done=backup", http.StatusSeeOther)
}

// startRestoreTest queues a restore test of the backup named (or the usual
// choice) and sends the admin to its page (restoretest.Start, as the
// API does).
func (c *server) startRestoreTest(w http.ResponseWriter, r *http.Request, v viewer) {
	action, ok := c.act(w, r, v)
	if !ok {
		return
	}
	started, err := restoretest.Start(r.Context(), c.Store, jobs.RestoreTests{Client: c.Queue}, c.Config,
		restoretest.StartRequest{BackupID: r.PostFormValue("backup_id"), TriggeredBy: catalog.TriggerAPI, Now: c.now()})
	status, why := restoretest.Refusal(err)
	if err != nil && status == 0 {
		c.Log.Error("console: restore test not started", "error", err)
		status, why = http.StatusInternalServerError, "internal"
	}
	if status != 0 {
		action.End(r.Context(), status, why)
		c.refuse(w, r, v.Lang, status, why)
		return
	}
	action.End(r.Context(), http.StatusSeeOther, "restore test "+started.Test.ID+" of "+started.Backup.Filename)
	http.Redirect(w, r, Prefix+"/restore-tests/"+started.Test.ID, http.StatusSeeOther)
}

// lookupFailed answers a failed lookup of the page's subject (404 for
// one that does not exist) and says whether it did.
func (c *server) lookupFailed(w http.ResponseWriter, r *http.Request, v viewer, err error) bool {
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		c.refuse(w, r, v.Lang, http.StatusNotFound, "not_found")
	case err != nil:
		c.fail(w, r, v, err)
	}
	return err != nil
}

func (c *server) fail(w http.ResponseWriter, r *http.Request, v viewer, err error) {
	c.Log.Error("console page failed", "path", r.URL.Path, "error", err)
	c.refuse(w, r, v.Lang, http.StatusInternalServerError, "internal")
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"t": translate,
	"bytes": func(n *int64) string {
		if n == nil {
			return "-"
		}
		return report.Bytes(*n)
	},
	"when": func(v any) string { // a time, or a pointer to one
		switch t := v.(type) {
		case time.Time:
			return t.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if t != nil {
				return t.UTC().Format("2006-01-02 15:04 UTC")
			}
		}
		return "-"
	},
	"ago": func(t time.Time) string {
		d := time.Since(t).Round(time.Minute)
		if d < time.Hour {
			return fmt.Sprintf("%d min", int(d.Minutes()))
		}
		return fmt.Sprintf("%.1f h", d.Hours())
	},
	"deref": deref,
	"list":  func(s ...string) []string { return s },
	"lower": func(l Level) string { return string(l) },
}
