package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/testenv/azuritetest"
	"github.com/mosaique/rgz-backup/internal/testenv/s3test"
	"github.com/mosaique/rgz-backup/internal/testenv/sshtest"
)

// destinations measures issue 15's target (docs/BENCHMARKS.md, "Copies
// to every destination"): in each round, the local backup alone, then the
// same backup copied to a MinIO bucket, a second directory, an SFTP
// server and an Azurite container, on loopback. `rgz-backup backup`
// returns once every copy is verified (or has failed), so its wall time
// is the time from start to every copy verified. Both runs use format.
func destinations(binary string, scale, repeat int, format string) error {
	ctx := context.Background()
	binary, _ = filepath.Abs(binary)
	work, cluster, done, err := startCluster(ctx, "rgz-dest-")
	if err != nil {
		return err
	}
	defer done()
	url, dbSize, _, err := loadSample(ctx, cluster, "rgz", scale)
	if err != nil {
		return err
	}
	fmt.Printf("database: scale %d, %d MB on disk (pg_database_size); format %s\n", scale, dbSize>>20, format)

	extra, stop, err := startDestinations(ctx, work)
	defer stop()
	if err != nil {
		return err
	}
	out := filepath.Join(work, "out")
	runs := []struct {
		name string
		env  []string
	}{
		{"local only", nil},
		{"local + S3 + file + SFTP + Azure", append(extra, "BACKUP_LOG_LEVEL=info")}, // info: each copy's time
	}
	samples := make([][]measure, len(runs))
	for round := 1; round <= repeat; round++ {
		for i, r := range runs {
			os.RemoveAll(out)
			os.MkdirAll(out, 0o750)
			cmd := ours(binary, url, out, format, "", r.env...)()
			m, err := timeIt(cmd)
			if err != nil {
				return fmt.Errorf("%s: %w", r.name, err)
			}
			m.name, m.size = r.name, sizeOf(filepath.Join(out, "*.dump.*"))
			if r.env != nil {
				if err := everyCopyVerified(cmd.Env, binary, 4); err != nil {
					return err
				}
			}
			samples[i] = append(samples[i], m)
			fmt.Printf("  round %d  %-34s %8.2f s %12d bytes  peak RSS %4d MB%s\n", round, m.name, m.wall.Seconds(), m.size, m.rssKB>>10, copyTimes(m.log))
		}
	}
	fmt.Println()
	fmt.Println("| run | wall (s, median) | file (bytes) | peak RSS (MB, highest) |")
	fmt.Println("|---|---:|---:|---:|")
	var peak int64
	for _, ms := range samples {
		m := median(ms)
		peak = max(peak, m.rssKB)
		fmt.Printf("| %s | %.2f | %d | %d |\n", m.name, m.wall.Seconds(), m.size, m.rssKB>>10)
	}
	ratio := roundRatio(samples, 1, 0, func(a, b measure) float64 { return a.wall.Seconds() / b.wall.Seconds() })
	fmt.Println()
	fmt.Println("| target | measured | met |")
	fmt.Println("|---|---:|:---:|")
	fmt.Printf("| every copy verified / local alone (≤ 1.50) | %.2f | %s |\n", ratio, yes(ratio <= 1.5))
	fmt.Printf("| peak RSS of rgz-backup, MB (< 100) | %d | %s |\n", peak>>10, yes(peak>>10 < 100))
	return nil
}

// copyTimes lists how long each destination took, from the backup's log
// ("backup copied … destination=URL … seconds=S").
func copyTimes(log string) string {
	var b strings.Builder
	for _, m := range copiedLine.FindAllStringSubmatch(log, -1) {
		kind, _, _ := strings.Cut(m[1], ":")
		fmt.Fprintf(&b, "  %s %.1f s", kind, must(strconv.ParseFloat(m[2], 64)))
	}
	return b.String()
}

var copiedLine = regexp.MustCompile(`msg="backup copied".* destination=(\S+) .*seconds=([0-9.]+)`)

func must(f float64, _ error) float64 { return f }

func yes(ok bool) string { return map[bool]string{true: "yes", false: "NO"}[ok] }

// startDestinations starts MinIO, sshd and Azurite under work and returns
// the settings that copy to them (and to a second directory).
func startDestinations(ctx context.Context, work string) ([]string, func(), error) {
	var stops []func()
	stop := func() {
		for _, s := range stops {
			s()
		}
	}
	dirs := map[string]string{}
	for _, d := range []string{"minio", "ssh", "azurite", "nas"} {
		dirs[d] = filepath.Join(work, d)
		if err := os.MkdirAll(dirs[d], 0o750); err != nil {
			return nil, stop, err
		}
	}
	s3, err := s3test.Start(dirs["minio"])
	if err != nil {
		return nil, stop, fmt.Errorf("start MinIO: %w", err)
	}
	stops = append(stops, s3.Stop)
	if err := s3.Client().MakeBucket(ctx, "rgz-bench", minio.MakeBucketOptions{Region: s3.Region}); err != nil {
		return nil, stop, err
	}
	ssh, err := sshtest.Launch(dirs["ssh"])
	if err != nil {
		return nil, stop, fmt.Errorf("start sshd: %w", err)
	}
	stops = append(stops, ssh.Stop)
	az, err := azuritetest.Launch(dirs["azurite"])
	if err != nil {
		return nil, stop, fmt.Errorf("start Azurite: %w", err)
	}
	stops = append(stops, az.Stop)
	container, err := destination.NewAzure(destination.AzureConfig{Account: azuritetest.Account, Container: "rgz", AzureSettings: destination.AzureSettings{AccountKey: azuritetest.Key, Endpoint: az.Endpoint}})
	if err == nil {
		err = container.CreateContainer(ctx)
	}
	if err != nil {
		return nil, stop, err
	}
	env := []string{
		"BACKUP_S3_ENABLED=true", "BACKUP_S3_BUCKET=rgz-bench", "BACKUP_S3_ENDPOINT=" + s3.Endpoint, "BACKUP_S3_REGION=" + s3.Region,
		"BACKUP_S3_ACCESS_KEY_ID=" + s3.AccessKey, "BACKUP_S3_SECRET_ACCESS_KEY=" + s3.SecretKey,
		"BACKUP_DESTINATIONS=file://" + dirs["nas"] + ",sftp://" + ssh.User + "@" + ssh.Addr + filepath.Join(ssh.Root, "rgz") +
			",azblob://" + azuritetest.Account + "/rgz",
		"BACKUP_SFTP_KEY_FILE=" + ssh.KeyFile, "BACKUP_SFTP_KNOWN_HOSTS=" + ssh.KnownHosts,
		"BACKUP_AZURE_ACCOUNT_KEY=" + azuritetest.Key, "BACKUP_AZURE_ENDPOINT=" + az.Endpoint,
	}
	return env, stop, nil
}

// everyCopyVerified checks that the newest backup succeeded with want
// verified copies: a benchmark of copies that did not happen means nothing.
func everyCopyVerified(env []string, binary string, want int) error {
	out, err := command(env, binary, "list", "--days", "1", "--json")
	if err != nil {
		return err
	}
	var rows []struct {
		Status string `json:"status"`
		Copies []struct {
			VerifiedAt *string `json:"verified_at"`
		} `json:"copies"`
	}
	if err := json.Unmarshal(out, &rows); err != nil || len(rows) == 0 {
		return fmt.Errorf("list --json: %v", err)
	}
	verified := 0
	for _, c := range rows[0].Copies {
		if c.VerifiedAt != nil {
			verified++
		}
	}
	if rows[0].Status != "success" || verified != want {
		return fmt.Errorf("the newest backup is %s with %d of %d copies verified", rows[0].Status, verified, want)
	}
	return nil
}
