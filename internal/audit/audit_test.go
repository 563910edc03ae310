package audit

import (
	"fmt"
	"testing"
	"time"
)

// The refusals a minute records: PerClient per address (an IPv6 /64 is one
// address), the next one saying the rest are not; PerMinute in all, the
// next one saying so; a new minute starts again.
func TestAdmit(t *testing.T) {
	t.Parallel()
	tr := &Trail{}
	at := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	recorded, notes := 0, 0
	for i := range 50 {
		ok, note := tr.admit("203.0.113.7", at)
		if ok {
			recorded++
		}
		if note != "" {
			notes++
		}
		if i == PerClient && (!ok || note == "") {
			t.Fatalf("refusal %d: recorded %v, note %q", i, ok, note)
		}
	}
	if recorded != PerClient+1 || notes != 1 {
		t.Fatalf("one address: %d recorded, %d notes", recorded, notes)
	}
	// One IPv6 /64 is one address, however many it holds.
	recorded = 0
	for i := range 50 {
		if ok, _ := tr.admit(fmt.Sprintf("2001:db8:1:2::%x", i+1), at); ok {
			recorded++
		}
	}
	if recorded != PerClient+1 {
		t.Fatalf("one /64: %d recorded", recorded)
	}
	// Many addresses: PerMinute in all.
	recorded, notes = 0, 0
	for i := range 500 {
		ok, note := tr.admit(fmt.Sprintf("198.51.%d.%d", i/250, i%250), at)
		if ok {
			recorded++
		}
		if note != "" {
			notes++
		}
	}
	if total := recorded + 2*(PerClient+1); total != PerMinute+1 || notes != 1 {
		t.Fatalf("many addresses: %d recorded in the minute, want %d; %d notes", total, PerMinute+1, notes)
	}
	if ok, _ := tr.admit("203.0.113.7", at.Add(time.Minute)); !ok {
		t.Fatal("the next minute records again")
	}
}

func TestBound(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"abc": "abc", "a\x00b": "ab", "\xff\xfe": "\uFFFD", "ééééé": "é…"} {
		if got := bound(in, 5); got != want {
			t.Errorf("bound(%q, 5) = %q, want %q", in, got, want)
		}
	}
}
