// Command demo shows rgz-backup end to end on a fresh machine: it starts a
// throwaway PostgreSQL, loads a MOSAÏQUE-like database, takes a backup
// (with progress on a terminal), verifies it and lists the catalog.
// Run it with `make demo`. With --screenshots DIR (`make screenshots`) it
// brings up a daemon with a realistic history instead and takes the
// console's pictures (screenshots.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
	"github.com/mosaique/rgz-backup/internal/testenv/sample"
)

func main() {
	binary := flag.String("binary", "bin/rgz-backup", "the rgz-backup binary to run")
	dir := flag.String("dir", ".demo", "where the backups go")
	scale := flag.Int("scale", 20, "sample size (20: about 100,000 RADIUS sessions)")
	keep := flag.Bool("keep", false, "leave the PostgreSQL server running at the end")
	shots := flag.String("screenshots", "", "instead: bring up a daemon with 90 days of history and a streaming archive, and take the console's pictures into this directory (make screenshots)")
	flag.Parse()
	do := func() error { return run(*binary, *dir, *scale, *keep) }
	if *shots != "" {
		do = func() error { return screenshots(*binary, *dir, *shots, *scale, *keep) }
	}
	if err := do(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(binary, dir string, scale int, keep bool) error {
	ctx := context.Background()
	binary, _ = filepath.Abs(binary)
	backups, _ := filepath.Abs(filepath.Join(dir, "backups"))
	if err := os.MkdirAll(backups, 0o750); err != nil {
		return err
	}
	cluster, _, err := startCluster(ctx)
	if err != nil {
		return err
	}
	if !keep {
		defer cluster.Remove()
	}
	if err := cluster.CreateDatabase(ctx, "rgz"); err != nil {
		return err
	}
	n := sample.SizesAt(scale)
	step("Loading a MOSAÏQUE-like database: %d resellers, %d subscribers, %d RADIUS sessions, %d invoices",
		n.Resellers, n.Subscribers, n.Sessions, n.Invoices)
	if err := sample.Load(ctx, cluster.URL("rgz"), scale); err != nil {
		return err
	}
	env := append(os.Environ(),
		"BACKUP_DATABASE_URL="+cluster.URL("rgz"),
		"BACKUP_LOCAL_DIR="+backups,
		"BACKUP_MIN_SIZE_MB=1", // the demo database is small; production keeps the specification's 100
		"BACKUP_MIN_FREE_SPACE_GB=1",
	)
	for _, args := range [][]string{{"backup"}, {"verify", "--all"}, {"list"}} {
		step("rgz-backup %s", strings.Join(args, " "))
		cmd := exec.Command(binary, args...)
		cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("rgz-backup %v: %w", args, err)
		}
	}
	step("Done. The backup and its sidecars are in %s", backups)
	if keep {
		fmt.Printf("PostgreSQL still runs: BACKUP_DATABASE_URL=%s BACKUP_LOCAL_DIR=%s\n", cluster.URL("rgz"), backups)
	}
	return nil
}

// startCluster starts a throwaway PostgreSQL in a directory of its own
// under the system's temporary directory (which PostgreSQL's user may
// enter), and says so.
func startCluster(ctx context.Context) (*pgtest.Cluster, string, error) {
	pgDir, err := os.MkdirTemp("", "rgz-demo-pg-")
	if err != nil {
		return nil, "", err
	}
	step("Starting a throwaway PostgreSQL in %s", pgDir)
	cluster, err := pgtest.Start(ctx, pgDir)
	return cluster, pgDir, err
}

func step(format string, args ...any) {
	fmt.Printf("\n==> "+format+"\n", args...)
}
