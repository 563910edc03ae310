package console

import (
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// Level is the big word on the wall screen.
type Level string

const (
	OK      Level = "OK"
	Warning Level = "WARNING"
	Failed  Level = "FAILED"
)

// State is one database's (or the service's) state and why.
type State struct {
	Level  Level
	Reason string // empty when OK
}

// MaxAge is how old the newest success may be before the state is FAILED:
// the alert RgzBackupNoSuccessIn26h's threshold.
const MaxAge = 26 * time.Hour

// Judge decides a state from the last run and the newest success (nil:
// none) at now: FAILED when the last run failed after its retries or no
// success is recent, WARNING while a failed attempt waits for its retry,
// or when the last one lacks a copy or looks suspect, OK otherwise.
// Pure, so that the wall screen and its test agree.
func Judge(last, lastSuccess *catalog.Execution, now time.Time) State {
	switch {
	case last == nil:
		return State{Failed, "no backup yet"}
	case last.RunFailed(now):
		return State{Failed, "the last backup failed: " + firstLine(deref(last.ErrorMessage))}
	case lastSuccess == nil:
		return State{Failed, "no successful backup yet"}
	case now.Sub(lastSuccess.BackupDate) > MaxAge:
		return State{Failed, "no successful backup for " + now.Sub(lastSuccess.BackupDate).Round(time.Hour).String()}
	case last.Retrying(now):
		return State{Warning, "an attempt failed and is retried at " + last.RetryAt.UTC().Format("15:04:05") + " UTC: " + firstLine(deref(last.ErrorMessage))}
	case last.Status == catalog.StatusPartial:
		return State{Warning, "a copy is missing: " + firstLine(deref(last.ErrorMessage))}
	case last.Suspect:
		reason := "the last backup looks suspect"
		if len(last.SuspectReasons) > 0 {
			reason += ": " + last.SuspectReasons[0]
		}
		return State{Warning, reason}
	}
	return State{Level: OK}
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
