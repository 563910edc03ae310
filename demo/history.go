package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/basebackup"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/wal"
	"github.com/mosaique/rgz-backup/internal/walship"
)

// The history the screenshots show, seeded into the catalog before the
// daemon starts: what 90 nights of a real service leave behind. Only its
// last night and the point-in-time archive from now on are taken for
// real, by rgz-backup itself (docs/DEVELOPMENT.md says which is which).

// databases are the three databases the demo backs up.
var databases = []string{"rgz", "radius", "billing"}

// trend is how a database's nightly dump grew: its size 90 days ago, and
// per day, up to tonight's real one.
type trend struct {
	size90, daily int64
	seconds       int
}

// trendTo is a history that grows by a fifth over 90 days to tonight's
// real backup row.
func trendTo(real catalog.Execution) trend {
	size := *real.FileSizeBytes
	return trend{size90: size * 5 / 6, daily: (size - size*5/6) / 90, seconds: max(1, deref(real.DurationSeconds))}
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// failedNight is how many nights ago every database's backup failed,
// after its retries (the database server was unreachable).
const failedNight = 37

// seedDumps writes 90 nights of backups of every database into the
// catalog, ending the night before now: the one failed night, weekly
// restore tests in turn, a compliance copy on the first of each month,
// and the files older than 30 days deleted by retention.
func seedDumps(ctx context.Context, store *catalog.Store, backups string, now time.Time, trends map[string]trend) error {
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	host := "rgz-beat"
	tested := 0
	nights := mrand.New(mrand.NewPCG(29, 90)) // the same history every run
	for ago := 90; ago >= 1; ago-- {
		night := today.AddDate(0, 0, -ago)
		for i, dbName := range databases {
			db := trends[dbName]
			date := night.Add(3*time.Hour + time.Duration(i*41)*time.Second)
			// Growth, with a night's ups and downs; a duration that
			// varies as a shared server's nights do.
			size := db.size90 + int64(90-ago)*db.daily + nights.Int64N(6)*db.daily/2
			seconds := db.seconds + nights.IntN(4)
			name := date.Format("20060102_150405") + ".dump.gz"
			path := filepath.Join(backups, catalog.DefaultTarget, dbName, name)
			row := catalog.Execution{ID: uuid.NewString(), BackupType: catalog.TypePgDump, BackupDate: date, Filename: name,
				DatabaseName: &dbName, TriggeredBy: catalog.TriggerScheduled, Attempt: 1, Hostname: &host, CreatedAt: date,
				TargetName: catalog.DefaultTarget}
			if ago == failedNight {
				for attempt := 1; attempt <= 2; attempt++ {
					failed := row
					failed.ID, failed.Attempt, failed.Status = uuid.NewString(), attempt, catalog.StatusFailed
					failed.BackupDate = date.Add(time.Duration(attempt-1) * 10 * time.Minute)
					failed.Filename = failed.BackupDate.Format("20060102_150405") + ".dump.gz"
					msg := `connect to the database to back up: dial tcp 10.0.4.12:5432: connect: connection timed out`
					failed.ErrorMessage, failed.DurationSeconds = &msg, ptr(30)
					if err := store.Insert(ctx, &failed); err != nil {
						return err
					}
				}
				continue
			}
			finished := date.Add(time.Duration(seconds) * time.Second)
			row.Status, row.FilePath, row.FileSizeBytes, row.DurationSeconds, row.FinishedAt = catalog.StatusSuccess, &path, &size, &seconds, &finished
			row.ChecksumCRC32, row.ChecksumSHA256 = ptr(randomHex(4)), ptr(randomHex(32))
			row.UncompressedSizeBytes = ptr(size * 41 / 10)
			// The month's first backup is its compliance copy; this
			// month's is tonight's real one, taken first.
			if date.Day() == 1 && (date.Month() != now.Month() || date.Year() != now.Year()) {
				row.RetentionClass = catalog.ClassCompliance
			}
			if ago > 30 && row.RetentionClass != catalog.ClassCompliance {
				deleted := date.AddDate(0, 0, 30)
				row.DeletedAt = &deleted
			}
			if err := store.Insert(ctx, &row); err != nil {
				return err
			}
			// The weekly restore test (Sundays 02:00), each database in
			// turn, of the backup closest to 7 days old.
			if night.Weekday() == time.Sunday && ago >= 7 && i == tested%len(databases) {
				started := night.AddDate(0, 0, 7).Add(2 * time.Hour)
				seconds := seconds*2 + ago%4
				ended := started.Add(time.Duration(seconds) * time.Second)
				scratch := "rgz_restore_test_" + started.Format("20060102_150405")
				if _, err := store.ImportRestoreTest(ctx, catalog.RestoreTest{ID: uuid.NewString(), BackupID: row.ID, StartedAt: started,
					FinishedAt: &ended, DurationSeconds: &seconds, Status: catalog.TestSuccess, TriggeredBy: catalog.TriggerScheduled,
					ScratchDatabase: &scratch, Hostname: &host, RestoreMode: ptr("parallel (4 jobs)")}); err != nil {
					return err
				}
			}
		}
		if night.Weekday() == time.Sunday && ago >= 7 {
			tested++
		}
	}
	return nil
}

// seedArchive writes the point-in-time archive's last 14 days into the
// catalog and the backup directory: two weekly base backups and the WAL
// from the older one's start to just before segment upTo, where the real
// stream, started next, goes on. The files are random bytes (no restore
// reads them: the demo's test restores a moment after the real base
// backup the daemon takes), each recorded with its SHA-256 so that the
// daily check finds every place holding what was "shipped".
func seedArchive(ctx context.Context, store *catalog.Store, catalogURL, backups string, sysid, upTo uint64, now time.Time) error {
	const first = 2
	size := int64(wal.DefaultSegmentSize)
	span := 14 * 24 * time.Hour
	shippedAt := func(no uint64) time.Time {
		return now.Add(-span).Add(time.Duration(float64(span-time.Hour) * float64(no-first) / float64(upTo-first)))
	}
	conn, err := pgx.Connect(ctx, catalogURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, b := range []struct {
		label string
		segNo uint64
	}{{"14 days ago", first}, {"7 days ago", first + (upTo-first)/2}} {
		started := shippedAt(b.segNo)
		label := started.UTC().Format("20060102T150405Z") + "-" + wal.Segment{Timeline: 1, No: b.segNo}.Name(size)
		row := catalog.BaseBackup{ID: uuid.New(), SystemID: sysid, Label: label, TriggeredBy: basebackup.TriggerScheduled,
			StartedAt: started, Hostname: "rgz-beat", PID: 1}
		if err := store.StartBaseBackup(ctx, row); err != nil {
			return err
		}
		finished := started.Add(2 * time.Minute)
		row.Status, row.FinishedAt, row.Timeline = "success", &finished, 1
		row.StartLSN, row.EndLSN = wal.LSN(b.segNo*uint64(size)+0x28).String(), wal.LSN(b.segNo*uint64(size)+0x5000).String()
		row.ObjectKey, row.RawSize, row.StoredSize = basebackup.Key(sysid, label, ".tar.zst"), 1_480_000_000, 412_000_000
		row.CompressionFormat, row.Copies, row.ServerVersion = "zstd", []string{backups}, "15"
		if err := store.FinishBaseBackup(ctx, row); err != nil {
			return err
		}
	}
	for no := uint64(first); no < upTo; no++ {
		seg := wal.Segment{Timeline: 1, No: no}
		name := seg.Name(size)
		key := walship.Key(sysid, walship.File{Name: name, Segment: seg, Timeline: 1}, ".zst")
		body := make([]byte, 4096)
		_, _ = rand.Read(body)
		path := filepath.Join(backups, key)
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return err
		}
		if err := os.WriteFile(path, body, 0o640); err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		if err := store.RecordWALFile(ctx, catalog.WALFile{SystemID: sysid, Kind: catalog.WALSegment, Timeline: 1, SegmentNo: no,
			FileName: name, ObjectKey: key, StartLSN: seg.Start(size).String(), EndLSN: seg.End(size).String(), RawSize: size,
			RawSHA256: randomHex(32), StoredSize: int64(len(body)), StoredCRC32: randomHex(4), StoredSHA256: hex.EncodeToString(sum[:]),
			CompressionFormat: "zstd", Copies: []string{backups}}); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, `UPDATE pitr_wal_files SET shipped_at = $3 WHERE system_id = $1::numeric AND segment_no = $2`,
			strconv.FormatUint(sysid, 10), int64(no), shippedAt(no+1)); err != nil {
			return err
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func ptr[T any](v T) *T { return &v }

// switchWAL moves the server's WAL on by n segments (a write, then a
// switch, each time), so that the seeded archive's segments come before
// the ones the real stream will read; it returns the segment the server
// writes now.
func switchWAL(ctx context.Context, url string, n int) (uint64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS demo_wal (n int)`); err != nil {
		return 0, err
	}
	for i := range n {
		if _, err := conn.Exec(ctx, `INSERT INTO demo_wal VALUES ($1)`, i); err != nil {
			return 0, err
		}
		if _, err := conn.Exec(ctx, `SELECT pg_switch_wal()`); err != nil {
			return 0, err
		}
	}
	var lsn string
	if err := conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn); err != nil {
		return 0, err
	}
	at, err := wal.ParseLSN(lsn)
	if err != nil {
		return 0, err
	}
	return uint64(at) / uint64(wal.DefaultSegmentSize), nil
}
