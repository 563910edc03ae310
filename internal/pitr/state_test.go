package pitr

import (
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/pitrplan"
)

func TestStateOf(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 14, 0, 0, 0, time.UTC)
	windows := []pitrplan.Window{{Base: pitrplan.Base{Finished: now.Add(-48 * time.Hour)}, From: now.Add(-48 * time.Hour), To: now.Add(-30 * time.Second)}}
	live := catalog.Stream{Receiving: true, UpdatedAt: now.Add(-5 * time.Second)}
	for _, tc := range []struct {
		name    string
		stream  *catalog.Stream
		windows []pitrplan.Window
		check   *catalog.ArchiveCheck
		want    string
	}{
		{"received and shipped", &live, windows, &catalog.ArchiveCheck{Status: catalog.TestSuccess}, StateStreaming},
		{"the daily check failed", &live, windows, &catalog.ArchiveCheck{Status: catalog.TestFailed}, StateBroken},
		{"nothing restorable", &live, nil, nil, StateBroken},
		{"never streamed", nil, windows, nil, StateNotStreaming},
		{"no receiver", &catalog.Stream{UpdatedAt: now}, windows, nil, StateNotStreaming},
		{"a stale state: nobody writes it", &catalog.Stream{Receiving: true, UpdatedAt: now.Add(-2 * time.Minute)}, windows, nil, StateNotStreaming},
		{"shipped long ago", &live, []pitrplan.Window{{Base: windows[0].Base, From: windows[0].From, To: now.Add(-10 * time.Minute)}}, nil, StateLagging},
		{"the slot lost after the newest base backup", &catalog.Stream{Receiving: true, UpdatedAt: now, LastSlotLoss: now.Add(-time.Hour)}, windows, nil, StateBroken},
		{"the slot lost before it", &catalog.Stream{Receiving: true, UpdatedAt: now, LastSlotLoss: now.Add(-72 * time.Hour)}, windows, nil, StateStreaming},
	} {
		if got := StateOf(tc.stream, tc.windows, tc.check, now); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestHeartbeatAndMargin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ship, beat, margin time.Duration }{
		{30 * time.Second, 30 * time.Second, 2 * time.Minute},
		{time.Second, time.Second, 4 * time.Second},
		{10 * time.Minute, time.Minute, 22 * time.Minute},
	} {
		if b, m := HeartbeatEvery(tc.ship), TestMargin(tc.ship); b != tc.beat || m != tc.margin {
			t.Errorf("ship every %s: heartbeat every %s, margin %s; want %s, %s", tc.ship, b, m, tc.beat, tc.margin)
		}
	}
}
