package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mosaique/rgz-backup/internal/crypt"
)

// rto measures the restore time (the restore test's duration, the RTO
// figure of docs/RESTORE.md) at each sample scale, in one run.
func rto(binary string, scales []int) error {
	ctx := context.Background()
	binary, _ = filepath.Abs(binary)
	work, cluster, done, err := startCluster(ctx, "rgz-rto-")
	if err != nil {
		return err
	}
	defer done()
	identity, recipient, err := crypt.NewKey()
	if err != nil {
		return err
	}
	keyFile := filepath.Join(work, "key.txt")
	if err := os.WriteFile(keyFile, []byte(identity+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Printf("%-6s %-5s %10s %12s %12s %14s\n", "scale", "age", "db MB", "backup MB", "backup s", "restore test s")
	for _, scale := range scales {
		db := fmt.Sprintf("rgz_%d", scale)
		url, size, _, err := loadSample(ctx, cluster, db, scale)
		if err != nil {
			return err
		}
		// The same database, without and with encryption, one after the other.
		var tests [2]float64
		for i, sealed := range []bool{false, true} {
			out := filepath.Join(work, fmt.Sprintf("%s_%v", db, sealed))
			env := append(os.Environ(), "BACKUP_DATABASE_URL="+url, "BACKUP_LOCAL_DIR="+out,
				"BACKUP_CATALOG_DATABASE_URL="+strings.Replace(url, "/"+db+"?", "/postgres?", 1),
				"BACKUP_MIN_SIZE_MB=0", "BACKUP_MIN_FREE_SPACE_GB=1", "BACKUP_TIMEOUT_SECONDS=7200",
				"BACKUP_RESTORE_TEST_TIMEOUT_SECONDS=7200")
			if sealed {
				env = append(env, "BACKUP_ENCRYPTION_RECIPIENTS="+recipient, "BACKUP_ENCRYPTION_IDENTITY_FILE="+keyFile)
			}
			began := time.Now()
			backupOut, err := command(env, binary, "backup", "--json")
			if err != nil {
				return err
			}
			backupSecs := time.Since(began).Seconds()
			var row struct {
				Filename string `json:"filename"`
				Size     int64  `json:"file_size_bytes"`
			}
			json.Unmarshal(backupOut, &row)
			began = time.Now()
			testOut, err := command(env, binary, "restore-test", row.Filename, "--json")
			if err != nil {
				return err
			}
			tests[i] = time.Since(began).Seconds()
			var rt struct {
				Status string `json:"status"`
			}
			json.Unmarshal(testOut, &rt)
			if rt.Status != "success" {
				return fmt.Errorf("restore test at scale %d: %s", scale, testOut)
			}
			fmt.Printf("%-6d %-5v %10d %12.1f %12.1f %14.1f\n", scale, sealed, size>>20, float64(row.Size)/(1<<20), backupSecs, tests[i])
		}
		fmt.Printf("       restore test with age / without: %.3f (target ≤ 1.05)\n", tests[1]/tests[0])
	}
	return nil
}

func command(env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %v: %w: %s", name, args, err, stderr.String())
	}
	return out, nil
}

func parseScales(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-rto %q: a comma-separated list of scales", s)
		}
		out = append(out, n)
	}
	return out, nil
}
