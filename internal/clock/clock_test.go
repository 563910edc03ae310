package clock

import (
	"context"
	"testing"
	"time"
)

func TestManualMovesOnlyWhenTold(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 2, 5, 3, 0, 0, 0, time.UTC)
	c := At(t0)
	first := c.Now()
	if !first.Equal(t0) || !c.Now().Equal(first) {
		t.Fatalf("a manual clock moved by itself: %s", c.Now())
	}
	c.Advance(90 * time.Second)
	if want := t0.Add(90 * time.Second); !c.Now().Equal(want) {
		t.Fatalf("after Advance: %s, want %s", c.Now(), want)
	}
	c.Set(t0)
	if !c.Now().Equal(t0) {
		t.Fatalf("after Set: %s", c.Now())
	}
}

func TestShiftedAndOr(t *testing.T) {
	t.Parallel()
	if got := time.Until(Shifted(24 * time.Hour).Now()); got < 23*time.Hour || got > 25*time.Hour {
		t.Fatalf("a day ahead is %s ahead", got)
	}
	if Or(nil) != Real {
		t.Fatal("Or(nil) is not the real clock")
	}
	m := At(time.Time{})
	if Or(m) != Clock(m) {
		t.Fatal("Or replaced a given clock")
	}
}

// Sleep ends when the clock has moved, not when real time has passed.
func TestSleepFollowsTheClock(t *testing.T) {
	t.Parallel()
	c := At(time.Date(2026, 2, 5, 3, 0, 0, 0, time.UTC))
	done := make(chan struct{})
	go func() { Sleep(context.Background(), c, time.Hour, time.Millisecond); close(done) }()
	select {
	case <-done:
		t.Fatal("Sleep ended before the clock moved")
	case <-time.After(50 * time.Millisecond):
	}
	c.Advance(time.Hour)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Sleep did not end once the clock moved an hour")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	Sleep(ctx, c, time.Hour, time.Millisecond) // returns at once
}
