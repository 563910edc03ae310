// Package audit keeps the trail of the daemon's HTTP surface (the API and
// the console) in the catalog's api_audit table: every action, written
// before it is done — an action whose row cannot be written is refused,
// never done unaudited — and completed with its outcome; and every
// refusal (a bad token, a failed login, a missing CSRF token, a role that
// may not act), with the client's address. Every field is bounded, and
// refusals are recorded at most PerClient a minute per address: a flood of
// refused requests costs a few rows, never the catalog's disk or the
// audit page's memory.
package audit

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
)

// The bounds of each field, in bytes (the table's constraint allows a
// little more).
const (
	maxSubject = 128
	maxRole    = 32
	maxMethod  = 16
	maxPath    = 512
	maxDetail  = 512
	maxClient  = 64
)

// PerClient is how many refusals of one address (an IPv6 address's /64)
// are recorded in a minute, PerMinute how many in all: a flood from many
// addresses costs at most PerMinute rows a minute. MaxClients bounds the
// addresses followed in a minute.
const (
	PerClient  = 10
	PerMinute  = 60
	MaxClients = 1000
)

// ErrUnrecorded means the audit cannot be written: the action was not done.
var ErrUnrecorded = errors.New("the audit log cannot be written; nothing was done")

// Entry is one request as the trail records it.
type Entry struct {
	Subject, Role string // who (empty: nobody authenticated)
	Method, Path  string
	Client        string // the client's address
	Status        int
	Detail        string
}

// Of is the entry of request r by subject in role: its method, its path
// (escaped, as it came) and its client's address.
func Of(r *http.Request, subject, role string) Entry {
	client, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		client = r.RemoteAddr
	}
	return Entry{Subject: subject, Role: role, Method: r.Method, Path: r.URL.EscapedPath(), Client: client}
}

// Trail writes the audit.
type Trail struct {
	store *catalog.Store
	clock clock.Clock
	log   *slog.Logger

	mu       sync.Mutex
	minute   time.Time      // the window refusals are counted in
	refusals map[string]int // by address, this minute
	recorded int            // refusal rows written this minute
}

// New is a trail written to store.
func New(store *catalog.Store, clk clock.Clock, log *slog.Logger) *Trail {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Trail{store: store, clock: clock.Or(clk), log: log}
}

// Action is an action recorded before it is done.
type Action struct {
	t  *Trail
	id int64
}

// Begin records an action about to be done (status 0 until End). Its
// error is ErrUnrecorded: the caller refuses the action (503).
func (t *Trail) Begin(ctx context.Context, e Entry) (*Action, error) {
	id, err := t.store.InsertAudit(context.WithoutCancel(ctx), row(e, t.clock.Now()))
	if err != nil {
		t.log.Error("audit not written: the action is refused", "path", bound(e.Path, 80), "error", err)
		return nil, ErrUnrecorded
	}
	return &Action{t: t, id: id}, nil
}

// End records the action's outcome. The action is done: a failure here is
// logged (its row stays with status 0, "outcome unknown").
func (a *Action) End(ctx context.Context, status int, detail string) {
	if err := a.t.store.FinishAudit(context.WithoutCancel(ctx), a.id, status, bound(detail, maxDetail)); err != nil {
		a.t.log.Error("audit outcome not written", "audit_id", a.id, "status", status, "error", err)
	}
}

// Refused records a refused request, unless its address has had PerClient
// refusals recorded this minute (the first refusal past the limit says so
// in its row; the rest are counted in the log). It never fails the
// request: a refusal is done whether or not it is written.
func (t *Trail) Refused(ctx context.Context, e Entry) {
	now := t.clock.Now()
	record, note := t.admit(e.Client, now)
	if !record {
		return
	}
	if note != "" {
		e.Detail = e.Detail + "; " + note
		t.log.Warn("refused requests: recording paused for the minute", "client", e.Client, "why", note)
	}
	if _, err := t.store.InsertAudit(context.WithoutCancel(ctx), row(e, now)); err != nil {
		t.log.Error("refusal not audited", "client", e.Client, "status", e.Status, "error", err)
	}
}

// admit says whether a refusal from client in now's minute is recorded,
// and what its row must add when it is the last one recorded.
func (t *Trail) admit(client string, now time.Time) (bool, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if minute := now.Truncate(time.Minute); !minute.Equal(t.minute) || t.refusals == nil {
		t.minute, t.refusals, t.recorded = minute, map[string]int{}, 0
	}
	key := ClientKey(client)
	if _, seen := t.refusals[key]; !seen && len(t.refusals) >= MaxClients || t.recorded > PerMinute {
		return false, ""
	}
	t.refusals[key]++
	switch n := t.refusals[key]; {
	case n > PerClient+1:
		return false, ""
	case t.recorded == PerMinute:
		t.recorded++
		return true, "further refusals this minute are not recorded (too many)"
	case n == PerClient+1:
		t.recorded++
		return true, "further refusals from " + key + " this minute are not recorded"
	}
	t.recorded++
	return true, ""
}

// ClientKey is who a refusal (or a failed login) is counted against: the address, or an IPv6
// address's /64 (one host may hold all of it).
func ClientKey(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() != nil {
		return addr
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

func row(e Entry, at time.Time) catalog.Audit {
	return catalog.Audit{At: at, Subject: bound(e.Subject, maxSubject), Role: bound(e.Role, maxRole), Method: bound(e.Method, maxMethod),
		Path: bound(e.Path, maxPath), Status: e.Status, Detail: bound(e.Detail, maxDetail), Client: bound(e.Client, maxClient)}
}

// bound makes s fit a column: valid UTF-8 without NUL (PostgreSQL's text
// refuses both), at most max bytes, cut on a character with "…" when it
// was longer.
func bound(s string, max int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Answered is a response as the audit records it: the status answered and
// the bytes sent, and the first write error (a client gone, a deadline).
type Answered struct {
	http.ResponseWriter
	Status int
	Bytes  int64
	Err    error
}

func (a *Answered) WriteHeader(code int) {
	if a.Status == 0 {
		a.Status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *Answered) Write(b []byte) (int, error) {
	if a.Status == 0 {
		a.Status = http.StatusOK
	}
	n, err := a.ResponseWriter.Write(b)
	a.Bytes += int64(n)
	if err != nil && a.Err == nil {
		a.Err = err
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (a *Answered) Unwrap() http.ResponseWriter { return a.ResponseWriter }
