// Package clock tells the time to the code that decides by it (backup
// names, retention, restore tests, the daemon's schedule), so that tests
// move time instead of waiting for it.
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Real is the system clock.
var Real Clock = system{}

type system struct{}

func (system) Now() time.Time { return time.Now() }

// Or returns c, or the real clock when c is nil: options leave it unset
// outside tests.
func Or(c Clock) Clock {
	if c == nil {
		return Real
	}
	return c
}

// Shifted is the real clock moved by a duration: time flows as usual,
// from another instant ("a year from now").
type Shifted time.Duration

func (s Shifted) Now() time.Time { return time.Now().Add(time.Duration(s)) }

// Manual stands still until a test sets or advances it. It is safe for
// concurrent use.
type Manual struct {
	mu  sync.Mutex
	now time.Time
}

// At returns a manual clock showing t.
func At(t time.Time) *Manual { return &Manual{now: t} }

// Now returns the time the clock shows.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Set makes the clock show t.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = t
}

// Advance moves the clock d forward.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
}

// Sleep waits until c has moved by d, looking at it every poll (a test
// moves a Manual clock and the wait ends at its next look), or until ctx
// ends.
func Sleep(ctx context.Context, c Clock, d, poll time.Duration) {
	until := c.Now().Add(d)
	tick := time.NewTicker(max(min(poll, d), time.Millisecond))
	defer tick.Stop()
	for c.Now().Before(until) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
