package clock

import (
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
