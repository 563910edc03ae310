// Package api is the daemon's HTTP surface: the health probes /healthz
// (the process answers) and /readyz (it can do its job), unauthenticated,
// and the API under /api/v1 for admin and NOC callers (server.go, auth.go),
// with its OpenAPI document (openapi.go).
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"time"
)

// Check is one readiness condition; nil means it holds.
type Check func(ctx context.Context) error

// Prober answers the probes. /readyz is unauthenticated: it answers from
// the last results of Checks, run once before the daemon serves and then
// every Every — never on a request, so that a flood of probes starts no
// process and opens no connection — and from Instant, which read memory
// only (the workers stopping), on each request. Its body says which check
// fails, never why (a driver's error names the catalog's user, host and
// database): the reason goes to the log, when a check starts or stops
// failing.
type Prober struct {
	Checks  map[string]Check
	Instant map[string]func() error
	Every   time.Duration
	Log     *slog.Logger

	mu   sync.Mutex
	last map[string]error
}

// Refresh runs every check now, each within a few seconds.
func (p *Prober) Refresh(ctx context.Context) {
	results := map[string]error{}
	for name, check := range p.Checks {
		checkCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		results[name] = check(checkCtx)
		cancel()
	}
	p.mu.Lock()
	before := p.last
	p.last = results
	p.mu.Unlock()
	for name, err := range results {
		switch was, known := before[name]; {
		case err != nil && (!known || was == nil || was.Error() != err.Error()):
			p.log().Warn("not ready: a readiness check fails", "check", name, "error", err)
		case err == nil && known && was != nil:
			p.log().Info("a readiness check passes again", "check", name)
		}
	}
}

// Run refreshes every Every until ctx ends.
func (p *Prober) Run(ctx context.Context) {
	t := time.NewTicker(p.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.Refresh(ctx)
		}
	}
}

func (p *Prober) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}

// Readiness is /readyz's body: each check "ok" or "failing" ("unknown"
// before its first run).
type Readiness struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

// Now is the readiness as last checked.
func (p *Prober) Now() Readiness {
	p.mu.Lock()
	last := maps.Clone(p.last)
	p.mu.Unlock()
	report := Readiness{Ready: true, Checks: map[string]string{}}
	verdict := func(name string, err error, known bool) {
		switch {
		case !known:
			report.Ready, report.Checks[name] = false, "unknown"
		case err != nil:
			report.Ready, report.Checks[name] = false, "failing"
		default:
			report.Checks[name] = "ok"
		}
	}
	for name := range p.Checks {
		err, known := last[name]
		verdict(name, err, known)
	}
	for name, check := range p.Instant {
		verdict(name, check(), true)
	}
	return report
}

// Handler serves /healthz and /readyz.
func (p *Prober) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		report := p.Now()
		w.Header().Set("Content-Type", "application/json")
		if !report.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(report)
	})
	return mux
}
