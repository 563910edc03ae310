package pitr

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/basebackup"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/pitrplan"
	"github.com/mosaique/rgz-backup/internal/wal"
)

// ErrNoArchive is a catalog that knows no cluster with a good base backup.
var ErrNoArchive = errors.New("no point-in-time recovery archive: the catalog records no good base backup")

// Cluster is the cluster to look at: systemID when given, else the only
// one the catalog holds; several are refused, named.
func Cluster(ctx context.Context, store *catalog.Store, systemID uint64) (uint64, error) {
	if systemID != 0 {
		return systemID, nil
	}
	ids, err := store.PITRClusters(ctx)
	if err != nil {
		return 0, fmt.Errorf("catalog: %w", err)
	}
	switch len(ids) {
	case 0:
		return 0, ErrNoArchive
	case 1:
		return ids[0], nil
	}
	// Several servers (a targets file), or a server rebuilt: guessing
	// could restore the wrong one. As FromPlaces says it without the
	// catalog.
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = strconv.FormatUint(id, 10)
	}
	return 0, fmt.Errorf("the catalog holds %d clusters' archives (%s, newest base backup first): choose one with --system-id", len(ids), strings.Join(names, ", "))
}

// FromCatalog is what the catalog says cluster systemID's archive holds.
func FromCatalog(ctx context.Context, store *catalog.Store, systemID uint64) (pitrplan.Archive, error) {
	a := pitrplan.Archive{SegSize: wal.DefaultSegmentSize}
	files, err := store.WALFiles(ctx, systemID)
	if err != nil {
		return a, fmt.Errorf("catalog: %w", err)
	}
	for _, f := range files {
		if f.Kind == catalog.WALHistory {
			switches, err := wal.ParseHistory(f.Timeline, f.History)
			if err != nil {
				return a, fmt.Errorf("catalog: %s: %w", f.FileName, err)
			}
			if a.Histories == nil {
				a.Histories = map[uint32][]wal.Switch{}
			}
			a.Histories[f.Timeline] = switches
			continue
		}
		start, err1 := wal.ParseLSN(f.StartLSN)
		end, err2 := wal.ParseLSN(f.EndLSN)
		if err := errors.Join(err1, err2); err != nil {
			return a, fmt.Errorf("catalog: %s: %w", f.FileName, err)
		}
		if f.Kind == catalog.WALSegment {
			a.SegSize = int64(end - start)
		}
		a.Files = append(a.Files, pitrplan.File{Segment: wal.Segment{Timeline: f.Timeline, No: f.SegmentNo}, End: end,
			Partial: f.Kind == catalog.WALPartial, Key: f.ObjectKey, Shipped: f.ShippedAt})
	}
	bases, err := store.BaseBackups(ctx, systemID)
	if err != nil {
		return a, fmt.Errorf("catalog: %w", err)
	}
	for _, b := range bases {
		if b.Status != "success" || b.FinishedAt == nil || b.DeletedAt != nil {
			continue
		}
		start, err1 := wal.ParseLSN(b.StartLSN)
		end, err2 := wal.ParseLSN(b.EndLSN)
		if err := errors.Join(err1, err2); err != nil {
			return a, fmt.Errorf("catalog: base backup %s: %w", b.Label, err)
		}
		a.Bases = append(a.Bases, pitrplan.Base{Label: b.Label, Key: b.ObjectKey, Timeline: b.Timeline, Start: start, End: end, Finished: *b.FinishedAt,
			Format: b.CompressionFormat, Encrypted: b.Encrypted, StoredSHA256: b.StoredSHA256,
			AfterLoss: b.TriggeredBy == basebackup.TriggerSlotLost || b.TriggeredBy == basebackup.TriggerNewSlot})
	}
	return a, nil
}

// Load is what cluster systemID's archive holds (0: the only one): from the catalog, or, when store is nil (the
// catalog is gone), from the places' listings and sidecars.
func Load(ctx context.Context, cfg config.Config, store *catalog.Store, systemID uint64) (pitrplan.Archive, uint64, error) {
	if store == nil {
		return FromPlaces(ctx, cfg, systemID)
	}
	id, err := Cluster(ctx, store, systemID)
	if err != nil {
		return pitrplan.Archive{}, 0, err
	}
	a, err := FromCatalog(ctx, store, id)
	return a, id, err
}

// WindowJSON is a window as rgz-backup pitr window --json and the API say
// it.
type WindowJSON struct {
	SystemID      uint64    `json:"system_id,string"`
	BaseBackup    string    `json:"base_backup"`
	Timeline      uint32    `json:"timeline"`
	From          time.Time `json:"from"`
	To            time.Time `json:"to"`
	FromLSN       string    `json:"from_lsn"`
	ToLSN         string    `json:"to_lsn"`
	EndsInPartial bool      `json:"ends_in_partial_segment"`
}

// WindowsJSON are cluster id's windows, never nil.
func WindowsJSON(id uint64, windows []pitrplan.Window) []WindowJSON {
	out := []WindowJSON{}
	for _, w := range windows {
		out = append(out, WindowJSON{SystemID: id, BaseBackup: w.Base.Label, Timeline: w.Timeline, From: w.From.UTC(), To: w.To.UTC(),
			FromLSN: w.FromLSN.String(), ToLSN: w.ToLSN.String(), EndsInPartial: w.EndsInPartial})
	}
	return out
}
