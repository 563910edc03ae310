package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
	"github.com/mosaique/rgz-backup/internal/wal"
)

// pitrBench measures point-in-time recovery (issue 28) against pgBackRest
// on one cluster, in one run: both archive the same server at once (rgz
// through its slot, pgBackRest through archive_command), each configured
// as its documentation recommends for a 2-core host. It reports the base
// backup time of each, the receive and ship lag under pgbench (how long
// a committed transaction takes to be on the backup host and in a
// verified copy), the shipping throughput against the WAL rate, the
// daemon's RSS while streaming, the archives' sizes, and the time each
// takes to restore the cluster to a moment near the end of the WAL.
func pitrBench(binary string, scale int, load time.Duration, rounds int) error {
	ctx := context.Background()
	binary, _ = filepath.Abs(binary)
	work, cluster, done, err := startCluster(ctx, "rgz-pitr-bench-")
	if err != nil {
		return err
	}
	defer done()
	b := &pitrRun{work: work, cluster: cluster, binary: binary, owner: cluster.Owner()}
	for _, dir := range []string{"rgz", "pgbr-repo", "pgbr-log", "pgbr-lock", "pgbr-spool", "restore"} {
		if err := b.ownedDir(filepath.Join(work, dir)); err != nil {
			return err
		}
	}

	// The database: pgbench's tables at the scale asked (44: about 650 MB).
	if err := cluster.CreateDatabase(ctx, "bench"); err != nil {
		return err
	}
	began := time.Now()
	if _, err := command(os.Environ(), "pgbench", "-i", "-q", "-s", strconv.Itoa(scale), cluster.URL("bench")); err != nil {
		return err
	}
	size := b.queryInt(ctx, "SELECT pg_database_size('bench')")
	fmt.Printf("database: pgbench scale %d, %d MB on disk, loaded in %s\n", scale, size>>20, time.Since(began).Round(time.Second))

	// Both tools archive the same server: pgBackRest through
	// archive_command (asynchronous, as its guide recommends under load),
	// rgz through its slot.
	if err := b.configurePgBackRest(ctx); err != nil {
		return err
	}
	pgbrBase, err := b.pgbackrest("backup", "--type=full")
	if err != nil {
		return err
	}
	if err := b.startServe(ctx); err != nil {
		return err
	}
	defer b.stopServe()
	rgzBase, err := b.firstBaseBackup(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("\nbase backup: rgz-backup %.1f s, pgBackRest %.1f s (rgz/pgBackRest %.2f)\n",
		rgzBase.Seconds(), pgbrBase.Seconds(), rgzBase.Seconds()/pgbrBase.Seconds())

	// Under load: lag and the daemon's memory.
	fmt.Printf("\npgbench for %s (2 clients), positions sampled every 250 ms:\n", load)
	samples, rate, rss, err := b.underLoad(ctx, load)
	if err != nil {
		return err
	}
	fmt.Printf("WAL written by pgbench: %.1f MB/s\n", rate/(1<<20))
	fmt.Printf("%-44s %8s %8s %8s %8s\n", "a commit's delay until it is", "p50 s", "p99 s", "max s", "unmet")
	for _, l := range []struct {
		name string
		at   func(pitrSample) wal.LSN
	}{
		{"on the backup host (rgz: pg_receivewal)", func(s pitrSample) wal.LSN { return s.received }},
		{"in a verified copy (rgz: shipped, catalog)", func(s pitrSample) wal.LSN { return s.shipped }},
		{"archived by pgBackRest (archive_command)", func(s pitrSample) wal.LSN { return s.pgbr }},
	} {
		p50, p99, worst, unmet := lagPercentiles(samples, l.at)
		fmt.Printf("%-44s %8.2f %8.2f %8.2f %8d\n", l.name, p50, p99, worst, unmet)
	}
	fmt.Printf("RSS while streaming: rgz-backup serve %d MB, its pg_receivewal %d MB (peaks)\n", rss.daemon>>10, rss.receiver>>10)

	// Throughput: a backlog (the daemon stopped while pgbench writes),
	// then the time it takes to ship it.
	backlog, took, err := b.catchUp(ctx, load/2)
	if err != nil {
		return err
	}
	throughput := float64(backlog) / took.Seconds()
	fmt.Printf("\nshipping a backlog of %d MB took %.1f s: %.1f MB/s, %.1f× the WAL rate above\n",
		backlog>>20, took.Seconds(), throughput/(1<<20), throughput/rate)

	// The moment to restore to: between two marker rows, after all the WAL.
	target, err := b.markTarget(ctx)
	if err != nil {
		return err
	}
	rgzBaseMB, rgzWALMB := b.rgzArchiveSize(ctx)
	pgbrBaseMB, pgbrWALMB := dirSize(filepath.Join(work, "pgbr-repo", "backup"))>>20, dirSize(filepath.Join(work, "pgbr-repo", "archive"))>>20
	fmt.Printf("\narchive size: rgz-backup %d MB (base %d + WAL %d), pgBackRest %d MB (base %d + WAL %d): rgz/pgBackRest %.2f\n",
		rgzBaseMB+rgzWALMB, rgzBaseMB, rgzWALMB, pgbrBaseMB+pgbrWALMB, pgbrBaseMB, pgbrWALMB,
		float64(rgzBaseMB+rgzWALMB)/float64(max(1, pgbrBaseMB+pgbrWALMB)))

	// Restore to the moment, in turns.
	var rgzTotal, pgbrTotal time.Duration
	fmt.Printf("\nrestore to %s (start, replay, promote; the marker checked):\n", target.Format(time.RFC3339Nano))
	for round := 1; round <= rounds; round++ {
		r, err := b.restoreRGZ(ctx, target, round)
		if err != nil {
			return err
		}
		p, err := b.restorePgBackRest(ctx, target, round)
		if err != nil {
			return err
		}
		rgzTotal, pgbrTotal = rgzTotal+r, pgbrTotal+p
		fmt.Printf("  round %d  rgz-backup %.1f s  pgBackRest %.1f s\n", round, r.Seconds(), p.Seconds())
	}
	fmt.Printf("restore: rgz/pgBackRest %.2f (goal: at most 1)\n", rgzTotal.Seconds()/pgbrTotal.Seconds())
	return nil
}

type pitrRun struct {
	work, binary string
	cluster      *pgtest.Cluster
	owner        *syscall.Credential // the cluster's owner: restores run as it
	serve        *exec.Cmd
	serveDone    chan struct{}
	addr         string
	env          []string
	sysid        uint64
}

type pitrSample struct {
	at                              time.Time
	server, received, shipped, pgbr wal.LSN
}

func (b *pitrRun) ownedDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if b.owner != nil {
		return os.Chown(dir, int(b.owner.Uid), int(b.owner.Gid))
	}
	return nil
}

// asOwner runs cmd as the cluster's owner (PostgreSQL and pgBackRest
// refuse root).
func (b *pitrRun) asOwner(cmd *exec.Cmd) *exec.Cmd {
	if b.owner != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: b.owner}
	}
	return cmd
}

func (b *pitrRun) dataDir() string { return filepath.Join(b.cluster.Dir, "data") }

func (b *pitrRun) conf() string { return filepath.Join(b.work, "pgbackrest.conf") }

func (b *pitrRun) queryInt(ctx context.Context, sql string) int64 {
	var n int64
	conn, err := pgx.Connect(ctx, b.cluster.URL("postgres"))
	if err != nil {
		return -1
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		return -1
	}
	return n
}

func (b *pitrRun) exec(ctx context.Context, db, sql string) (string, error) {
	conn, err := pgx.Connect(ctx, b.cluster.URL(db))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var out string
	err = conn.QueryRow(ctx, sql).Scan(&out)
	return out, err
}

// configurePgBackRest writes pgBackRest's configuration (zstd, two
// processes, asynchronous archiving: its user guide's advice for a busy
// server on a small host), sets archive_command and the slot's limit,
// restarts the server and creates the stanza.
func (b *pitrRun) configurePgBackRest(ctx context.Context) error {
	conf := fmt.Sprintf(`[global]
repo1-path=%[1]s/pgbr-repo
repo1-retention-full=2
log-path=%[1]s/pgbr-log
lock-path=%[1]s/pgbr-lock
spool-path=%[1]s/pgbr-spool
compress-type=zst
process-max=2
archive-async=y
start-fast=y
log-level-console=warn

[bench]
pg1-path=%[2]s
pg1-port=%[3]d
pg1-socket-path=%[4]s
pg1-user=postgres
`, b.work, b.dataDir(), b.cluster.Port, b.cluster.Dir)
	if err := os.WriteFile(b.conf(), []byte(conf), 0o644); err != nil {
		return err
	}
	for _, set := range []string{
		"ALTER SYSTEM SET archive_mode = on",
		fmt.Sprintf("ALTER SYSTEM SET archive_command = 'pgbackrest --config=%s --stanza=bench archive-push %%p'", b.conf()),
		"ALTER SYSTEM SET max_slot_wal_keep_size = '20GB'",
		// The bound on a quiet server's RPO that PostgreSQL's archiving
		// offers, set to rgz-backup's BACKUP_PITR_SHIP_SECONDS default.
		"ALTER SYSTEM SET archive_timeout = '30s'",
	} {
		if _, err := b.execNoRow(ctx, set); err != nil {
			return err
		}
	}
	pgCtl, err := dump.Tools{}.Path("pg_ctl")
	if err != nil {
		return err
	}
	restart := b.asOwner(exec.Command(pgCtl, "restart", "--wait", "--mode=fast", "--pgdata="+b.dataDir(), "--log="+filepath.Join(b.cluster.Dir, "server.log")))
	if out, err := restart.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl restart: %w: %s", err, out)
	}
	_, err = b.pgbackrest("stanza-create")
	return err
}

func (b *pitrRun) execNoRow(ctx context.Context, sql string) (string, error) {
	conn, err := pgx.Connect(ctx, b.cluster.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return "", err
}

// pgbackrest runs a pgBackRest command of the stanza as the cluster's
// owner and returns how long it took.
func (b *pitrRun) pgbackrest(args ...string) (time.Duration, error) {
	cmd := b.asOwner(exec.Command("pgbackrest", append([]string{"--config=" + b.conf(), "--stanza=bench"}, args...)...))
	began := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("pgbackrest %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return time.Since(began), nil
}

// startServe starts rgz-backup serve streaming the server, as the
// cluster's owner (its archive is then the owner's to restore), with
// BACKUP_PITR_* at their defaults.
func (b *pitrRun) startServe(ctx context.Context) error {
	if b.env == nil {
		if err := b.cluster.CreateDatabase(ctx, "rgz_catalog"); err != nil {
			return err
		}
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		b.addr = addr
		b.env = append(os.Environ(), "BACKUP_DATABASE_URL="+b.cluster.URL("bench"), "BACKUP_CATALOG_DATABASE_URL="+b.cluster.URL("rgz_catalog"),
			"BACKUP_LOCAL_DIR="+filepath.Join(b.work, "rgz"), "POSTGRES_BACKUP_ENABLED=false", "BACKUP_RESTORE_TEST_ENABLED=false",
			"BACKUP_PITR_ENABLED=true", "BACKUP_HTTP_ADDR="+addr, "BACKUP_LOG_LEVEL=warn", "HOME="+b.work)
	}
	b.serve = b.asOwner(exec.Command(b.binary, "serve"))
	b.serve.Env, b.serve.Stderr = b.env, os.Stderr
	if err := b.serve.Start(); err != nil {
		return err
	}
	b.serveDone = make(chan struct{})
	go func() { b.serve.Wait(); close(b.serveDone) }()
	return waitHTTP("http://" + b.addr + "/healthz")
}

func (b *pitrRun) stopServe() {
	if b.serve == nil {
		return
	}
	b.serve.Process.Signal(os.Interrupt)
	<-b.serveDone
	b.serve = nil
}

// firstBaseBackup waits for the daemon's first base backup and returns
// how long it took (its catalog row).
func (b *pitrRun) firstBaseBackup(ctx context.Context) (time.Duration, error) {
	for deadline := time.Now().Add(30 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		out, err := b.exec(ctx, "rgz_catalog", `SELECT coalesce(max(system_id::text || ' ' || extract(epoch FROM finished_at - started_at)::text), '')
			FROM pitr_base_backups WHERE status = 'success'`)
		if err != nil || out == "" {
			continue
		}
		id, secs, _ := strings.Cut(out, " ")
		b.sysid, _ = strconv.ParseUint(id, 10, 64)
		s, _ := strconv.ParseFloat(secs, 64)
		return time.Duration(s * float64(time.Second)), nil
	}
	return 0, errors.New("the daemon took no base backup within 30 minutes")
}

// positions reads, now: the server's WAL position, what the receiver has
// flushed on this host, the end of the WAL the catalog records shipped,
// and the end of the last segment pgBackRest archived.
func (b *pitrRun) positions(ctx context.Context, server, catalog *pgx.Conn) (pitrSample, error) {
	s := pitrSample{at: time.Now()}
	var cur, received, archived string
	err := server.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text,
		coalesce((SELECT max(flush_lsn)::text FROM pg_stat_replication), '0/0'),
		coalesce((SELECT last_archived_wal FROM pg_stat_archiver), '')`).Scan(&cur, &received, &archived)
	if err != nil {
		return s, err
	}
	var shipped string
	if err := catalog.QueryRow(ctx, `SELECT coalesce(max(end_lsn)::text, '0/0') FROM pitr_wal_files`).Scan(&shipped); err != nil {
		return s, err
	}
	s.server, _ = wal.ParseLSN(cur)
	s.received, _ = wal.ParseLSN(received)
	s.shipped, _ = wal.ParseLSN(shipped)
	if len(archived) >= 24 {
		hi, _ := strconv.ParseUint(archived[8:16], 16, 32)
		lo, _ := strconv.ParseUint(archived[16:24], 16, 32)
		s.pgbr = wal.LSN(hi<<32 + (lo+1)*uint64(wal.DefaultSegmentSize))
	}
	return s, nil
}

type pitrRSS struct{ daemon, receiver int64 }

// underLoad runs pgbench for d and samples the positions and the
// daemon's memory meanwhile; it returns the samples (for the time after
// the load too, until everything written is shipped or a minute passes),
// the WAL rate and the RSS peaks.
func (b *pitrRun) underLoad(ctx context.Context, d time.Duration) ([]pitrSample, float64, pitrRSS, error) {
	server, err := pgx.Connect(ctx, b.cluster.URL("postgres"))
	if err != nil {
		return nil, 0, pitrRSS{}, err
	}
	defer server.Close(ctx)
	catalog, err := pgx.Connect(ctx, b.cluster.URL("rgz_catalog"))
	if err != nil {
		return nil, 0, pitrRSS{}, err
	}
	defer catalog.Close(ctx)
	first, err := b.positions(ctx, server, catalog)
	if err != nil {
		return nil, 0, pitrRSS{}, err
	}
	bench := exec.Command("pgbench", "-n", "-c", "2", "-j", "2", "-T", strconv.Itoa(int(d.Seconds())), b.cluster.URL("bench"))
	var mu sync.Mutex
	var benchErr error
	finished := make(chan struct{})
	go func() {
		out, err := bench.CombinedOutput()
		if err != nil {
			mu.Lock()
			benchErr = fmt.Errorf("pgbench: %w: %s", err, out)
			mu.Unlock()
		}
		close(finished)
	}()
	fmt.Printf("RSS before the load (after the first base backup): rgz-backup serve %d MB\n", rssKB(b.serve.Process.Pid, "VmRSS")>>10)
	var samples []pitrSample
	var rss pitrRSS
	var end pitrSample
	loadEnded := time.Time{}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		s, err := b.positions(ctx, server, catalog)
		if err != nil {
			return nil, 0, rss, err
		}
		samples = append(samples, s)
		rss.daemon = max(rss.daemon, rssKB(b.serve.Process.Pid, "VmRSS"))
		if pid := childNamed(b.serve.Process.Pid, "pg_receivewal"); pid > 0 {
			rss.receiver = max(rss.receiver, rssKB(pid, "VmRSS"))
		}
		select {
		case <-finished:
			if loadEnded.IsZero() {
				loadEnded, end = time.Now(), s
			}
		default:
		}
		// After the load: until all it wrote is shipped, or a minute.
		if !loadEnded.IsZero() && (s.shipped >= end.server && s.pgbr >= end.server || time.Since(loadEnded) > time.Minute) {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if benchErr != nil {
		return nil, 0, rss, benchErr
	}
	rate := float64(end.server-first.server) / end.at.Sub(first.at).Seconds()
	return samples, rate, rss, nil
}

// lagPercentiles is, for each sample, how long until position at reached
// the server's position of that sample; unmet counts those never reached
// within the samples.
func lagPercentiles(samples []pitrSample, at func(pitrSample) wal.LSN) (p50, p99, worst float64, unmet int) {
	var delays []float64
	for i, s := range samples {
		j := i
		for j < len(samples) && at(samples[j]) < s.server {
			j++
		}
		if j == len(samples) {
			unmet++
			continue
		}
		delays = append(delays, samples[j].at.Sub(s.at).Seconds())
	}
	if len(delays) == 0 {
		return 0, 0, 0, unmet
	}
	sort.Float64s(delays)
	pick := func(q float64) float64 { return delays[min(len(delays)-1, int(q*float64(len(delays))))] }
	return pick(0.50), pick(0.99), delays[len(delays)-1], unmet
}

// catchUp stops the daemon, lets pgbench write for d, starts the daemon
// again and measures how long it takes to ship what was written.
func (b *pitrRun) catchUp(ctx context.Context, d time.Duration) (int64, time.Duration, error) {
	server, err := pgx.Connect(ctx, b.cluster.URL("postgres"))
	if err != nil {
		return 0, 0, err
	}
	defer server.Close(ctx)
	catalog, err := pgx.Connect(ctx, b.cluster.URL("rgz_catalog"))
	if err != nil {
		return 0, 0, err
	}
	defer catalog.Close(ctx)
	b.stopServe()
	before, err := b.positions(ctx, server, catalog)
	if err != nil {
		return 0, 0, err
	}
	if _, err := command(os.Environ(), "pgbench", "-n", "-c", "2", "-j", "2", "-T", strconv.Itoa(max(1, int(d.Seconds()))), b.cluster.URL("bench")); err != nil {
		return 0, 0, err
	}
	var switched string
	if err := server.QueryRow(ctx, "SELECT pg_switch_wal()::text").Scan(&switched); err != nil {
		return 0, 0, err
	}
	goal, _ := wal.ParseLSN(switched)
	began := time.Now()
	if err := b.startServe(ctx); err != nil {
		return 0, 0, err
	}
	for time.Since(began) < 30*time.Minute {
		s, err := b.positions(ctx, server, catalog)
		if err != nil {
			return 0, 0, err
		}
		if s.shipped >= goal {
			return int64(goal - before.shipped), time.Since(began), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0, 0, errors.New("the backlog was not shipped within 30 minutes")
}

// markTarget writes a row, reads the server's clock (the target), writes
// another, and waits until both archives hold the WAL past them.
func (b *pitrRun) markTarget(ctx context.Context) (time.Time, error) {
	conn, err := pgx.Connect(ctx, b.cluster.URL("bench"))
	if err != nil {
		return time.Time{}, err
	}
	defer conn.Close(ctx)
	var target time.Time
	var switched string
	for _, step := range []func() error{
		func() error {
			_, err := conn.Exec(ctx, "CREATE TABLE marker (name text); INSERT INTO marker VALUES ('before')")
			return err
		},
		func() error {
			time.Sleep(50 * time.Millisecond)
			return conn.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&target)
		},
		func() error {
			time.Sleep(50 * time.Millisecond)
			_, err := conn.Exec(ctx, "INSERT INTO marker VALUES ('after')")
			return err
		},
		func() error { return conn.QueryRow(ctx, "SELECT pg_switch_wal()::text").Scan(&switched) },
	} {
		if err := step(); err != nil {
			return target, err
		}
	}
	goal, _ := wal.ParseLSN(switched)
	server, err := pgx.Connect(ctx, b.cluster.URL("postgres"))
	if err != nil {
		return target, err
	}
	defer server.Close(ctx)
	catalog, err := pgx.Connect(ctx, b.cluster.URL("rgz_catalog"))
	if err != nil {
		return target, err
	}
	defer catalog.Close(ctx)
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		s, err := b.positions(ctx, server, catalog)
		if err != nil {
			return target, err
		}
		if s.shipped >= goal && s.pgbr >= goal {
			return target, nil
		}
	}
	return target, errors.New("the archives did not reach the target's WAL within 10 minutes")
}

// rgzArchiveSize is the archive's base backups and WAL in the backup
// directory, in MB.
func (b *pitrRun) rgzArchiveSize(ctx context.Context) (base, walMB int64) {
	root := filepath.Join(b.work, "rgz", "pitr", strconv.FormatUint(b.sysid, 10))
	all := dirSize(root)
	base = dirSize(filepath.Join(root, "base"))
	return base >> 20, (all - base) >> 20
}

func dirSize(root string) int64 {
	var n int64
	filepath.WalkDir(root, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if info, err := e.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// restoreRGZ restores with rgz-backup pitr restore, as the owner, and
// checks the marker; it returns the command's wall time.
func (b *pitrRun) restoreRGZ(ctx context.Context, target time.Time, round int) (time.Duration, error) {
	dir := filepath.Join(b.work, "restore", fmt.Sprintf("rgz-%d", round))
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	cmd := b.asOwner(exec.Command(b.binary, "pitr", "restore", "--to", target.UTC().Format(time.RFC3339Nano),
		"--data-dir", dir, "--port", strconv.Itoa(port), "--json"))
	cmd.Env = b.env
	began := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(began)
	if err != nil {
		return 0, fmt.Errorf("rgz-backup pitr restore: %w: %s", err, out)
	}
	defer b.stopCluster(dir)
	return took, b.checkMarker(ctx, port)
}

// restorePgBackRest restores with pgbackrest restore --type=time into a
// new directory, starts the cluster as rgz-backup does (the same port
// settings, archive_mode off) and waits until it is promoted.
func (b *pitrRun) restorePgBackRest(ctx context.Context, target time.Time, round int) (time.Duration, error) {
	dir := filepath.Join(b.work, "restore", fmt.Sprintf("pgbr-%d", round))
	if err := b.ownedDir(dir); err != nil {
		return 0, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return 0, err
	}
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	pgCtl, err := dump.Tools{}.Path("pg_ctl")
	if err != nil {
		return 0, err
	}
	began := time.Now()
	if _, err := b.pgbackrest("restore", "--pg1-path="+dir, "--type=time", "--target="+target.UTC().Format("2006-01-02 15:04:05.999999-07"),
		"--target-action=promote"); err != nil {
		return 0, err
	}
	opts := fmt.Sprintf("-c port=%d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c archive_mode=off -c max_connections=200", port, dir)
	start := b.asOwner(exec.Command(pgCtl, "start", "--wait", "--pgdata="+dir, "--log="+filepath.Join(dir, "restore.log"), "-o", opts))
	if out, err := start.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("pg_ctl start: %w: %s", err, out)
	}
	defer b.stopCluster(dir)
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/bench?sslmode=disable", port)
	for deadline := time.Now().Add(time.Hour); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			continue
		}
		var recovering bool
		err = conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovering)
		conn.Close(ctx)
		if err == nil && !recovering {
			took := time.Since(began)
			return took, b.checkMarker(ctx, port)
		}
	}
	return 0, errors.New("pgBackRest's restore was not promoted within an hour")
}

func (b *pitrRun) stopCluster(dir string) {
	pgCtl, err := dump.Tools{}.Path("pg_ctl")
	if err == nil {
		b.asOwner(exec.Command(pgCtl, "stop", "--wait", "--mode=immediate", "--pgdata="+dir)).Run()
	}
	os.RemoveAll(dir)
}

// checkMarker says whether the restored cluster holds the row written
// before the target and not the one after it.
func (b *pitrRun) checkMarker(ctx context.Context, port int) error {
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/bench?sslmode=disable", port))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var names string
	if err := conn.QueryRow(ctx, "SELECT string_agg(name, ',' ORDER BY name) FROM marker").Scan(&names); err != nil {
		return fmt.Errorf("the restored cluster's marker: %w", err)
	}
	if names != "before" {
		return fmt.Errorf("the restored cluster holds the markers %q, want only before", names)
	}
	return nil
}

// childNamed is the pid of pid's child running the program name, or 0.
func childNamed(pid int, name string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …
		s := string(stat)
		from, to := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if from < 0 || to < 0 || s[from+1:to] != name {
			continue
		}
		if f := strings.Fields(s[to+1:]); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			return child
		}
	}
	return 0
}

func freePort() (int, error) {
	addr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	_, port, _ := strings.Cut(addr, ":")
	return strconv.Atoi(port)
}
