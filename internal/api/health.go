// Package api is the daemon's HTTP surface: the health probes /healthz
// (the process answers) and /readyz (it can do its job), unauthenticated,
// and the API under /api/v1 for admin and NOC callers (server.go, auth.go),
// with its OpenAPI document (openapi.go).
package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Check is one readiness condition; nil means it holds.
type Check func(ctx context.Context) error

// Handler serves the probes. Every check runs on every /readyz request,
// each within a few seconds.
func Handler(checks map[string]Check) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		report := readiness(r.Context(), checks)
		w.Header().Set("Content-Type", "application/json")
		if !report.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(report)
	})
	return mux
}

// Readiness is /readyz's body: each check says "ok" or why not.
type Readiness struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

func readiness(ctx context.Context, checks map[string]Check) Readiness {
	report := Readiness{Ready: true, Checks: map[string]string{}}
	for name, check := range checks {
		checkCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := check(checkCtx)
		cancel()
		if err != nil {
			report.Ready = false
			report.Checks[name] = err.Error()
		} else {
			report.Checks[name] = "ok"
		}
	}
	return report
}
