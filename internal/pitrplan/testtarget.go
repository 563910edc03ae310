package pitrplan

import (
	"errors"
	"fmt"
	"time"
)

// ErrTooShort is TestTarget's error when no window is long enough to
// test.
var ErrTooShort = errors.New("no restorable window is long enough to test")

// TestTarget is the moment a restore test restores to. Every moment it
// may pick is at least margin before its window's end: recovery stops at
// the first commit after the target, so WAL holding one (the daemon's
// heartbeat) must have been shipped after it. With oldest, it is the
// oldest such moment: a second after the oldest window's start; else a
// moment drawn uniformly over the windows (draw(n) returns a number in
// [0, n), as rand.Int64N). Windows without a known end (read without the
// catalog) are left out.
func TestTarget(windows []Window, margin time.Duration, oldest bool, draw func(n int64) int64) (time.Time, error) {
	type span struct{ from, to time.Time }
	var spans []span
	var total int64
	for _, w := range windows {
		from, to := w.From.Add(time.Second), w.To.Add(-margin)
		if w.To.IsZero() || to.Before(from) {
			continue
		}
		spans = append(spans, span{from, to})
		total += int64(to.Sub(from)) + 1
	}
	if len(spans) == 0 {
		return time.Time{}, fmt.Errorf("%w: a test needs %s after a base backup's consistent point; the archive restores %s",
			ErrTooShort, margin+time.Second, Describe(windows))
	}
	if oldest {
		first := spans[0]
		for _, s := range spans[1:] {
			if s.from.Before(first.from) {
				first = s
			}
		}
		return first.from, nil
	}
	n := draw(total)
	for _, s := range spans {
		length := int64(s.to.Sub(s.from)) + 1
		if n < length {
			return s.from.Add(time.Duration(n)).Truncate(time.Microsecond), nil
		}
		n -= length
	}
	last := spans[len(spans)-1]
	return last.to, nil
}

// ErrUntestable is Testable's error for a moment no test can restore to.
var ErrUntestable = errors.New("not a moment a restore test can restore to")

// Testable says whether a restore test can restore to moment: some window
// holds it, at least margin before its end (TestTarget's margin: WAL
// holding a commit after it must have been shipped).
func Testable(windows []Window, moment time.Time, margin time.Duration) error {
	for _, w := range windows {
		if !moment.Before(w.From) && !w.To.IsZero() && !moment.After(w.To.Add(-margin)) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s (a test's moment is at least %s before the archive's end); the archive restores %s",
		ErrUntestable, moment.UTC().Format(time.RFC3339), margin, Describe(windows))
}
