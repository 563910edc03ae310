package console

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/jobs"
	"github.com/mosaique/rgz-backup/internal/pitr"
	"github.com/mosaique/rgz-backup/internal/pitrplan"
)

// The overview's point-in-time recovery section (docs/CONSOLE.md): each
// archived cluster's state, its restorable window drawn over the last 30
// days with its base backups marked, and the last restore test.

// WindowDays is how far back the window's bar reaches.
const WindowDays = 30

// ArchiveView is one cluster's archive on the overview.
type ArchiveView struct {
	SystemID       uint64
	State          string // streaming, lagging, not streaming, broken
	Level          Level
	Oldest, Newest *time.Time
	Bar            WindowBar
}

// WindowBar is the restorable window over the last WindowDays days, in
// the SVG's coordinates: a rect per span (a gap between two), a tick per
// base backup.
type WindowBar struct {
	Width, Height float64
	Spans         []Bar // class ok
	Bases         []Bar // class base
	From, To      time.Time
}

// archiveLevel is the overview's colour for an archive's state.
func archiveLevel(state string) Level {
	switch state {
	case pitr.StateStreaming:
		return OK
	case pitr.StateBroken:
		return Failed
	}
	return Warning
}

// LayOutWindow draws cluster c's window and its base backups over the
// WindowDays days before now.
func LayOutWindow(c pitr.ClusterState, bases []catalog.BaseBackup, now time.Time) WindowBar {
	b := WindowBar{Width: 600, Height: 24, From: now.AddDate(0, 0, -WindowDays), To: now}
	span := b.To.Sub(b.From).Seconds()
	x := func(t time.Time) float64 {
		v := t.Sub(b.From).Seconds() / span * b.Width
		return min(max(v, 0), b.Width)
	}
	for _, s := range c.Spans {
		to := s.To
		if to.IsZero() {
			to = now
		}
		if !to.After(b.From) {
			continue
		}
		x0, x1 := x(s.From), x(to)
		b.Spans = append(b.Spans, Bar{X: x0, Y: 6, W: max(x1-x0, 1), H: 12, Class: "ok",
			Title: s.From.UTC().Format("2006-01-02 15:04") + " – " + to.UTC().Format("2006-01-02 15:04") + " UTC"})
	}
	for _, base := range bases {
		if base.Status != "success" || base.DeletedAt != nil || base.FinishedAt == nil || base.FinishedAt.Before(b.From) {
			continue
		}
		title := base.Label
		if base.RestoreTestStatus != "" {
			title += " (" + base.RestoreTestStatus + ")"
		}
		b.Bases = append(b.Bases, Bar{X: x(*base.FinishedAt) - 1, Y: 0, W: 2, H: 24, Class: "base", Title: title})
	}
	return b
}

// archives are the overview's archives; nil when nothing is archived.
func (c *server) archives(r *http.Request, now time.Time) []ArchiveView {
	clusters, err := pitr.Clusters(r.Context(), c.Store, now)
	if err != nil {
		c.Log.Warn("console: the archives' state", "error", err)
		return nil
	}
	var out []ArchiveView
	for _, cl := range clusters {
		bases, _ := c.Store.BaseBackups(r.Context(), cl.SystemID)
		out = append(out, ArchiveView{SystemID: cl.SystemID, State: cl.State, Level: archiveLevel(cl.State),
			Oldest: cl.Oldest, Newest: cl.Newest, Bar: LayOutWindow(cl, bases, now)})
	}
	return out
}

// startPITRTest asks the daemon for a point-in-time restore test, to the
// moment the form gives (RFC 3339; empty: drawn from the window).
func (c *server) startPITRTest(w http.ResponseWriter, r *http.Request, v viewer) {
	action, ok := c.act(w, r, v)
	if !ok {
		return
	}
	var to *time.Time
	if s := strings.TrimSpace(r.PostFormValue("to")); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			action.End(r.Context(), http.StatusBadRequest, "bad_moment")
			c.refuse(w, r, v.Lang, http.StatusBadRequest, "bad_moment")
			return
		}
		t = t.UTC()
		to = &t
	}
	id, err := jobs.RequestPITRRestoreTest(r.Context(), c.Store, c.Queue, c.Config, c.Streaming, r.PostFormValue("target"), to, catalog.TriggerAPI, c.now())
	status, why := 0, ""
	var badTarget *jobs.BadTargetError
	switch {
	case errors.Is(err, jobs.ErrPITROff):
		status, why = http.StatusConflict, "pitr_off"
	case errors.As(err, &badTarget):
		status, why = http.StatusBadRequest, "bad_target"
	case errors.Is(err, pitrplan.ErrUntestable):
		status, why = http.StatusBadRequest, "untestable"
	case errors.Is(err, jobs.ErrPITRTestQueued):
		status, why = http.StatusConflict, "conflict"
	case err != nil:
		c.Log.Error("console: point-in-time restore test not started", "error", err)
		status, why = http.StatusInternalServerError, "internal"
	}
	if status != 0 {
		action.End(r.Context(), status, why)
		c.refuse(w, r, v.Lang, status, why)
		return
	}
	action.End(r.Context(), http.StatusSeeOther, "point-in-time restore test "+id.String())
	http.Redirect(w, r, Prefix+"/?done=pitr-test", http.StatusSeeOther)
}
