// Package metrics exposes rgz-backup's state to Prometheus under the
// specification's names (docs/REQUIREMENTS.md). Every value is read from the catalog (and the backup
// directory's file system) when Prometheus scrapes, so a restart neither
// resets the last success nor shows "no backup"; the same collector writes
// node_exporter's textfile after a one-shot CLI run.
package metrics

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/disk"
	"github.com/mosaique/rgz-backup/internal/lock"
	"github.com/mosaique/rgz-backup/internal/notify"
	"github.com/mosaique/rgz-backup/internal/pitr"
	"github.com/mosaique/rgz-backup/internal/recent"
	"github.com/mosaique/rgz-backup/internal/version"
	"github.com/mosaique/rgz-backup/internal/wal"
)

// Snapshot is what the metrics show, read at one instant.
type Snapshot struct {
	catalog.Summary
	Now                time.Time // when it was read: decides whether a failed attempt's retry is overdue
	DiskFree, DiskSize uint64
	DiskUsedRatio      float64 // as df's Use%
	DiskWarningRatio   float64
	Running            bool
	Destinations       []catalog.DestinationStat // BACKUP_DESTINATIONS' copies
	// With several databases: each one's newest row and newest success.
	Databases []catalog.DatabaseState
	// Notifications not sent yet (queued, or failing and retried).
	Notifications catalog.Waiting
	// Point-in-time recovery's WAL streams, as the replicas that stream
	// them last wrote.
	Streams []catalog.Stream
	// Point-in-time recovery's archives, and their restore tests (nil:
	// none yet).
	PITR                             []pitr.ClusterState
	PITRLastTest, PITRLastTestPassed map[uint64]catalog.PITRRestoreTest // each cluster's, by system identifier
	PITRChecks                       []catalog.ArchiveCheck             // each cluster's newest daily check
}

// Read builds a snapshot from the catalog (aggregates computed by the
// database: the cost of a scrape does not grow with the history), the
// backup directory and the backup lock.
func Read(ctx context.Context, store *catalog.Store, cfg config.Config) (Snapshot, error) {
	s := Snapshot{Now: time.Now(), DiskWarningRatio: float64(cfg.WarningUsedPercent) / 100}
	sum, err := store.Summary(ctx)
	if err != nil {
		return s, err
	}
	s.Summary = sum
	if s.Destinations, err = store.DestinationStats(ctx); err != nil {
		return s, err
	}
	if u, err := disk.UsageOf(cfg.LocalDir); err == nil {
		s.DiskFree, s.DiskSize, s.DiskUsedRatio = u.Free, u.Total, u.UsedRatio()
	}
	if s.Notifications, err = store.JobsWaiting(ctx, notify.JobKind); err != nil {
		return s, err
	}
	if s.Streams, err = store.Streams(ctx); err != nil {
		return s, err
	}
	if s.PITR, err = pitr.Clusters(ctx, store, s.Now); err != nil {
		return s, err
	}
	if s.PITRChecks, err = store.LastArchiveChecks(ctx); err != nil {
		return s, err
	}
	if s.PITRLastTest, err = store.LastPITRRestoreTests(ctx, false); err != nil {
		return s, err
	}
	if s.PITRLastTestPassed, err = store.LastPITRRestoreTests(ctx, true); err != nil {
		return s, err
	}
	_, s.Running, _ = lock.HeldBy(ctx, cfg.Catalog)
	if cfg.Several() {
		if s.Databases, err = store.DatabaseStates(ctx); err != nil {
			return s, err
		}
	}
	return s, nil
}

// MaxAge is how old a snapshot a scrape may be served: concurrent scrapes
// share one reading, and while it is refreshed they get the previous one.
const MaxAge = 5 * time.Second

func (c Collector) snapshot(ctx context.Context) (Snapshot, error) {
	if c.shared == nil { // not registered through Registry: no sharing
		return Read(ctx, c.Store, c.Cfg)
	}
	return c.shared.Get(func() (Snapshot, error) { return Read(ctx, c.Store, c.Cfg) })
}

var (
	descDuration      = prometheus.NewDesc("rgz_backup_pg_dump_duration_seconds", "Duration of the last backup run.", nil, nil)
	descSize          = prometheus.NewDesc("rgz_backup_pg_dump_size_bytes", "File size of the last backup run (0 when it failed).", nil, nil)
	descStatus        = prometheus.NewDesc("rgz_backup_pg_dump_status", "1 for the last run's status, 0 for the others.", []string{"status"}, nil)
	descLastSuccess   = prometheus.NewDesc("rgz_backup_pg_dump_last_success_timestamp_seconds", "Date of the newest successful backup (0: none).", nil, nil)
	descRuns          = prometheus.NewDesc("rgz_backup_pg_dump_runs_total", "Backup attempts recorded, by status.", []string{"status"}, nil)
	descRunning       = prometheus.NewDesc("rgz_backup_pg_dump_running", "1 while a backup runs.", nil, nil)
	descDiskFree      = prometheus.NewDesc("rgz_backup_disk_free_bytes", "Free bytes in BACKUP_LOCAL_DIR's file system.", nil, nil)
	descDiskUsed      = prometheus.NewDesc("rgz_backup_disk_used_ratio", "Used share of BACKUP_LOCAL_DIR's file system, 0 to 1, as df's Use% (root-reserved blocks left out).", nil, nil)
	descDiskWarning   = prometheus.NewDesc("rgz_backup_disk_warning_used_ratio", "BACKUP_WARNING_USED_PERCENT as a ratio: the alert's threshold.", nil, nil)
	descLocalBackups  = prometheus.NewDesc("rgz_backup_local_backups", "Good backups on the local disk.", nil, nil)
	descLocalBytes    = prometheus.NewDesc("rgz_backup_local_bytes", "Bytes of the good backups on the local disk.", nil, nil)
	descPartial       = prometheus.NewDesc("rgz_backup_s3_partial_backups", "Good backups with a copy missing, in S3 or a destination (status partial).", nil, nil)
	descOldestPartial = prometheus.NewDesc("rgz_backup_s3_oldest_partial_timestamp_seconds", "Date of the oldest partial backup (0: none).", nil, nil)
	descTestStatus    = prometheus.NewDesc("rgz_backup_restore_test_status", "1 for the last restore test's status, 0 for the others.", []string{"status"}, nil)
	descTestDuration  = prometheus.NewDesc("rgz_backup_restore_test_duration_seconds", "Duration of the newest successful restore test: the measured RTO (absent before one succeeds).", nil, nil)
	descRunFailed     = prometheus.NewDesc("rgz_backup_pg_dump_run_failed", "1 when the last run failed after its retries (a failed attempt whose retry is on its way is no failed run).", nil, nil)
	descTestSuccess   = prometheus.NewDesc("rgz_backup_restore_test_last_success_timestamp_seconds", "End of the newest successful restore test (0: none).", nil, nil)
	descNotifyWaiting = prometheus.NewDesc("rgz_backup_notifications_waiting", "Notifications queued and not sent yet (a failing one is retried for a day).", nil, nil)
	descNotifyOldest  = prometheus.NewDesc("rgz_backup_notification_oldest_waiting_timestamp_seconds", "When the oldest notification not sent yet was queued (0: none).", nil, nil)

	destination      = []string{"destination"}
	descDestCopies   = prometheus.NewDesc("rgz_backup_destination_copies", "Verified copies in a destination of BACKUP_DESTINATIONS.", destination, nil)
	descDestFailing  = prometheus.NewDesc("rgz_backup_destination_copy_failures", "Backups whose last copy to the destination failed.", destination, nil)
	descDestBytes    = prometheus.NewDesc("rgz_backup_destination_bytes", "Bytes of the verified copies in the destination.", destination, nil)
	descDestVerified = prometheus.NewDesc("rgz_backup_destination_last_verified_timestamp_seconds", "When a copy to the destination was last verified (0: never).", destination, nil)

	// With several databases (issue 16), each database's own: the
	// unlabelled metrics above then sum up or show the newest of all.
	database          = []string{"target", "database"}
	descDBLastSuccess = prometheus.NewDesc("rgz_backup_database_last_success_timestamp_seconds", "Date of the database's newest successful backup (0: none).", database, nil)
	descDBStatus      = prometheus.NewDesc("rgz_backup_database_status", "1 for the status of the database's last backup, 0 for the others.", append(database, "status"), nil)
	descDBSize        = prometheus.NewDesc("rgz_backup_database_size_bytes", "File size of the database's last backup (0 when it failed).", database, nil)
	descDBDuration    = prometheus.NewDesc("rgz_backup_database_duration_seconds", "Duration of the database's last backup.", database, nil)
	descDBRunFailed   = prometheus.NewDesc("rgz_backup_database_run_failed", "1 when the database's last run failed after its retries.", database, nil)

	// Point-in-time recovery (issue 28): each server's WAL stream.
	stream             = []string{"system_id", "slot"}
	descPITRReceiving  = prometheus.NewDesc("rgz_backup_pitr_receiving", "1 while pg_receivewal streams the server's WAL (as last recorded).", stream, nil)
	descPITRUpdated    = prometheus.NewDesc("rgz_backup_pitr_stream_updated_timestamp_seconds", "When the replica that streams last recorded the stream's state: stale, nobody streams.", stream, nil)
	descPITRSafeBytes  = prometheus.NewDesc("rgz_backup_pitr_slot_safe_bytes", "WAL the server may still write before it drops the slot (absent: no limit).", stream, nil)
	descPITRLimitBytes = prometheus.NewDesc("rgz_backup_pitr_slot_limit_bytes", "The server's max_slot_wal_keep_size (absent: none).", stream, nil)
	descPITRSpoolFiles = prometheus.NewDesc("rgz_backup_pitr_spool_files", "WAL files received and not yet shipped to every place.", stream, nil)
	descPITRReceiveLag = prometheus.NewDesc("rgz_backup_pitr_receive_lag_bytes", "WAL the server has written that the backup host has not flushed yet.", stream, nil)
	descPITRShipLag    = prometheus.NewDesc("rgz_backup_pitr_ship_lag_bytes", "WAL the server has written that is not yet in every place of the archive.", stream, nil)
	descPITRLastLoss   = prometheus.NewDesc("rgz_backup_pitr_slot_lost_timestamp_seconds", "When the slot was last lost or made again over the archive (its window has a break there; 0: never).", stream, nil)

	// Issue 29: each archived cluster's window, and the restore tests.
	cluster             = []string{"system_id"}
	descPITROldest      = prometheus.NewDesc("rgz_backup_pitr_oldest_restorable_timestamp_seconds", "The oldest moment the archive restores to.", cluster, nil)
	descPITRNewest      = prometheus.NewDesc("rgz_backup_pitr_newest_restorable_timestamp_seconds", "The newest moment the archive restores to (when its newest WAL was shipped): time() minus it is the ship lag.", cluster, nil)
	descPITRGaps        = prometheus.NewDesc("rgz_backup_pitr_gaps", "Breaks in the archive's window (a lost slot): moments between them cannot be restored.", cluster, nil)
	descPITRBroken      = prometheus.NewDesc("rgz_backup_pitr_window_broken", "1 when nothing is restorable, or the slot was lost after the newest base backup: no moment since can be restored.", cluster, nil)
	descPITRTestStatus  = prometheus.NewDesc("rgz_backup_pitr_restore_test_status", "1 for the status of the cluster's last point-in-time restore test, 0 for the other.", []string{"system_id", "status"}, nil)
	descPITRTestSuccess = prometheus.NewDesc("rgz_backup_pitr_restore_test_last_success_timestamp_seconds", "End of the cluster's newest successful point-in-time restore test (0: none).", cluster, nil)
	descPITRCheckFailed = prometheus.NewDesc("rgz_backup_pitr_check_failed", "1 when the archive's last daily check failed: a gap nobody was told of, or a file missing or different in a place.", cluster, nil)
	descPITRChecked     = prometheus.NewDesc("rgz_backup_pitr_check_timestamp_seconds", "When the archive's last daily check ran.", cluster, nil)
	descPITRTestRTO     = prometheus.NewDesc("rgz_backup_pitr_restore_test_rto_seconds", "The cluster's newest successful point-in-time restore test's RTO: from its start to a promoted, usable cluster (absent before one succeeds).", cluster, nil)
)

// Collector reads a Snapshot at each scrape (at most every MaxAge once
// registered by Registry).
type Collector struct {
	Store  *catalog.Store
	Cfg    config.Config
	Log    *slog.Logger
	shared *recent.Value[Snapshot]
}

// Describe lists the metrics.
func (c Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDuration, descSize, descStatus, descLastSuccess, descRuns, descRunning, descDiskFree,
		descDiskUsed, descDiskWarning, descLocalBackups, descLocalBytes, descPartial, descOldestPartial, descTestStatus, descTestDuration, descTestSuccess, descRunFailed,
		descNotifyWaiting, descNotifyOldest,
		descDestCopies, descDestFailing, descDestBytes, descDestVerified, descDBLastSuccess, descDBStatus, descDBSize, descDBDuration, descDBRunFailed,
		descPITRReceiving, descPITRUpdated, descPITRSafeBytes, descPITRLimitBytes, descPITRSpoolFiles, descPITRLastLoss, descPITRReceiveLag, descPITRShipLag,
		descPITROldest, descPITRNewest, descPITRGaps, descPITRBroken, descPITRTestStatus, descPITRTestSuccess, descPITRTestRTO,
		descPITRCheckFailed, descPITRChecked} {
		ch <- d
	}
}

// Collect reads the catalog; an unreachable catalog yields no backup
// metrics (Prometheus then sees them absent, which the alerts catch).
func (c Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.snapshot(ctx)
	if err != nil {
		if c.Log != nil {
			c.Log.Error("metrics: catalog unreadable", "error", err)
		}
		return
	}
	for _, m := range Metrics(s) {
		ch <- m
	}
}

// Metrics turns a snapshot into samples.
func Metrics(s Snapshot) []prometheus.Metric {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
		return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	var out []prometheus.Metric
	if s.Last != nil {
		dur, size := 0.0, 0.0
		if s.Last.DurationSeconds != nil {
			dur = float64(*s.Last.DurationSeconds)
		}
		if s.Last.FileSizeBytes != nil {
			size = float64(*s.Last.FileSizeBytes)
		}
		out = append(out, gauge(descDuration, dur), gauge(descSize, size))
	}
	for _, st := range []catalog.Status{catalog.StatusSuccess, catalog.StatusFailed, catalog.StatusPartial} {
		out = append(out, gauge(descStatus, b2f(s.Last != nil && s.Last.Status == st), string(st)),
			prometheus.MustNewConstMetric(descRuns, prometheus.CounterValue, float64(s.Runs[st]), string(st)))
	}
	out = append(out, gauge(descRunFailed, b2f(s.Last != nil && s.Last.RunFailed(s.Now))))
	out = append(out, gauge(descLastSuccess, unix(s.LastSuccess)), gauge(descRunning, b2f(s.Running)),
		gauge(descLocalBackups, float64(s.LocalBackups)), gauge(descLocalBytes, float64(s.LocalBytes)),
		gauge(descPartial, float64(s.PartialBackups)), gauge(descOldestPartial, unix(s.OldestPartial)),
		gauge(descTestSuccess, unix(s.LastTestSuccess)),
		gauge(descNotifyWaiting, float64(s.Notifications.Count)), gauge(descNotifyOldest, unix(s.Notifications.Oldest)))
	if s.DiskSize > 0 {
		out = append(out, gauge(descDiskFree, float64(s.DiskFree)), gauge(descDiskUsed, s.DiskUsedRatio),
			gauge(descDiskWarning, s.DiskWarningRatio))
	}
	for _, st := range []catalog.TestStatus{catalog.TestSuccess, catalog.TestFailed, catalog.TestRunning} {
		out = append(out, gauge(descTestStatus, b2f(s.LastTest != nil && s.LastTest.Status == st), string(st)))
	}
	if s.LastTestSuccessSeconds != nil {
		out = append(out, gauge(descTestDuration, float64(*s.LastTestSuccessSeconds)))
	}
	for _, d := range s.Destinations {
		out = append(out, gauge(descDestCopies, float64(d.Copies), d.Destination), gauge(descDestFailing, float64(d.Failing), d.Destination),
			gauge(descDestBytes, float64(d.Bytes), d.Destination), gauge(descDestVerified, unix(d.LastVerified), d.Destination))
	}
	for _, d := range s.Databases {
		var lastSuccess time.Time
		if d.LastSuccess != nil {
			lastSuccess = d.LastSuccess.BackupDate
		}
		out = append(out, gauge(descDBLastSuccess, unix(lastSuccess), d.Target, d.Database),
			gauge(descDBSize, float64(deref(d.LastRun.FileSizeBytes)), d.Target, d.Database),
			gauge(descDBDuration, float64(deref(d.LastRun.DurationSeconds)), d.Target, d.Database),
			gauge(descDBRunFailed, b2f(d.LastRun.RunFailed(s.Now)), d.Target, d.Database))
		for _, st := range []catalog.Status{catalog.StatusSuccess, catalog.StatusFailed, catalog.StatusPartial} {
			out = append(out, gauge(descDBStatus, b2f(d.LastRun.Status == st), d.Target, d.Database, string(st)))
		}
	}
	for _, st := range s.Streams {
		id := strconv.FormatUint(st.SystemID, 10)
		out = append(out, gauge(descPITRReceiving, b2f(st.Receiving), id, st.Slot), gauge(descPITRUpdated, unix(st.UpdatedAt), id, st.Slot),
			gauge(descPITRSpoolFiles, float64(st.SpoolFiles), id, st.Slot), gauge(descPITRLastLoss, unix(st.LastSlotLoss), id, st.Slot))
		if st.LimitBytes >= 0 {
			out = append(out, gauge(descPITRLimitBytes, float64(st.LimitBytes), id, st.Slot))
		}
		if st.SafeBytes >= 0 {
			out = append(out, gauge(descPITRSafeBytes, float64(st.SafeBytes), id, st.Slot))
		}
		if server, err := wal.ParseLSN(st.ServerLSN); err == nil && server > 0 {
			if received, err := wal.ParseLSN(st.ReceivedLSN); err == nil {
				out = append(out, gauge(descPITRReceiveLag, float64(max(0, int64(server)-int64(received))), id, st.Slot))
			}
			if shipped, err := wal.ParseLSN(st.ShippedLSN); err == nil {
				out = append(out, gauge(descPITRShipLag, float64(max(0, int64(server)-int64(shipped))), id, st.Slot))
			}
		}
	}
	for _, c := range s.PITR {
		id := strconv.FormatUint(c.SystemID, 10)
		if c.Oldest != nil {
			out = append(out, gauge(descPITROldest, unix(*c.Oldest), id))
		}
		if c.Newest != nil {
			out = append(out, gauge(descPITRNewest, unix(*c.Newest), id))
		}
		out = append(out, gauge(descPITRGaps, float64(max(0, len(c.Spans)-1)), id), gauge(descPITRBroken, b2f(c.State == pitr.StateBroken), id))
	}
	for _, c := range s.PITRChecks {
		id := strconv.FormatUint(c.SystemID, 10)
		out = append(out, gauge(descPITRCheckFailed, b2f(c.Status == catalog.TestFailed), id), gauge(descPITRChecked, unix(c.CheckedAt), id))
	}
	for _, c := range s.PITR {
		id := strconv.FormatUint(c.SystemID, 10)
		if last, ok := s.PITRLastTest[c.SystemID]; ok {
			for _, st := range []catalog.TestStatus{catalog.TestSuccess, catalog.TestFailed} {
				out = append(out, gauge(descPITRTestStatus, b2f(last.Status == st), id, string(st)))
			}
		}
		passed, ok := s.PITRLastTestPassed[c.SystemID]
		var at time.Time
		if ok && passed.FinishedAt != nil {
			out = append(out, gauge(descPITRTestRTO, passed.RTOSeconds, id))
			at = *passed.FinishedAt
		}
		out = append(out, gauge(descPITRTestSuccess, unix(at), id))
	}
	return out
}

func deref[T int | int64 | float64](v *T) T {
	if v == nil {
		return 0
	}
	return *v
}

// NotificationFailures counts notifications that could not be sent in the
// end (after their retries); it lives in the process.
var NotificationFailures = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "rgz_backup_notification_failures_total", Help: "Notifications given up after their retries."})

// BuildInfo is rgz_backup_build_info: 1, labelled with the build.
func BuildInfo() prometheus.Gauge {
	info := version.Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "rgz_backup_build_info", Help: "1, labelled with the running build (which build took which backup: rgz_version).",
		ConstLabels: prometheus.Labels{"version": info.Version, "commit": info.Commit, "goversion": info.GoVersion}})
	g.Set(1)
	return g
}

// Registry holds the collector, the build's identity and the process's
// own counters.
func Registry(c Collector) *prometheus.Registry {
	c.shared = &recent.Value[Snapshot]{MaxAge: MaxAge}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, NotificationFailures, BuildInfo())
	return reg
}

// Handler serves /metrics.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// Guarded is h behind a bearer token (BACKUP_METRICS_TOKEN; "": open):
// the metrics name destinations and databases. The token is compared as
// its SHA-256, in constant time.
func Guarded(h http.Handler, token string) http.Handler {
	if token == "" {
		return h
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "the metrics need BACKUP_METRICS_TOKEN as a bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// WriteTextfile writes the metrics in node_exporter's textfile format,
// atomically (a temporary file renamed into place).
func WriteTextfile(path string, reg *prometheus.Registry) error {
	if err := prometheus.WriteToTextfile(path, reg); err != nil {
		return fmt.Errorf("BACKUP_METRICS_TEXTFILE %s: %w", path, err)
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix())
}
