package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/api"
	"github.com/mosaique/rgz-backup/internal/console"
)

// consolePages measures the web console (docs/BENCHMARKS.md, "The web
// console"): a catalog of rows rows, a real `rgz-backup serve`, each page's
// time as a browser sees it on loopback (7 requests each, p50 and max),
// its weight with the stylesheet and the script, and the daemon's RSS at
// rest, after the API's reads and after the console's pages.
func consolePages(binary string, rows int) error {
	ctx := context.Background()
	binary, _ = filepath.Abs(binary)
	set, err := setUpDaemon(ctx, binary, "rgz-console-", "admin")
	if err != nil {
		return err
	}
	defer set.done()
	cluster, token, addr, env := set.cluster, set.token, set.addr, set.env
	if err := fillCatalog(ctx, cluster.URL("rgz_catalog"), rows); err != nil {
		return err
	}
	var oneID string
	if conn, err := pgx.Connect(ctx, cluster.URL("rgz_catalog")); err == nil {
		_ = conn.QueryRow(ctx, "SELECT id::text FROM backup_executions WHERE status = 'success' ORDER BY backup_date DESC LIMIT 1").Scan(&oneID)
		conn.Close(ctx)
	}
	daemon, stop, err := startServe(binary, env, addr)
	if err != nil {
		return err
	}
	defer stop()
	base := "http://" + addr
	rest := rssKB(daemon.Process.Pid, "VmRSS")

	// The API's reads first: what the daemon holds without the console.
	for _, p := range []string{api.Prefix + "/latest", api.Prefix + "/list?days=30", "/metrics"} {
		for range 5 {
			req, _ := http.NewRequest("GET", base+p, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			if res, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}
	}
	afterAPI := rssKB(daemon.Process.Pid, "VmRSS")

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	res, err := console.LogIn(context.Background(), browser, base, token, nil)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("console login: %s", res.Status)
	}
	fetch := func(path string) (time.Duration, int, error) {
		start := time.Now()
		res, err := browser.Get(base + path)
		if err != nil {
			return 0, 0, err
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return 0, 0, fmt.Errorf("%s: %s", path, res.Status)
		}
		return time.Since(start), len(b), nil
	}
	_, css, err := fetch("/console/static/console.css")
	if err != nil {
		return err
	}
	_, js, err := fetch("/console/static/console.js")
	if err != nil {
		return err
	}
	pages := []string{"/console/", "/console/backups", "/console/backups?status=failed&days=3650", "/console/backups/" + oneID, "/console/charts", "/console/audit"}
	fmt.Printf("catalog: %d rows; daemon RSS at rest %d MB, after the API's reads %d MB\n\n", rows, rest>>10, afterAPI>>10)
	fmt.Println("| page | p50 (ms) | max (ms) | weight with CSS and JS (KB) |")
	fmt.Println("|---|---:|---:|---:|")
	for _, p := range pages {
		var took []time.Duration
		size := 0
		for range 7 {
			d, n, err := fetch(p)
			if err != nil {
				return err
			}
			took, size = append(took, d), n
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		fmt.Printf("| `%s` | %.1f | %.1f | %.1f |\n", p, ms(took[len(took)/2]), ms(took[len(took)-1]), float64(size+css+js)/1024)
	}
	afterConsole := rssKB(daemon.Process.Pid, "VmRSS")
	fmt.Printf("\ndaemon RSS after the console's pages: %d MB (+%d MB over the API's; VmHWM %d MB)\n",
		afterConsole>>10, (afterConsole-afterAPI)>>10, rssKB(daemon.Process.Pid, "VmHWM")>>10)
	return nil
}
