package restoretest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/records"
)

// Queue queues a restore test for the daemon (jobs.RestoreTests over
// River): ErrQueued when one is already waiting or running.
type Queue interface {
	Enqueue(ctx context.Context, filename string, by catalog.Trigger, id string) error
}

// ErrQueued means a restore test is already waiting or running.
var ErrQueued = errors.New("a restore test is already queued or running")

// StartRequest is a person's or a client's request for a restore test:
// of one backup (by its id, or a name as the CLI takes it: file name, with
// or without .age, or stem), or the usual choice.
type StartRequest struct {
	BackupID    string
	Filename    string
	TriggeredBy catalog.Trigger
	Now         time.Time
}

// Started is a restore test recorded as running and queued.
type Started struct {
	Test   catalog.RestoreTest
	Backup catalog.Execution
}

// ErrBadBackupName is a name or id no backup of the tool's can have.
var ErrBadBackupName = errors.New("not a backup's file name or id")

// ErrNoGoodBackup is a request for a backup that is not there, or failed,
// or the usual choice when no backup can be chosen.
var ErrNoGoodBackup = errors.New("no good backup")

// AlreadyRunning is a request refused because a restore test is running
// (its record's id, when known) or queued.
type AlreadyRunning struct{ ID string }

func (a AlreadyRunning) Error() string { return "a restore test is already running or queued" }

// Start is the one way the API and the console start a restore test: it
// finds the backup as the CLI does (pick: the name or id given, else the
// usual choice, database by database with several), refuses while
// another test runs, records the test as running (so that its page exists
// at once), and queues it. A test that cannot be queued is recorded as
// failed, never left "running". Once the record is written, the caller
// going away (a closed connection) changes nothing.
func Start(ctx context.Context, store *catalog.Store, q Queue, cfg config.Config, req StartRequest) (Started, error) {
	row, err := requested(ctx, store, cfg, req)
	if err != nil {
		return Started{}, err
	}
	since := req.Now.Add(-time.Duration(cfg.RestoreTest.Timeout)*time.Second - time.Minute)
	if id, running, err := store.RunningRestoreTest(ctx, since); err != nil {
		return Started{}, err
	} else if running {
		return Started{}, AlreadyRunning{ID: id}
	}
	ctx = context.WithoutCancel(ctx)
	test := catalog.RestoreTest{ID: uuid.NewString(), BackupID: row.ID, StartedAt: req.Now.UTC(), Status: catalog.TestRunning, TriggeredBy: req.TriggeredBy}
	if err := store.BeginRestoreTest(ctx, test); err != nil {
		return Started{}, err
	}
	if err := q.Enqueue(ctx, row.Filename, req.TriggeredBy, test.ID); err != nil {
		// Nothing was tested: the record must not stay "running", and the
		// backup's own restore-test status is not touched (it was never
		// found wanting). One already queued (River's unique job, which a
		// scheduled test holds before it writes its record): the record
		// goes, and the caller hears 409.
		if errors.Is(err, ErrQueued) {
			if derr := store.DeleteRestoreTest(ctx, test.ID); derr != nil {
				return Started{}, errors.Join(err, derr)
			}
			return Started{}, AlreadyRunning{}
		}
		if ferr := store.AbandonRestoreTest(ctx, test.ID, req.Now, "not started: "+err.Error()); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return Started{}, err
	}
	return Started{Test: test, Backup: row}, nil
}

// requested is the backup a request names, or the usual choice, from the
// catalog (the test's record refers to its row).
func requested(ctx context.Context, store *catalog.Store, cfg config.Config, req StartRequest) (catalog.Execution, error) {
	switch {
	case req.Filename != "" && len(layout.Candidates(req.Filename)) == 0:
		return catalog.Execution{}, fmt.Errorf("%.80q: %w (%s)", req.Filename, ErrBadBackupName, layout.DumpNameHint)
	case req.BackupID != "" && uuid.Validate(req.BackupID) != nil:
		return catalog.Execution{}, fmt.Errorf("%.80q: %w", req.BackupID, ErrBadBackupName)
	}
	row, err := pick(ctx, records.For(store, cfg.LocalDir, false), Options{Config: cfg, Filename: cmp.Or(req.Filename, req.BackupID), Clock: clock.At(req.Now)})
	var failed *FailedBackup
	if errors.Is(err, catalog.ErrNotFound) || errors.Is(err, ErrNoBackup) || errors.As(err, &failed) {
		return row, fmt.Errorf("%w: %w", ErrNoGoodBackup, err)
	}
	return row, err
}

// Refusal is the HTTP answer to a start that err refused, the same for the
// API and the console: 409 while a test runs, 404 for no good backup, 400
// for a name or id no backup has; 0 when err is no refusal (a fault: 500).
func Refusal(err error) (status int, code string) {
	var running AlreadyRunning
	switch {
	case errors.As(err, &running):
		return http.StatusConflict, "conflict"
	case errors.Is(err, ErrNoGoodBackup):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, ErrBadBackupName):
		return http.StatusBadRequest, "bad_request"
	}
	return 0, ""
}
