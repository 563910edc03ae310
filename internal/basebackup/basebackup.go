// Package basebackup takes a cluster's base backups for point-in-time
// recovery (issue 28, docs/PITR.md): pg_basebackup into a private work
// directory, pg_verifybackup over it, then one tar of it sealed
// (compressed, maybe encrypted, read back whole) and copied to every place
// of the archive; the catalog's row says from start to end what happened.
package basebackup

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/sealed"
	"github.com/mosaique/rgz-backup/internal/wal"
)

// Triggers: why a base backup was taken (pitr_base_backups.triggered_by).
const (
	TriggerFirst     = "first"     // the archive had none
	TriggerScheduled = "scheduled" // BACKUP_PITR_BASE_SCHEDULE
	TriggerManual    = "manual"    // rgz-backup pitr base-backup
	TriggerSlotLost  = "slot_lost" // the slot was lost: the archive restarts from a new base backup
	TriggerNewSlot   = "new_slot"  // the slot was made again (dropped, a promoted standby, a restored server)
)

// Taker takes one cluster's base backups. The caller holds the archive's
// lock: one base backup of a cluster at a time, across every replica.
type Taker struct {
	Tools    dump.Tools
	Server   config.Database
	SystemID uint64
	SegSize  int64 // the server's wal_segment_size
	// WorkDir is private to this host (0700): the plain copy in it is the
	// server's data, unencrypted, until it is sealed; a copy a killed
	// process left there is removed by the next Take.
	WorkDir string
	Form    sealed.Form
	Stores  []destination.Store // every place of the archive
	Catalog *catalog.Store
	Clock   clock.Clock
	Log     *slog.Logger
}

// Key is a base backup's name in every place of the archive.
func Key(systemID uint64, label, ext string) string {
	return fmt.Sprintf("pitr/%d/base/%s.tar%s", systemID, label, ext)
}

// SidecarKey is the name of the JSON beside a base backup that says what
// the catalog says of it (its WAL range, checksums, how it is stored): a
// restore without the catalog reads it. Written once the base backup is
// in every place, so that it only ever describes a complete one.
func SidecarKey(systemID uint64, label string) string {
	return fmt.Sprintf("pitr/%d/base/%s.json", systemID, label)
}

// TestKey is the name of the JSON record of the newest point-in-time
// restore test that started from base backup label, kept beside it in
// every place of the archive (in a folder of its own, which a listing of
// the base backups leaves alone): without the catalog, a person still
// sees when it was proven to restore, and how long that took.
func TestKey(systemID uint64, label string) string {
	return fmt.Sprintf("pitr/%d/tests/%s.json", systemID, label)
}

// Take takes a base backup now (why: its trigger, and the requested row
// it is taken under, if any) and returns its row as the catalog has it:
// 'success' when every place holds a verified copy, else 'failed' with
// the reason (and the error).
func (t *Taker) Take(ctx context.Context, why Decision) (catalog.BaseBackup, error) {
	clk := clock.Or(t.Clock)
	host, _ := os.Hostname()
	id := why.Request
	if id == uuid.Nil {
		id = uuid.New()
	}
	row := catalog.BaseBackup{ID: id, SystemID: t.SystemID, TriggeredBy: why.Trigger, StartedAt: clk.Now().UTC(),
		Hostname: host, PID: os.Getpid(), CompressionFormat: string(t.Form.Format), Encrypted: t.Form.Encrypter != nil}
	row.Label = row.StartedAt.Format("20060102T150405Z")
	if err := t.sweep(); err != nil {
		return row, err
	}
	if n, err := t.Catalog.AbandonBaseBackups(ctx, t.SystemID, row.StartedAt); err != nil {
		return row, fmt.Errorf("catalog: %w", err)
	} else if n > 0 {
		t.log().Warn("point-in-time recovery: a base backup whose process stopped before it ended is recorded as failed", "count", n)
	}
	if err := t.Catalog.StartBaseBackup(ctx, row); err != nil {
		return row, fmt.Errorf("catalog: %w", err)
	}
	err := t.take(ctx, &row, clk)
	if row.FinishedAt == nil {
		finished := clk.Now().UTC()
		row.FinishedAt = &finished
	}
	row.Status = "success"
	if err != nil {
		row.Status, row.Error = "failed", err.Error()
	}
	if ferr := t.Catalog.FinishBaseBackup(context.WithoutCancel(ctx), row); ferr != nil {
		err = errors.Join(err, fmt.Errorf("catalog: %w", ferr))
	}
	return row, err
}

func (t *Taker) log() *slog.Logger {
	if t.Log == nil {
		return slog.Default()
	}
	return t.Log
}

// sweep makes the work directory, private, and removes what an earlier
// Take that was killed left in it.
func (t *Taker) sweep() error {
	if err := os.MkdirAll(t.WorkDir, 0o700); err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	if err := os.Chmod(t.WorkDir, 0o700); err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	entries, err := os.ReadDir(t.WorkDir)
	if err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "base-") {
			if err := os.RemoveAll(filepath.Join(t.WorkDir, e.Name())); err != nil {
				return fmt.Errorf("remove what an interrupted base backup left: %w", err)
			}
			t.log().Warn("point-in-time recovery: removed what an interrupted base backup left", "path", filepath.Join(t.WorkDir, e.Name()))
		}
	}
	return nil
}

// take does the work; row gains what is learnt on the way.
func (t *Taker) take(ctx context.Context, row *catalog.BaseBackup, clk clock.Clock) error {
	work := filepath.Join(t.WorkDir, "base-"+row.ID.String())
	if err := os.Mkdir(work, 0o700); err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	defer os.RemoveAll(work)
	data := filepath.Join(work, "data")
	if err := t.Tools.BaseBackup(ctx, t.Server, data, "rgz-backup "+row.Label); err != nil {
		return fmt.Errorf("pg_basebackup: %w", err)
	}
	if err := t.Tools.VerifyBackup(ctx, data); err != nil {
		return fmt.Errorf("pg_verifybackup: the base backup does not match its manifest: %w", err)
	}
	raw, err := os.ReadFile(filepath.Join(data, "backup_manifest"))
	if err != nil {
		return err
	}
	m, err := ParseManifest(raw)
	if err != nil {
		return err
	}
	version, _ := os.ReadFile(filepath.Join(data, "PG_VERSION"))
	row.ServerVersion = strings.TrimSpace(string(version))
	row.Timeline, row.StartLSN, row.EndLSN = m.End().Timeline, m.Start().Start.String(), m.End().End.String()
	start := m.Start()
	row.Label += "-" + wal.SegmentOf(start.Timeline, start.Start, t.SegSize).Name(t.SegSize)
	row.ObjectKey = Key(t.SystemID, row.Label, t.Form.Ext())

	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(WriteTar(pw, data)) }()
	stored, err := t.Form.Write(work, sealed.Name(row.ObjectKey), pr)
	pr.CloseWithError(errors.New("not read further"))
	if err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	row.RawSize, row.StoredSize = stored.Sums.RawSize, stored.Sums.Size
	row.StoredCRC32, row.StoredSHA256 = stored.Sums.CRC32Hex(), stored.Sums.SHA256Hex()
	row.Copies, err = sealed.CopyEverywhere(ctx, t.Stores, stored, row.ObjectKey, "base backup "+row.Label)
	if err != nil {
		return err
	}
	finished := clk.Now().UTC()
	side := *row
	side.Status, side.FinishedAt, row.FinishedAt = "success", &finished, &finished
	sidecar, err := json.MarshalIndent(side, "", "  ")
	if err != nil {
		return err
	}
	return sealed.PutBytes(ctx, t.Stores, SidecarKey(t.SystemID, row.Label), append(sidecar, '\n'))
}

// WriteTar writes the directory dir as a tar to w: its files, directories
// and symbolic links, names relative to dir, in lexical order.
func WriteTar(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		h.Name, h.Uname, h.Gname, h.Uid, h.Gid = filepath.ToSlash(rel), "", "", 0, 0
		if info.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
