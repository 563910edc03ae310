package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/api"
	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
	"github.com/mosaique/rgz-backup/internal/testenv/testtool"
)

// load measures the daemon under concurrent readers (docs/BENCHMARKS.md,
// "The daemon under load"): a catalog of rows rows, a real `rgz-backup
// serve`, and clients clients that request /metrics, latest and list in
// turn for the given duration, on loopback. It reports each route's
// latencies and errors and the daemon's peak RSS.
func load(binary string, rows, clients int, duration time.Duration) error {
	ctx := context.Background()
	binary, _ = filepath.Abs(binary)
	set, err := setUpDaemon(ctx, binary, "rgz-load-", "noc")
	if err != nil {
		return err
	}
	defer set.done()
	cluster, token, addr, env := set.cluster, set.token, set.addr, set.env
	began := time.Now()
	if err := fillCatalog(ctx, cluster.URL("rgz_catalog"), rows); err != nil {
		return err
	}
	fmt.Printf("catalog: %d rows written in %s\n", rows, time.Since(began).Round(time.Millisecond))

	daemon, stop, err := startServe(binary, env, addr)
	if err != nil {
		return err
	}
	defer stop()
	idleKB := rssKB(daemon.Process.Pid, "VmRSS")

	routes := []string{"/metrics", api.Prefix + "/latest", api.Prefix + "/list?days=30"}
	type sample struct {
		route int
		took  time.Duration
		err   bool
	}
	var mu sync.Mutex
	var samples []sample
	var peakKB atomic.Int64
	stopSampling := make(chan struct{})
	go func() { // the daemon's RSS while it serves, every 50 ms
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				if kb := rssKB(daemon.Process.Pid, "VmRSS"); kb > peakKB.Load() {
					peakKB.Store(kb)
				}
			}
		}
	}()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			// Bounded: at most 100,000 requests a client, and the deadline.
			for i := 0; i < 100_000 && time.Now().Before(deadline); i++ {
				route := (c + i) % len(routes)
				req, _ := http.NewRequest("GET", "http://"+addr+routes[route], nil)
				req.Header.Set("Authorization", "Bearer "+token)
				start := time.Now()
				res, err := client.Do(req)
				failed := err != nil
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					failed = res.StatusCode != 200
				}
				mu.Lock()
				samples = append(samples, sample{route, time.Since(start), failed})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stopSampling)
	hwm := rssKB(daemon.Process.Pid, "VmHWM")

	fmt.Printf("%d clients for %s on loopback; daemon RSS idle %d MB, peak while serving %d MB (VmHWM %d MB)\n\n",
		clients, duration, idleKB>>10, peakKB.Load()>>10, hwm>>10)
	fmt.Println("| route | requests | errors | p50 (ms) | p99 (ms) | max (ms) |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for r, route := range routes {
		var took []time.Duration
		errors := 0
		for _, s := range samples {
			if s.route == r {
				took = append(took, s.took)
				if s.err {
					errors++
				}
			}
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		pct := func(p float64) float64 {
			if len(took) == 0 {
				return 0
			}
			return float64(took[min(len(took)-1, int(p*float64(len(took))))].Microseconds()) / 1000
		}
		fmt.Printf("| `%s` | %d | %d | %.1f | %.1f | %.1f |\n", route, len(took), errors, pct(0.5), pct(0.99), pct(1))
	}
	return nil
}

// fillCatalog writes rows catalog rows the way years of hourly backups
// would leave them: one in ten failed, the older ones deleted by retention
// (the first of each month kept as its compliance copy), each with the row
// counts of a 20-table database.
func fillCatalog(ctx context.Context, url string, rows int) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var counts []string
	for i := range 20 {
		counts = append(counts, fmt.Sprintf(`"public.table_%02d": %d`, i, 1000*(i+1)))
	}
	_, err = conn.Exec(ctx, `
		INSERT INTO backup_executions (id, backup_type, backup_date, filename, file_path, file_size_bytes, checksum_crc32,
			status, duration_seconds, error_message, created_at, retention_until, restore_test_status, checksum_sha256,
			compression_format, compression_level, uncompressed_size_bytes, row_counts, triggered_by, attempt, retention_class, deleted_at)
		SELECT gen_random_uuid(), 'pg_dump', d, to_char(d, 'YYYYMMDD_HH24MISS') || '.dump.gz', '/backups/' || to_char(d, 'YYYYMMDD_HH24MISS') || '.dump.gz',
			CASE WHEN failed THEN NULL ELSE 98000000 + i END, CASE WHEN failed THEN NULL ELSE lpad(to_hex(i), 8, '0') END,
			CASE WHEN failed THEN 'failed' ELSE 'success' END, 15, CASE WHEN failed THEN 'pg_dump: connection lost' END,
			d, (d + interval '30 days')::date, 'not_tested', CASE WHEN failed THEN NULL ELSE md5(i::text) || md5(i::text) END,
			'gzip', 9, 455000000, $1::jsonb, 'scheduled', 1,
			CASE WHEN compliance THEN 'compliance' ELSE 'daily' END,
			CASE WHEN d < now() - interval '30 days' AND NOT compliance THEN d + interval '31 days' END
		FROM (SELECT i, date_trunc('second', now()) - i * interval '1 hour' AS d, i % 10 = 0 AS failed,
			i % 720 = 1 AS compliance FROM generate_series(1, $2::int) i) g`, "{"+strings.Join(counts, ", ")+"}", rows)
	if err != nil {
		return fmt.Errorf("fill the catalog: %w", err)
	}
	_, err = conn.Exec(ctx, "ANALYZE backup_executions")
	return err
}

// rssKB reads a memory figure (VmRSS, VmHWM) of a process, in kB.
func rssKB(pid int, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// daemonSetup is what the daemon's benchmarks share: a throwaway cluster
// with a database and a migrated catalog, a token of one role, a free
// address, and the daemon's environment; done removes it all.
type daemonSetup struct {
	work        string
	cluster     *pgtest.Cluster
	token, addr string
	env         []string
	done        func()
}

func setUpDaemon(ctx context.Context, binary, prefix, role string) (daemonSetup, error) {
	work, cluster, done, err := startCluster(ctx, prefix)
	if err != nil {
		return daemonSetup{}, err
	}
	set := daemonSetup{work: work, cluster: cluster, done: done}
	fail := func(err error) (daemonSetup, error) { done(); return daemonSetup{}, err }
	for _, db := range []string{"rgz", "rgz_catalog"} {
		if err := cluster.CreateDatabase(ctx, db); err != nil {
			return fail(err)
		}
	}
	token, entry, err := auth.NewToken(role)
	if err != nil {
		return fail(err)
	}
	if set.addr, err = freeAddr(); err != nil {
		return fail(err)
	}
	set.token = token
	set.env = append(os.Environ(), "BACKUP_DATABASE_URL="+cluster.URL("rgz"), "BACKUP_CATALOG_DATABASE_URL="+cluster.URL("rgz_catalog"),
		"BACKUP_LOCAL_DIR="+filepath.Join(work, "backups"), "POSTGRES_BACKUP_ENABLED=false", "BACKUP_RESTORE_TEST_ENABLED=false",
		"BACKUP_HTTP_ADDR="+set.addr, "BACKUP_API_TOKENS="+entry, "BACKUP_LOG_LEVEL=warn")
	if _, err := command(set.env, binary, "migrate"); err != nil {
		return fail(err)
	}
	return set, nil
}

// startServe starts `rgz-backup serve` with env, listening on addr, and
// waits until it answers; stop interrupts it and waits for it.
func startServe(binary string, env []string, addr string) (*exec.Cmd, func(), error) {
	daemon := exec.Command(binary, "serve")
	daemon.Env, daemon.Stderr = env, os.Stderr
	if err := daemon.Start(); err != nil {
		return nil, nil, err
	}
	stop := func() { daemon.Process.Signal(os.Interrupt); daemon.Wait() }
	if err := waitHTTP("http://" + addr + "/healthz"); err != nil {
		stop()
		return nil, nil, err
	}
	return daemon, stop, nil
}

func freeAddr() (string, error) {
	addr, _, err := testtool.FreeAddr()
	return addr, err
}

func waitHTTP(url string) error {
	for range 300 {
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer within 30 s", url)
}
