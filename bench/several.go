package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/api"
	"github.com/mosaique/rgz-backup/internal/auth"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
)

// several measures a run over many small databases (docs/BENCHMARKS.md,
// "Several databases and servers"): two throwaway clusters, n databases
// on the first (scenario "one server") and the same n split over both
// ("two servers"). For each: the serial sum of single backups (today's
// configuration, one process per database), then one `rgz-backup backup`
// over all of them at parallelism 2, its wall time, peak RSS and catalog
// rows. Then the catalog is filled to 100,000 rows and the daemon,
// configured with 500 databases, is measured: its RSS, and `list` and the
// API's latencies.
func several(binary string, n int) error {
	ctx := context.Background()
	binary, _ = filepath.Abs(binary)
	work, first, done1, err := startCluster(ctx, "rgz-several-a-")
	if err != nil {
		return err
	}
	defer done1()
	_, second, done2, err := startCluster(ctx, "rgz-several-b-")
	if err != nil {
		return err
	}
	defer done2()
	if err := first.CreateDatabase(ctx, "rgz_catalog"); err != nil {
		return err
	}
	catalogURL := first.URL("rgz_catalog")
	began := time.Now()
	var one, two []dbAt // scenario one server; scenario two servers
	for i := range n {
		name := fmt.Sprintf("shop_%03d", i)
		if err := smallDatabase(ctx, first, name); err != nil {
			return err
		}
		one = append(one, dbAt{first, name})
		at := first
		if i%2 == 1 {
			at = second
			if err := smallDatabase(ctx, second, name); err != nil {
				return err
			}
		}
		two = append(two, dbAt{at, name})
	}
	fmt.Printf("%d small databases created on each scenario's servers in %s\n\n", n, time.Since(began).Round(time.Second))

	base := append(os.Environ(), "BACKUP_CATALOG_DATABASE_URL="+catalogURL, "BACKUP_DATABASE_URL="+catalogURL,
		"BACKUP_MIN_SIZE_MB=0", "BACKUP_MIN_FREE_SPACE_GB=0", "BACKUP_LOG_LEVEL=warn", "BACKUP_COMPRESSION_FORMAT=zstd")
	if _, err := command(base, binary, "migrate"); err != nil {
		return err
	}
	fmt.Println("| scenario | databases | serial sum of single backups (s) | one run, parallelism 2 (s) | run / serial | peak RSS of the run (MB) | catalog rows written |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	for _, sc := range []struct {
		name        string
		dbs         []dbAt
		perServer   string
		targetsYAML func() string
	}{
		{"one server", one, "2", func() string { return targetsFile(map[*pgtest.Cluster]string{first: "a"}, one) }},
		{"two servers", two, "1", func() string { return targetsFile(map[*pgtest.Cluster]string{first: "a", second: "b"}, two) }},
	} {
		var serial time.Duration
		dir := filepath.Join(work, "single-"+strings.ReplaceAll(sc.name, " ", "-"))
		for _, d := range sc.dbs {
			cmd := exec.Command(binary, "backup")
			cmd.Env = append(append([]string{}, base...), "BACKUP_DATABASE_URL="+d.cluster.URL(d.name), "BACKUP_LOCAL_DIR="+filepath.Join(dir, d.name))
			m, err := timeIt(cmd)
			if err != nil {
				return fmt.Errorf("single backup of %s: %w", d.name, err)
			}
			serial += m.wall
		}
		file := filepath.Join(work, strings.ReplaceAll(sc.name, " ", "-")+".yaml")
		if err := os.WriteFile(file, []byte(sc.targetsYAML()), 0o600); err != nil {
			return err
		}
		before, err := catalogRows(ctx, catalogURL)
		if err != nil {
			return err
		}
		cmd := exec.Command(binary, "backup")
		cmd.Env = append(append([]string{}, base...), "BACKUP_TARGETS_FILE="+file, "BACKUP_LOCAL_DIR="+filepath.Join(work, "run-"+strings.ReplaceAll(sc.name, " ", "-")),
			"BACKUP_MAX_PARALLEL_PER_SERVER="+sc.perServer, "BACKUP_MAX_PARALLEL=2")
		m, err := timeIt(cmd)
		if err != nil {
			return fmt.Errorf("the run over %s: %w", sc.name, err)
		}
		after, err := catalogRows(ctx, catalogURL)
		if err != nil {
			return err
		}
		fmt.Printf("| %s | %d | %.1f | %.1f | %.2f | %d | %d |\n", sc.name, len(sc.dbs), serial.Seconds(), m.wall.Seconds(),
			m.wall.Seconds()/serial.Seconds(), m.rssKB>>10, after-before)
	}
	return daemonAtScale(ctx, binary, work, first, catalogURL, base, two)
}

type dbAt struct {
	cluster *pgtest.Cluster
	name    string
}

// smallDatabase is a shop's database: one table of 20,000 rows (about 1 MB).
func smallDatabase(ctx context.Context, c *pgtest.Cluster, name string) error {
	if err := c.CreateDatabase(ctx, name); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, c.URL(name))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE session AS SELECT g AS id, md5(g::text) AS mac, now() - g * interval '1 minute' AS at FROM generate_series(1, 20000) g`)
	return err
}

// targetsFile lists the databases by server, one target per cluster.
func targetsFile(names map[*pgtest.Cluster]string, dbs []dbAt) string {
	by := map[*pgtest.Cluster][]string{}
	for _, d := range dbs {
		by[d.cluster] = append(by[d.cluster], d.name)
	}
	var b strings.Builder
	b.WriteString("targets:\n")
	var clusters []*pgtest.Cluster
	for c := range by {
		clusters = append(clusters, c)
	}
	sort.Slice(clusters, func(i, j int) bool { return names[clusters[i]] < names[clusters[j]] })
	for _, c := range clusters {
		fmt.Fprintf(&b, "  - name: %s\n    url: %s\n    databases: [%s]\n", names[c], c.URL("postgres"), strings.Join(by[c], ", "))
	}
	return b.String()
}

func catalogRows(ctx context.Context, url string) (int, error) {
	n, err := queryNumber(ctx, url, "SELECT count(*) FROM backup_executions")
	return int(n), err
}

// daemonAtScale fills the catalog to 100,000 rows, starts the daemon with
// 500 configured databases (no schedule: its memory at rest and under
// reads), and times `list` and the API's routes with and without filters.
func daemonAtScale(ctx context.Context, binary, work string, c *pgtest.Cluster, catalogURL string, base []string, some []dbAt) error {
	have, err := catalogRows(ctx, catalogURL)
	if err != nil {
		return err
	}
	if err := fillCatalog(ctx, catalogURL, 100_000-have); err != nil {
		return err
	}
	var names []string
	for i := range 500 {
		names = append(names, fmt.Sprintf("shop_%03d", i))
	}
	file := filepath.Join(work, "500.yaml")
	yaml := fmt.Sprintf("targets:\n  - name: a\n    url: %s\n    databases: [%s]\n", c.URL("postgres"), strings.Join(names, ", "))
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		return err
	}
	token, entry, err := auth.NewToken("noc")
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	env := append(append([]string{}, base...), "BACKUP_TARGETS_FILE="+file, "BACKUP_LOCAL_DIR="+filepath.Join(work, "daemon"),
		"POSTGRES_BACKUP_ENABLED=false", "BACKUP_RESTORE_TEST_ENABLED=false", "BACKUP_HTTP_ADDR="+addr, "BACKUP_API_TOKENS="+entry)
	daemon, stop, err := startServe(binary, env, addr)
	if err != nil {
		return err
	}
	defer stop()
	idle := rssKB(daemon.Process.Pid, "VmRSS")
	get := func(path string) (time.Duration, error) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return 0, fmt.Errorf("%s: %s", path, res.Status)
		}
		return time.Since(start), nil
	}
	db := some[len(some)-1]
	routes := []string{"/metrics", api.Prefix + "/latest", api.Prefix + "/list?days=30", api.Prefix + "/list?days=30&target=*",
		api.Prefix + "/list?days=30&target=b&database=" + db.name, api.Prefix + "/latest?target=b&database=" + db.name}
	fmt.Printf("\ncatalog: 100,000 rows; daemon with 500 configured databases: RSS %d MB at rest\n\n", idle>>10)
	fmt.Println("| request | p50 (ms) | max (ms) |")
	fmt.Println("|---|---:|---:|")
	for _, r := range routes {
		var took []time.Duration
		for i := range 7 {
			if i > 0 {
				time.Sleep(api.ReadMaxAge) // past the shared read: each one a catalog query
			}
			d, err := get(r)
			if err != nil {
				return err
			}
			took = append(took, d)
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		fmt.Printf("| `%s` | %.1f | %.1f |\n", r, ms(took[len(took)/2]), ms(took[len(took)-1]))
	}
	fmt.Printf("\ndaemon RSS after the requests: %d MB (VmHWM %d MB)\n", rssKB(daemon.Process.Pid, "VmRSS")>>10, rssKB(daemon.Process.Pid, "VmHWM")>>10)
	var lists []time.Duration
	for range 5 {
		cmd := exec.Command(binary, "list", "--days", "30")
		cmd.Env = env
		m, err := timeIt(cmd)
		if err != nil {
			return err
		}
		lists = append(lists, m.wall)
	}
	sort.Slice(lists, func(i, j int) bool { return lists[i] < lists[j] })
	fmt.Printf("`rgz-backup list --days 30` (the whole process, 100,000 rows in the catalog): median %.0f ms over 5\n", ms(lists[2]))
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
