package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/report"
)

// Running is what runs now, as the overview and its live updates show it.
type Running struct {
	File     string  `json:"file"`
	Database string  `json:"database"`
	Host     string  `json:"host"`
	Attempt  int     `json:"attempt"`
	Read     string  `json:"read"`    // bytes read from pg_dump
	Written  string  `json:"written"` // bytes written, compressed
	Rate     string  `json:"rate"`    // read per second
	Elapsed  string  `json:"elapsed"`
	Seconds  float64 `json:"seconds"`
}

// RunningOf says what the attempts in progress are doing at now.
func RunningOf(attempts []catalog.Attempt, now time.Time) []Running {
	out := []Running{}
	for _, a := range attempts {
		elapsed := now.Sub(a.StartedAt)
		if elapsed < 0 {
			elapsed = 0
		}
		rate := "-"
		if a.RawBytes > 0 && !a.ProgressAt.IsZero() {
			if secs := a.ProgressAt.Sub(a.StartedAt).Seconds(); secs > 0 {
				rate = report.Bytes(int64(float64(a.RawBytes)/secs)) + "/s"
			}
		}
		db := deref(a.Execution.DatabaseName)
		if t := a.Execution.TargetName; t != "" && t != catalog.DefaultTarget {
			db = t + "/" + db
		}
		out = append(out, Running{File: a.Execution.Filename, Database: db, Host: a.Hostname, Attempt: a.Execution.Attempt,
			Read: report.Bytes(a.RawBytes), Written: report.Bytes(a.StoredBytes), Rate: rate,
			Elapsed: elapsed.Round(time.Second).String(), Seconds: elapsed.Seconds()})
	}
	return out
}

// eventsEvery is how often the live stream says what runs; every stream
// shares one catalog read (running), so many screens cost one query.
const eventsEvery = 2 * time.Second

// A live stream checks its session again every sessionCheckEvery: one
// logged out, revoked or expired stops receiving within that; and one
// session holds at most MaxStreamsPerSession streams (a page each).
const (
	sessionCheckEvery    = 5 * time.Second
	MaxStreamsPerSession = 4
)

// streams counts the live streams of each session.
type streams struct {
	mu  sync.Mutex
	per map[string]int // by the session's cookie secret
}

// open counts one more stream of session, unless it has its share.
func (s *streams) open(session string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.per[session] >= MaxStreamsPerSession {
		return false
	}
	if s.per == nil {
		s.per = map[string]int{}
	}
	s.per[session]++
	return true
}

func (s *streams) close(session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.per[session]--; s.per[session] <= 0 {
		delete(s.per, session)
	}
}

// events streams what runs now as server-sent events, every eventsEvery,
// until the page goes away or its session ends (an "ended" event then).
func (c *server) events(w http.ResponseWriter, r *http.Request, v viewer) {
	if !c.streams.open(v.session) {
		c.refused(r, v, http.StatusTooManyRequests, "too many live streams for one session")
		http.Error(w, "too many live pages for this session", http.StatusTooManyRequests)
		return
	}
	defer c.streams.close(v.session)
	checked := time.Now()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	t := time.NewTicker(eventsEvery)
	defer t.Stop()
	for {
		running, err := c.running.Get(func() ([]Running, error) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
			defer cancel()
			attempts, err := c.Store.Attempts(ctx)
			return RunningOf(attempts, c.now()), err
		})
		if err != nil {
			c.Log.Error("console: live update", "error", err)
			return
		}
		b, _ := json.Marshal(running)
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second)) // the server's write timeout does not end the stream
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		if time.Since(checked) >= sessionCheckEvery {
			checked = time.Now()
			_, err := c.Store.SessionOf(r.Context(), v.session, c.Clock.Now())
			if errors.Is(err, catalog.ErrNoSession) {
				_, _ = fmt.Fprint(w, "event: ended\ndata: {}\n\n")
				_ = rc.Flush()
				return
			}
			if err != nil { // the catalog, not the session: the page reconnects
				return
			}
		}
	}
}
