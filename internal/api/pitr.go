package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/jobs"
	"github.com/mosaique/rgz-backup/internal/listquery"
	"github.com/mosaique/rgz-backup/internal/pitr"
	"github.com/mosaique/rgz-backup/internal/pitrplan"
)

// PITRPrefix is the point-in-time recovery archive's routes (docs/API.md).
const PITRPrefix = "/api/v1/backups/pitr"

func (d Deps) pitrWindow(w http.ResponseWriter, r *http.Request, _ auth.Caller) *apiError {
	return d.shared(w, r, "pitr/window", func(ctx context.Context) (any, *apiError) {
		clusters, err := pitr.Clusters(ctx, d.Store, time.Now())
		if err != nil {
			return nil, d.internal(err)
		}
		return map[string]any{"clusters": clusters}, nil
	})
}

func (d Deps) pitrBaseBackups(w http.ResponseWriter, r *http.Request, _ auth.Caller) *apiError {
	return d.shared(w, r, "pitr/base-backups", func(ctx context.Context) (any, *apiError) {
		ids, err := d.Store.PITRClusters(ctx)
		if err != nil {
			return nil, d.internal(err)
		}
		all := []catalog.BaseBackup{}
		for _, id := range ids {
			bases, err := d.Store.BaseBackups(ctx, id)
			if err != nil {
				return nil, d.internal(err)
			}
			all = append(all, bases...)
		}
		return map[string]any{"base_backups": all}, nil
	})
}

// PITRTestRequest is the PITR test-restore route's body: the moment to
// restore to (default: drawn from the window) and, when several servers
// stream, which one's archive.
type PITRTestRequest struct {
	To     *time.Time `json:"to,omitempty"`
	Target string     `json:"target,omitempty"`
}

// ParsePITRTest reads the body strictly: JSON, no unknown fields; an empty
// body asks for the usual choice. A bad field is named.
func ParsePITRTest(body []byte) (PITRTestRequest, error) {
	var req PITRTestRequest
	if len(strings.TrimSpace(string(body))) == 0 {
		return req, nil
	}
	var raw struct {
		To     *string `json:"to"`
		Target string  `json:"target"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return req, errors.New(`the body must be a JSON object {"to": "2026-12-06T14:03:00Z", "target": "NAME"} (both optional) with no other field`)
	}
	if dec.More() {
		return req, errors.New("the body must hold one JSON object")
	}
	req.Target = raw.Target
	if raw.To != nil {
		to, err := time.Parse(time.RFC3339Nano, *raw.To)
		if err != nil {
			return req, fmt.Errorf("to must be a moment in RFC 3339, like 2026-12-06T14:03:00Z (got %q)", *raw.To)
		}
		to = to.UTC()
		req.To = &to
	}
	return req, nil
}

func (d Deps) pitrTestRestore(w http.ResponseWriter, r *http.Request, _ auth.Caller) *apiError {
	body, err := readBody(r)
	if err != nil {
		return &apiError{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is limited to %d bytes", MaxBody)}
	}
	req, err := ParsePITRTest(body)
	if err != nil {
		return &apiError{http.StatusBadRequest, "bad_request", err.Error()}
	}
	id, err := jobs.RequestPITRRestoreTest(r.Context(), d.Store, d.Queue, d.Config, d.Streaming, req.Target, req.To, catalog.TriggerAPI, time.Now())
	var badTarget *jobs.BadTargetError
	switch {
	case errors.Is(err, jobs.ErrPITROff):
		return &apiError{http.StatusConflict, "pitr_off", err.Error()}
	case errors.As(err, &badTarget):
		return &apiError{http.StatusBadRequest, "bad_request", err.Error()}
	case errors.Is(err, pitrplan.ErrUntestable):
		return &apiError{http.StatusBadRequest, "bad_request", "to: " + err.Error()}
	case errors.Is(err, jobs.ErrPITRTestQueued):
		return &apiError{http.StatusConflict, "conflict", err.Error()}
	case err != nil:
		return d.internal(err)
	}
	location := PITRPrefix + "/restore-tests/" + id.String()
	w.Header().Set("Location", location)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id.String(), "status": string(catalog.PITRRequested), "location": location})
	return nil
}

func (d Deps) pitrRestoreHistory(w http.ResponseWriter, r *http.Request, _ auth.Caller) *apiError {
	q, err := listquery.Parse(map[string][]string{"days": r.URL.Query()["days"]})
	if err != nil {
		return &apiError{http.StatusBadRequest, "bad_query", err.Error()}
	}
	tests, err := d.Store.PITRRestoreTests(r.Context(), time.Now().UTC().AddDate(0, 0, -q.Days))
	if err != nil {
		return d.internal(err)
	}
	if tests == nil {
		tests = []catalog.PITRRestoreTest{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"pitr_restore_tests": tests})
	return nil
}

func (d Deps) pitrRestoreTest(w http.ResponseWriter, r *http.Request, _ auth.Caller) *apiError {
	return byID(d, w, r, "point-in-time restore test", d.Store.PITRRestoreTest)
}
