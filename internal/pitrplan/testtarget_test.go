package pitrplan

import (
	"errors"
	"testing"
	"time"
)

func TestTestTarget(t *testing.T) {
	t.Parallel()
	margin := 2 * time.Minute
	w := func(from, to time.Duration) Window { return Window{From: t0.Add(from), To: t0.Add(to)} }
	unknownEnd := Window{From: t0}
	first := func(int64) int64 { return 0 }
	lastOf := func(n int64) int64 { return n - 1 }
	for _, tc := range []struct {
		name    string
		windows []Window
		oldest  bool
		draw    func(int64) int64
		want    time.Time
		err     error
	}{
		{"the oldest moment: a second after the oldest start", []Window{w(time.Hour, 3*time.Hour), w(0, 2*time.Hour)}, true, nil, t0.Add(time.Second), nil},
		{"the first draw: the first window's start", []Window{w(0, time.Hour), w(2*time.Hour, 3*time.Hour)}, false, first, t0.Add(time.Second), nil},
		{"the last draw: the last window's end, less the margin", []Window{w(0, time.Hour), w(2*time.Hour, 3*time.Hour)}, false, lastOf, t0.Add(3*time.Hour - margin), nil},
		{"a draw past the first window lands in the second", []Window{w(0, time.Hour), w(2*time.Hour, 3*time.Hour)}, false,
			func(int64) int64 { return int64(time.Hour-margin-time.Second) + 1 }, t0.Add(2*time.Hour + time.Second), nil},
		{"a window shorter than the margin is left out", []Window{w(0, time.Minute), w(time.Hour, 2*time.Hour)}, true, nil, t0.Add(time.Hour + time.Second), nil},
		{"a window without a known end is left out", []Window{unknownEnd, w(time.Hour, 2*time.Hour)}, false, first, t0.Add(time.Hour + time.Second), nil},
		{"nothing long enough", []Window{w(0, time.Minute), unknownEnd}, false, first, time.Time{}, ErrTooShort},
		{"no window", nil, true, nil, time.Time{}, ErrTooShort},
	} {
		got, err := TestTarget(tc.windows, margin, tc.oldest, tc.draw)
		if !errors.Is(err, tc.err) || !got.Equal(tc.want) {
			t.Errorf("%s: %s %v, want %s %v", tc.name, got, err, tc.want, tc.err)
		}
		if err == nil {
			if _, cerr := Choose(tc.windows, Target{Time: got}); cerr != nil {
				t.Errorf("%s: the target is not restorable: %v", tc.name, cerr)
			}
		}
	}
}

func TestTestable(t *testing.T) {
	t.Parallel()
	margin := 2 * time.Minute
	windows := []Window{{From: t0, To: t0.Add(time.Hour)}, {From: t0.Add(2 * time.Hour)}}
	for _, tc := range []struct {
		moment time.Time
		ok     bool
	}{
		{t0, true},
		{t0.Add(58 * time.Minute), true},
		{t0.Add(59 * time.Minute), false}, // inside the margin
		{t0.Add(-time.Second), false},
		{t0.Add(3 * time.Hour), false}, // a window whose end is not known
	} {
		err := Testable(windows, tc.moment, margin)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrUntestable) {
			t.Errorf("%s: %v, want ok=%v", tc.moment, err, tc.ok)
		}
	}
}
