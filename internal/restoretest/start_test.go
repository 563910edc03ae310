package restoretest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// queued records what Start queued; full says a test is already queued.
type queued struct {
	names []string
	full  bool
	fail  error
}

func (q *queued) Enqueue(_ context.Context, filename string, _ catalog.Trigger, _ string) error {
	switch {
	case q.full:
		return ErrQueued
	case q.fail != nil:
		return q.fail
	}
	q.names = append(q.names, filename)
	return nil
}

// The API and the console start a test as the CLI names backups (stems,
// names without .age, ids) and choose them; what Start refuses gets one
// HTTP answer for both; a test that cannot be queued is never left
// "running".
func TestStartNamesAndRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	stem := strings.TrimSuffix(e.row.Filename, ".dump.gz")
	for _, req := range []StartRequest{{Filename: e.row.Filename}, {Filename: stem}, {BackupID: e.row.ID}, {}} {
		q := &queued{}
		req.TriggeredBy, req.Now = catalog.TriggerAPI, time.Now()
		started, err := Start(ctx, e.store, q, e.cfg, req)
		if err != nil || started.Backup.ID != e.row.ID || len(q.names) != 1 || q.names[0] != e.row.Filename || started.Test.Status != catalog.TestRunning {
			t.Fatalf("%+v: %+v, %v, queued %v", req, started, err, q.names)
		}
		// Only one at a time: the next is refused while this one runs.
		if _, err := Start(ctx, e.store, &queued{}, e.cfg, req); !errors.As(err, new(AlreadyRunning)) {
			t.Fatalf("a second test while one runs: %v", err)
		}
		if status, code := Refusal(AlreadyRunning{}); status != http.StatusConflict || code != "conflict" {
			t.Fatalf("refusal of a second test: %d %s", status, code)
		}
		if err := e.store.DeleteRestoreTest(ctx, started.Test.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		req    StartRequest
		status int
	}{
		{StartRequest{Filename: "../etc/passwd"}, http.StatusBadRequest},
		{StartRequest{BackupID: "not-an-id"}, http.StatusBadRequest},
		{StartRequest{Filename: "20200101_000000.dump.gz"}, http.StatusNotFound},
		{StartRequest{BackupID: "00000000-0000-0000-0000-000000000001"}, http.StatusNotFound},
	} {
		c.req.Now, c.req.TriggeredBy = time.Now(), catalog.TriggerAPI
		_, err := Start(ctx, e.store, &queued{}, e.cfg, c.req)
		if status, _ := Refusal(err); status != c.status {
			t.Errorf("%+v: %v → %d, want %d", c.req, err, status, c.status)
		}
	}
	// Queued already (a scheduled test holds River's unique job): refused,
	// and no record stays; a queue that fails: the record says failed.
	if _, err := Start(ctx, e.store, &queued{full: true}, e.cfg, StartRequest{TriggeredBy: catalog.TriggerAPI, Now: time.Now()}); !errors.As(err, new(AlreadyRunning)) {
		t.Fatalf("a test already queued: %v", err)
	}
	if _, err := Start(ctx, e.store, &queued{fail: errors.New("queue down")}, e.cfg, StartRequest{TriggeredBy: catalog.TriggerAPI, Now: time.Now()}); err == nil {
		t.Fatal("a queue that fails: no error")
	}
	tests, err := e.store.RestoreTests(ctx, time.Now().Add(-time.Hour))
	if err != nil || len(tests) != 1 || tests[0].Status != catalog.TestFailed || !strings.Contains(*tests[0].ErrorMessage, "queue down") {
		t.Fatalf("the records after a queued and a failed start: %+v, %v", tests, err)
	}
}
