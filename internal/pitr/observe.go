package pitr

import (
	"context"
	"fmt"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/dbconn"
	"github.com/mosaique/rgz-backup/internal/pitrplan"
	"github.com/mosaique/rgz-backup/internal/wal"
)

// Observed is the archive's state as the server and the catalog show it,
// from any host (rgz-backup pitr status): whoever streams.
type Observed struct {
	State           string     `json:"state"` // streaming, lagging, not streaming
	SystemID        uint64     `json:"system_id,string"`
	Slot            string     `json:"slot"`
	SlotActive      bool       `json:"slot_active"` // a receiver reads it now
	SlotStatus      string     `json:"slot_wal_status"`
	SlotSafeBytes   int64      `json:"slot_safe_bytes"` // -1: no limit
	ServerLSN       string     `json:"server_lsn"`
	ReceivedLSN     string     `json:"received_lsn"`      // the slot's restart_lsn: flushed by the receiver
	ReceiveLagBytes int64      `json:"receive_lag_bytes"` // written by the server, not yet on the backup host
	ShippedLSN      string     `json:"shipped_lsn"`       // the end of the newest file every place holds
	ShipLagBytes    int64      `json:"ship_lag_bytes"`
	LastShipped     *time.Time `json:"last_shipped"`
	ShipLagSeconds  float64    `json:"ship_lag_seconds"`
	BaseBackups     int        `json:"base_backups"`
	NewestBase      string     `json:"newest_base_backup"`
	Windows         []Span     `json:"windows"` // more than one: a gap (a lost slot) between them
}

// Span is one restorable window, for a person.
type Span struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// LagLimit is how far behind the archive's places may be before the
// state says lagging: five minutes of WAL the server wrote.
const LagLimit = 5 * time.Minute

// Observe reads the archive's state from the server (the slot) and the
// catalog (what was shipped, the base backups, the window).
func Observe(ctx context.Context, cfg config.Config, store *catalog.Store, now time.Time) (Observed, error) {
	o := Observed{Slot: cfg.PITR.Slot, SlotSafeBytes: -1}
	conn, err := dbconn.Connect(ctx, cfg.Database, "rgz-backup pitr status")
	if err != nil {
		return o, fmt.Errorf("connect to the server: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var sysid string
	var restart *string
	var active *bool
	err = conn.QueryRow(ctx, `SELECT (SELECT system_identifier::text FROM pg_control_system()), pg_current_wal_lsn()::text,
			s.active, coalesce(s.wal_status, ''), coalesce(s.safe_wal_size, -1), s.restart_lsn::text
		FROM (SELECT 1) one LEFT JOIN pg_replication_slots s ON s.slot_name = $1`, cfg.PITR.Slot).
		Scan(&sysid, &o.ServerLSN, &active, &o.SlotStatus, &o.SlotSafeBytes, &restart)
	if err != nil {
		return o, fmt.Errorf("read the server's slot: %w", err)
	}
	o.SlotActive = active != nil && *active
	if _, err := fmt.Sscan(sysid, &o.SystemID); err != nil {
		return o, err
	}
	server, _ := wal.ParseLSN(o.ServerLSN)
	if restart != nil {
		o.ReceivedLSN = *restart
		received, _ := wal.ParseLSN(*restart)
		o.ReceiveLagBytes = max(0, int64(server)-int64(received))
	}
	files, err := store.WALFiles(ctx, o.SystemID)
	if err != nil {
		return o, fmt.Errorf("catalog: %w", err)
	}
	var shipped wal.LSN
	for _, f := range files {
		end, err := wal.ParseLSN(f.EndLSN)
		if err == nil && f.Kind != catalog.WALHistory && end >= shipped {
			shipped, o.ShippedLSN = end, f.EndLSN
			at := f.ShippedAt
			o.LastShipped = &at
		}
	}
	if o.LastShipped != nil {
		o.ShipLagBytes = max(0, int64(server)-int64(shipped))
		if o.ShipLagBytes > 0 {
			o.ShipLagSeconds = now.Sub(*o.LastShipped).Seconds()
		}
	}
	arch, err := FromCatalog(ctx, store, o.SystemID)
	if err != nil {
		return o, err
	}
	o.BaseBackups = len(arch.Bases)
	windows := arch.Windows()
	o.Windows = Merge(windows)
	if len(windows) > 0 {
		o.NewestBase = windows[len(windows)-1].Base.Label
	}
	o.State = state(o)
	return o, nil
}

// state is the one word for the NOC: streaming (a receiver reads the slot
// and the places are less than LagLimit behind), lagging, or not
// streaming.
func state(o Observed) string {
	switch {
	case !o.SlotActive || o.SlotStatus == "lost":
		return "not streaming"
	case o.ShipLagSeconds > LagLimit.Seconds():
		return "lagging"
	}
	return "streaming"
}

// Merge are the moments the windows restore, as separate spans, oldest
// first: windows of base backups on one stretch of WAL overlap, and make
// one span; a break between spans is a gap (a lost slot).
func Merge(windows []pitrplan.Window) []Span {
	out := []Span{}
	for _, w := range windows {
		if n := len(out); n > 0 && !w.From.After(out[n-1].To) {
			out[n-1].To = maxTime(out[n-1].To, w.To)
		} else {
			out = append(out, Span{From: w.From, To: w.To})
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Archive states, for the NOC (the API, the console, the metrics).
const (
	StateStreaming    = "streaming"     // received and shipped: restorable to within LagLimit of now
	StateLagging      = "lagging"       // streaming, but the archive ends more than LagLimit ago
	StateNotStreaming = "not streaming" // no receiver runs, or its state is stale
	StateBroken       = "broken"        // nothing restorable, a gap after the newest base backup, or the daily check failed
)

// staleStream is how old a stream's recorded state may be before nobody
// is taken to stream it (it is written every 10 s at most).
const staleStream = time.Minute

// StateOf is the archive's state from the catalog alone: its stream's
// last recorded state (nil: never streamed), its windows, its last daily
// check (nil: none yet; a failed one is a broken archive: a gap nobody
// was told of, or a place that lacks what was shipped), now.
func StateOf(st *catalog.Stream, windows []pitrplan.Window, check *catalog.ArchiveCheck, now time.Time) string {
	if len(windows) == 0 || check != nil && check.Status == catalog.TestFailed {
		return StateBroken
	}
	newest := windows[len(windows)-1]
	switch {
	case st != nil && !st.LastSlotLoss.IsZero() && st.LastSlotLoss.After(newest.Base.Finished):
		// The slot was lost after the newest good base backup: no
		// moment since is restorable until the new one is done.
		return StateBroken
	case st == nil || !st.Receiving || now.Sub(st.UpdatedAt) > staleStream:
		return StateNotStreaming
	case !newest.To.IsZero() && now.Sub(newest.To) > LagLimit:
		return StateLagging
	}
	return StateStreaming
}

// ClusterState is one cluster's archive as the API's window route, the
// metrics and the console say it: its state, what it restores, and the
// stream's last recorded state.
type ClusterState struct {
	SystemID uint64                `json:"system_id,string"`
	State    string                `json:"state"` // streaming, lagging, not streaming, broken
	Oldest   *time.Time            `json:"oldest_restorable"`
	Newest   *time.Time            `json:"newest_restorable"`
	Spans    []Span                `json:"spans"` // the windows merged: more than one, a gap between them
	Windows  []WindowJSON          `json:"windows"`
	Stream   *catalog.Stream       `json:"stream"`
	Check    *catalog.ArchiveCheck `json:"last_check"` // the daily check's newest
}

// Clusters are every archived cluster's state and windows, from the
// catalog, at now.
func Clusters(ctx context.Context, store *catalog.Store, now time.Time) ([]ClusterState, error) {
	ids, err := store.PITRClusters(ctx)
	if err != nil {
		return nil, err
	}
	streams, err := store.Streams(ctx)
	if err != nil {
		return nil, err
	}
	checks, err := store.LastArchiveChecks(ctx)
	if err != nil {
		return nil, err
	}
	out := []ClusterState{}
	for _, id := range ids {
		arch, err := FromCatalog(ctx, store, id)
		if err != nil {
			return nil, err
		}
		windows := arch.Windows()
		c := ClusterState{SystemID: id, Spans: Merge(windows), Windows: WindowsJSON(id, windows)}
		for i := range streams {
			if streams[i].SystemID == id {
				c.Stream = &streams[i]
			}
		}
		for i := range checks {
			if checks[i].SystemID == id {
				c.Check = &checks[i]
			}
		}
		c.State = StateOf(c.Stream, windows, c.Check, now)
		for _, w := range windows {
			if from := w.From.UTC(); c.Oldest == nil || from.Before(*c.Oldest) {
				c.Oldest = &from
			}
			if to := w.To.UTC(); !w.To.IsZero() && (c.Newest == nil || to.After(*c.Newest)) {
				c.Newest = &to
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// CheckMoment says whether a restore test can restore to moment in some
// cluster's archive the catalog knows (pitrplan.Testable, with the margin
// of shipEvery): asked before a person's test is recorded, so that a
// moment it cannot restore is refused, not a failed test and an alert.
func CheckMoment(ctx context.Context, store *catalog.Store, moment time.Time, shipEvery time.Duration) error {
	ids, err := store.PITRClusters(ctx)
	if err != nil {
		return err
	}
	var windows []pitrplan.Window
	for _, id := range ids {
		arch, err := FromCatalog(ctx, store, id)
		if err != nil {
			return err
		}
		windows = append(windows, arch.Windows()...)
	}
	return pitrplan.Testable(windows, moment, TestMargin(shipEvery))
}
