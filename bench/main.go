// Command bench compares, in one run on one database, the specification's own
// command (pg_dump -Fc -Z9 > file), pg_dump's own speed (pg_dump -Fc -Z0 >
// /dev/null, the floor), and `rgz-backup backup` with gzip and with zstd at
// their default levels: wall time, file size and peak RSS, then the ratios
// the targets in docs/BENCHMARKS.md are stated in. Run with `make bench`.
// With -rto it measures instead the restore test's duration (the RTO) at
// several sizes; with -load, the daemon under concurrent readers; with
// -several, runs over many databases and servers; with -pitr,
// point-in-time recovery against pgBackRest (pitr.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/crypt"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
	"github.com/mosaique/rgz-backup/internal/testenv/sample"
)

type measure struct {
	name  string
	wall  time.Duration
	size  int64
	rssKB int64
	log   string // what the command wrote on stderr
}

func main() {
	binary := flag.String("binary", "bin/rgz-backup", "the rgz-backup binary")
	scale := flag.Int("scale", 380, "sample scale (380: about 650 MB on disk)")
	repeat := flag.Int("repeat", 5, "rounds; each round runs every command once, and the median counts")
	onlyOurs := flag.Bool("only-rgz", false, "skip the pg_dump baselines (for a memory check on a larger database)")
	rtoScales := flag.String("rto", "", "instead: measure the restore test's duration at these scales (e.g. 20,100)")
	loadRows := flag.Int("load", 0, "instead: the daemon under 32 concurrent readers with this many catalog rows (e.g. 100000)")
	loadClients := flag.Int("clients", 32, "with -load: concurrent clients")
	loadFor := flag.Duration("for", 15*time.Second, "with -load: how long the clients run")
	toDestinations := flag.Bool("destinations", false, "instead: a backup copied to MinIO, a directory, SFTP and Azurite against the local backup alone")
	format := flag.String("format", "zstd", "with -destinations: the compression format")
	severalDBs := flag.Int("several", 0, "instead: a run over this many small databases on one server and on two (e.g. 50), then the daemon with 500 configured and 100,000 catalog rows")
	consoleRows := flag.Int("console", 0, "instead: the web console's pages with this many catalog rows (e.g. 100000)")
	pitrOn := flag.Bool("pitr", false, "instead: point-in-time recovery against pgBackRest on one cluster (base backup, lag, throughput, RSS, archive size, restore to a time)")
	pitrScale := flag.Int("pitr-scale", 44, "with -pitr: pgbench's scale (44: about 650 MB)")
	pitrLoad := flag.Duration("pitr-load", 3*time.Minute, "with -pitr: how long pgbench writes while the lag is sampled")
	pitrRounds := flag.Int("pitr-rounds", 2, "with -pitr: restores of each tool, in turns")
	flag.Parse()
	if *pitrOn {
		if err := pitrBench(*binary, *pitrScale, *pitrLoad, *pitrRounds); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *consoleRows > 0 {
		if err := consolePages(*binary, *consoleRows); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *severalDBs > 0 {
		if err := several(*binary, *severalDBs); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *toDestinations {
		if err := destinations(*binary, *scale, *repeat, *format); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *loadRows > 0 {
		if err := load(*binary, *loadRows, *loadClients, *loadFor); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *rtoScales != "" {
		scales, err := parseScales(*rtoScales)
		if err == nil {
			err = rto(*binary, scales)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*binary, *scale, *repeat, *onlyOurs); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(binary string, scale, repeat int, onlyOurs bool) error {
	ctx := context.Background()
	binary, _ = filepath.Abs(binary)
	work, cluster, done, err := startCluster(ctx, "rgz-bench-")
	if err != nil {
		return err
	}
	defer done()
	url, dbSize, took, err := loadSample(ctx, cluster, "rgz", scale)
	if err != nil {
		return err
	}
	fmt.Printf("database: scale %d, %d MB on disk (pg_database_size), loaded in %s\n", scale, dbSize>>20, took.Round(time.Second))

	pgDump, err := dump.Tools{}.Path("pg_dump")
	if err != nil {
		return err
	}
	out := filepath.Join(work, "out")
	_, recipient, err := crypt.NewKey() // the private key is not needed: backups only
	if err != nil {
		return err
	}
	runs := []struct {
		name string
		cmd  func() *exec.Cmd
		file string // what to measure the size of ("" = nothing)
	}{
		{"spec: pg_dump -Fc -Z9 > file", func() *exec.Cmd {
			return redirected(filepath.Join(out, "spec.dump"), pgDump, "-Fc", "-Z9", "--dbname="+url)
		}, filepath.Join(out, "spec.dump")},
		{"floor: pg_dump -Fc -Z0 > /dev/null", func() *exec.Cmd {
			return redirected(os.DevNull, pgDump, "-Fc", "-Z0", "--dbname="+url)
		}, ""},
		{"rgz-backup backup (gzip, default level 9)", ours(binary, url, out, "gzip", ""), filepath.Join(out, "*.dump.gz")},
		{"rgz-backup backup (zstd, default level 1)", ours(binary, url, out, "zstd", ""), filepath.Join(out, "*.dump.zst")},
		{"rgz-backup backup (gzip, level 6)", ours(binary, url, out, "gzip", "6"), filepath.Join(out, "*.dump.gz")},
		{"rgz-backup backup (zstd, level 3)", ours(binary, url, out, "zstd", "3"), filepath.Join(out, "*.dump.zst")},
		{"rgz-backup backup (gzip, default level 9) + age", ours(binary, url, out, "gzip", "", "BACKUP_ENCRYPTION_RECIPIENTS="+recipient), filepath.Join(out, "*.dump.gz.age")},
		{"rgz-backup backup (zstd, default level 1) + age", ours(binary, url, out, "zstd", "", "BACKUP_ENCRYPTION_RECIPIENTS="+recipient), filepath.Join(out, "*.dump.zst.age")},
		{"pigz: pg_dump -Fc -Z0 | pigz -9 -p2 > file", func() *exec.Cmd {
			cmd := exec.Command("bash", "-o", "pipefail", "-c", `"$PG_DUMP" -Fc -Z0 --dbname="$URL" | pigz -9 -p2 > "$OUT"`)
			cmd.Env = append(os.Environ(), "PG_DUMP="+pgDump, "URL="+url, "OUT="+filepath.Join(out, "pigz.dump.gz"))
			return cmd
		}, filepath.Join(out, "pigz.dump.gz")},
	}
	if onlyOurs {
		runs = runs[2:]
	}
	// Warm the server's cache so that the first measured run is not penalised.
	if err := redirected(os.DevNull, pgDump, "-Fc", "-Z0", "--dbname="+url).Run(); err != nil {
		return fmt.Errorf("warm-up pg_dump: %w", err)
	}
	// Rounds interleave the commands, so that a noisy minute on this shared
	// machine hits all of them alike; the median of each counts.
	samples := make([][]measure, len(runs))
	// Within a round, each command runs right after the one its target
	// compares it with (floor → zstd → zstd + age, pigz → gzip → gzip +
	// age): on this shared machine the same command varies by 20 % from
	// one minute to the next, and a ratio of two neighbours cancels most of it.
	order := []int{0, 1, 3, 7, 8, 2, 6, 4, 5}
	if onlyOurs { // runs[2:]
		order = []int{1, 5, 6, 0, 4, 2, 3}
	}
	if len(order) != len(runs) {
		return fmt.Errorf("the round's order names %d commands of %d", len(order), len(runs))
	}
	for round := 1; round <= repeat; round++ {
		for _, i := range order {
			r := runs[i]
			os.RemoveAll(out)
			os.MkdirAll(out, 0o750)
			m, err := timeIt(r.cmd())
			if err != nil {
				return fmt.Errorf("%s: %w", r.name, err)
			}
			m.name = r.name
			if r.file != "" {
				m.size = sizeOf(r.file)
			}
			samples[i] = append(samples[i], m)
			fmt.Printf("  round %d  %-44s %8.2f s %14d bytes  peak RSS %4d MB\n", round, m.name, m.wall.Seconds(), m.size, m.rssKB>>10)
		}
	}
	results := make([]measure, len(runs))
	for i, ms := range samples {
		results[i] = median(ms)
	}
	printTable(results, samples, onlyOurs)
	if onlyOurs {
		return nil
	}
	right, err := refusals(ctx, pgDump, url, work)
	if err != nil {
		return err
	}
	if !right {
		return fmt.Errorf("a damaged archive was accepted, or the whole one refused (table above)")
	}
	return nil
}

// redirected is `name args... > path`, as the specification writes it (pg_dump's own
// -f would add an fsync the specification's command does not do).
func redirected(path, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	f, err := os.Create(path)
	if err == nil {
		cmd.Stdout = f // closed when the process is reaped: the file is tiny in number
	}
	return cmd
}

// ours runs `rgz-backup backup`; level "" leaves the format's default;
// extra are more VAR=value settings (encryption).
func ours(binary, url, out, format, level string, extra ...string) func() *exec.Cmd {
	return func() *exec.Cmd {
		cmd := exec.Command(binary, "backup")
		cmd.Env = append(append(os.Environ(), "BACKUP_DATABASE_URL="+url, "BACKUP_LOCAL_DIR="+out,
			"BACKUP_CATALOG_DATABASE_URL="+strings.Replace(url, "/rgz?", "/postgres?", 1),
			"BACKUP_COMPRESSION_FORMAT="+format, "BACKUP_COMPRESSION_LEVEL="+level,
			"BACKUP_MIN_SIZE_MB=1", "BACKUP_MIN_FREE_SPACE_GB=1", "BACKUP_TIMEOUT_SECONDS=7200"), extra...)
		return cmd
	}
}

// timeIt runs cmd and reports its wall time and peak RSS: the larger of the
// process's own and that of the children it waited for (pg_dump, for us).
func timeIt(cmd *exec.Cmd) (measure, error) {
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return measure{}, fmt.Errorf("%w: %s", err, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return measure{wall: wall, rssKB: ru.Maxrss, log: stderr.String()}, nil
}

// median is the run with the median wall time; its peak RSS is the highest seen.
func median(ms []measure) measure {
	sorted := append([]measure(nil), ms...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].wall < sorted[j].wall })
	m := sorted[len(sorted)/2]
	for _, x := range ms {
		m.rssKB = max(m.rssKB, x.rssKB)
	}
	return m
}

func sizeOf(pattern string) int64 {
	files, _ := filepath.Glob(pattern)
	sort.Strings(files)
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			return fi.Size()
		}
	}
	return 0
}

func settle(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, sql := range []string{"VACUUM (FREEZE, ANALYZE)", "CHECKPOINT"} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	return nil
}

func databaseSize(ctx context.Context, url string) (int64, error) {
	return queryNumber(ctx, url, "SELECT pg_database_size(current_database())")
}

// queryNumber connects to url for one query whose answer is one number.
func queryNumber(ctx context.Context, url, query string) (int64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, query).Scan(&n)
	return n, err
}

// roundRatio is the median over rounds of f(a, b), a and b measured in the
// same round: noise that slows a whole round cancels out.
func roundRatio(samples [][]measure, a, b int, f func(a, b measure) float64) float64 {
	var rs []float64
	for k := range samples[a] {
		rs = append(rs, f(samples[a][k], samples[b][k]))
	}
	sort.Float64s(rs)
	return rs[len(rs)/2]
}

func printTable(r []measure, samples [][]measure, onlyOurs bool) {
	fmt.Println()
	if onlyOurs {
		fmt.Println("| command | wall (s) | file (bytes) | peak RSS (MB) |")
		fmt.Println("|---|---:|---:|---:|")
		for _, m := range r {
			fmt.Printf("| %s | %.2f | %d | %d |\n", m.name, m.wall.Seconds(), m.size, m.rssKB>>10)
		}
		return
	}
	fmt.Println("| command | wall (s) | file (bytes) | peak RSS (MB) | time vs spec | time vs floor | size vs spec |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	for _, m := range r {
		sizeRatio := "-"
		if m.size > 0 {
			sizeRatio = fmt.Sprintf("%.2f", float64(m.size)/float64(r[0].size))
		}
		fmt.Printf("| %s | %.2f | %d | %d | %.2f | %.2f | %s |\n", m.name, m.wall.Seconds(), m.size, m.rssKB>>10,
			m.wall.Seconds()/r[0].wall.Seconds(), m.wall.Seconds()/r[1].wall.Seconds(), sizeRatio)
	}
	const spec, floor, gz, zs, pigz = 0, 1, 2, 3, 8
	timeRatio := func(a, b measure) float64 { return a.wall.Seconds() / b.wall.Seconds() }
	sizeRatio := func(a, b measure) float64 { return float64(a.size) / float64(b.size) }
	fmt.Println()
	fmt.Println("Targets, each the median over rounds of a ratio measured within one round:")
	fmt.Println()
	fmt.Println("| target | measured | met |")
	fmt.Println("|---|---:|:---:|")
	check := func(name string, v float64, ok bool) {
		fmt.Printf("| %s | %.2f | %s |\n", name, v, map[bool]string{true: "yes", false: "NO"}[ok])
	}
	zSpeed := roundRatio(samples, spec, zs, timeRatio)
	check("zstd: spec time / our time (≥ 8)", zSpeed, zSpeed >= 8)
	bound := roundRatio(samples, spec, floor, timeRatio)
	check("   (bound on this machine: spec time / floor time)", bound, true)
	zSize := roundRatio(samples, zs, spec, sizeRatio)
	check("zstd: our size / spec size (≤ 1.00)", zSize, zSize <= 1)
	zFloor := roundRatio(samples, zs, floor, timeRatio)
	check("zstd: our time / floor time (≤ 1.05)", zFloor, zFloor <= 1.05)
	gSpeed := roundRatio(samples, spec, gz, timeRatio)
	check("gzip: spec time / our time (≥ 2)", gSpeed, gSpeed >= 2)
	gSize := roundRatio(samples, gz, spec, sizeRatio)
	check("gzip: our size / spec size (≤ 1.10)", gSize, gSize <= 1.1)
	if len(r) > pigz {
		gPigz := roundRatio(samples, gz, pigz, timeRatio)
		check("gzip: our time / pg_dump | pigz -9 -p2 time (≤ 1.10)", gPigz, gPigz <= 1.1)
	}
	if len(r) > 4 {
		g6 := roundRatio(samples, spec, 4, timeRatio)
		check("gzip level 6: spec time / our time (≥ 2)", g6, g6 >= 2)
		g6s := roundRatio(samples, 4, spec, sizeRatio)
		check("gzip level 6: our size / spec size (≤ 1.10)", g6s, g6s <= 1.1)
	}
	if len(r) > 7 { // the encrypted runs: 6 is gzip's, 7 zstd's, each against its plaintext twin
		for _, c := range []struct {
			name       string
			sealed, of int
		}{{"gzip", 6, gz}, {"zstd", 7, zs}} {
			cost := roundRatio(samples, c.sealed, c.of, timeRatio)
			check(c.name+" + age: time / without age (≤ 1.05)", cost, cost <= 1.05)
			extra := float64(r[c.sealed].rssKB-r[c.of].rssKB) / 1024
			check(c.name+" + age: peak RSS above without age, MB (≤ 10)", extra, extra <= 10)
		}
	}
	var peak int64
	for _, m := range r[2:min(len(r), pigz)] { // rgz-backup's runs only
		peak = max(peak, m.rssKB)
	}
	rss := float64(peak) / 1024
	check("peak RSS of rgz-backup, MB (< 100)", rss, rss < 100)
}

// loadSample creates db on cluster, loads the sample database at scale and
// brings it to a steady state (without it, the first scans set hint bits on
// every page and checkpoints write them back during the runs); it returns
// its URL, its size on disk and how long that took.
func loadSample(ctx context.Context, cluster *pgtest.Cluster, db string, scale int) (string, int64, time.Duration, error) {
	began := time.Now()
	if err := cluster.CreateDatabase(ctx, db); err != nil {
		return "", 0, 0, err
	}
	url := cluster.URL(db)
	if err := sample.Load(ctx, url, scale); err != nil {
		return "", 0, 0, err
	}
	if err := settle(ctx, url); err != nil {
		return "", 0, 0, err
	}
	size, err := databaseSize(ctx, url)
	return url, size, time.Since(began), err
}

// startCluster makes a work directory and a throwaway PostgreSQL in it;
// done removes both.
func startCluster(ctx context.Context, prefix string) (string, *pgtest.Cluster, func(), error) {
	work, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, nil, err
	}
	os.Chmod(work, 0o755) // the server may run as postgres: let it through
	cluster, err := pgtest.Start(ctx, filepath.Join(work, "pg"))
	if err != nil {
		os.RemoveAll(work)
		return "", nil, nil, err
	}
	return work, cluster, func() { cluster.Remove(); os.RemoveAll(work) }, nil
}
