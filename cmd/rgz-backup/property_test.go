package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/clock"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/retention"
)

// backupName is what a backup file is named; nothing named so may ever be
// on disk without a good row that owns it and whose checksums it matches.
var backupName = regexp.MustCompile(`^\d{8}_\d{6}\.dump(\.gz|\.zst|\.bz2)?$`)

// The statements the proxy may cut the catalog on: the attempt's
// registration, its lock, its recovery reads, the name claim, the reads
// before the manifest, the row itself.
var cutPoints = []string{"INSERT INTO backup_attempts", "pg_try_advisory_lock", "FROM backup_attempts",
	"LIKE $1", "LIMIT 7", "INSERT INTO backup_executions", "UPDATE backup_executions"}

// Issue 12: many attempts against one directory and one catalog, with
// faults injected for real — kill -9 at random moments, fast failures
// (several in one second), the catalog's connections cut at a random
// statement, a full disk (a file size limit) — then one clean run and
// retention with the clock far ahead; then the invariants. The number of
// attempts is RGZ_PROPERTY_ATTEMPTS (default 12; a soak sets more), the
// seed RGZ_PROPERTY_SEED (printed, to replay a failure).
func TestNoFaultLosesOrDisownsABackup(t *testing.T) {
	t.Parallel()
	attempts := 12
	if n, err := strconv.Atoi(os.Getenv("RGZ_PROPERTY_ATTEMPTS")); err == nil && n > 0 {
		attempts = n
	}
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("RGZ_PROPERTY_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("RGZ_PROPERTY_SEED=%d RGZ_PROPERTY_ATTEMPTS=%d", seed, attempts)
	rnd := rand.New(rand.NewPCG(seed, seed))

	env := sampleEnv(t)
	env["BACKUP_MIN_KEEP"] = "1"
	proxy := cluster.NewProxy(t)
	catalogDB := dbName(env["BACKUP_CATALOG_DATABASE_URL"])
	direct := env["BACKUP_CATALOG_DATABASE_URL"]
	env["BACKUP_CATALOG_DATABASE_URL"] = proxy.URL(cluster, catalogDB)
	dir := env["BACKUP_LOCAL_DIR"]
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatal("prlimit (util-linux, installed by scripts/install-deps.sh) is needed:", err)
	}

	for i := range attempts {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		args := []string{binary, "backup"}
		fault := rnd.IntN(6)
		var killAfter time.Duration
		switch fault {
		case 0: // a clean run
		case 1: // a fast failure, then at once another (same second)
			e["BACKUP_MIN_FREE_SPACE_GB"] = "1000000"
		case 2:
			killAfter = time.Duration(rnd.IntN(900)) * time.Millisecond
		case 3:
			proxy.CutOn(cutPoints[rnd.IntN(len(cutPoints))])
		case 4: // the disk fills up mid-write
			args = append([]string{prlimit, "--fsize=" + strconv.Itoa(20_000+rnd.IntN(200_000))}, args...)
		case 5: // a catalog cut and a kill in the same attempt
			proxy.CutOn(cutPoints[rnd.IntN(len(cutPoints))])
			killAfter = time.Duration(rnd.IntN(900)) * time.Millisecond
		}
		code := runFaulty(t, e, args, killAfter)
		t.Logf("attempt %d: fault %d, kill after %s: exit %d", i, fault, killAfter, code)
		if fault == 1 {
			runFaulty(t, env, []string{binary, "backup"}, 0)
		}
		proxy.Heal()
	}

	// One clean run records what the faults left unrecorded; then
	// retention, far ahead, allowed to delete as much as its rules let it.
	if r := rgz(t, env, "backup"); r.code != 0 {
		t.Fatalf("the clean run after the faults: %+v", r)
	}
	store, err := catalog.Open(context.Background(), config.Database{URL: direct})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	// (The CLI deletes only as of the real now: the package takes the clock.)
	if _, err := retention.Run(context.Background(), store, retention.Options{Config: cfg, Clock: clock.Shifted(time.Until(time.Now().AddDate(0, 3, 0))), AllowMassDelete: true}); err != nil {
		t.Fatalf("retention: %v", err)
	}
	rows, err := store.List(context.Background(), catalog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string][]catalog.Execution{}
	var newestGood *catalog.Execution
	for i, r := range rows {
		if r.Status == catalog.StatusFailed {
			continue
		}
		owners[r.Filename] = append(owners[r.Filename], r)
		if newestGood == nil {
			newestGood = &rows[i]
		}
	}
	// Every file named like a backup has one good owner, and matches it.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if !backupName.MatchString(en.Name()) {
			continue
		}
		own := owners[en.Name()]
		if len(own) != 1 {
			t.Errorf("%s: %d good owners", en.Name(), len(own))
			continue
		}
		if sum := sha256File(t, filepath.Join(dir, en.Name())); own[0].ChecksumSHA256 == nil || *own[0].ChecksumSHA256 != sum {
			t.Errorf("%s does not match its row's SHA-256", en.Name())
		}
		if own[0].DeletedAt != nil {
			t.Errorf("%s is on disk but its row says deleted", en.Name())
		}
	}
	if newestGood == nil {
		t.Fatal("no good backup at all")
	}
	for name, own := range owners {
		r := own[0]
		_, statErr := os.Stat(filepath.Join(dir, name))
		switch {
		case r.DeletedAt == nil && statErr != nil:
			t.Errorf("%s (%s) lost: its file is gone and retention did not delete it", name, r.Status)
		case r.DeletedAt != nil && r.RetentionClass == catalog.ClassCompliance:
			t.Errorf("%s: a compliance copy was deleted", name)
		case r.DeletedAt != nil && r.ID == newestGood.ID:
			t.Errorf("%s: the newest good backup was deleted", name)
		}
	}
	// Everything kept verifies, end to end.
	if r := rgz(t, env, "verify", "--all"); r.code != 0 {
		t.Errorf("verify --all: %+v", r)
	}
	if t.Failed() {
		t.Logf("replay with RGZ_PROPERTY_SEED=%d RGZ_PROPERTY_ATTEMPTS=%d", seed, attempts)
	}
}

// runFaulty runs one command with env, killing it (SIGKILL, its whole
// process group) after killAfter when that is positive. It returns the
// exit code (-1 when killed).
func runFaulty(t *testing.T, env map[string]string, args []string, killAfter time.Duration) int {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if killAfter > 0 {
		timer := time.AfterFunc(killAfter, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
		defer timer.Stop()
	}
	cmd.Wait()
	return cmd.ProcessState.ExitCode()
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
