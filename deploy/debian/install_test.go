//go:build debinstall

// Package debian holds the Debian package's files (nfpm.yaml, the units,
// the maintainer scripts, the env template) and the test that installs
// the package as an operator would: into a fresh Debian bookworm root made
// by debootstrap from Debian's packages and booted with systemd-nspawn
// (systemd its PID 1), with `dpkg -i` then `apt-get -f install`; it backs
// up from inside through the hardened units against a PostgreSQL on the
// host's loopback, upgrades, removes and purges. It needs root, debootstrap
// and systemd-nspawn (the install script's), and a minute or two:
// `make package-test` runs it, from .ci/run, outside `make test`.
package debian

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
	"github.com/mosaique/rgz-backup/internal/testenv/sample"
	"github.com/mosaique/rgz-backup/internal/testenv/testtool"
)

var (
	debFile    = flag.String("deb", "", "the amd64 package to install (make package-test gives it)")
	debVersion = flag.String("version", "", "its Debian version")
)

const (
	suite  = "bookworm"
	mirror = "http://deb.debian.org/debian"
	// The packages debootstrap downloads are kept here between runs (a
	// fresh machine downloads them once); the root itself is new every run.
	debootstrapCache = "/var/cache/rgz-backup-test/debootstrap"
	envFile          = "/etc/rgz-backup/rgz-backup.env"
	backupDir        = "/var/lib/rgz-backup/backups"
)

// TestInstallInFreshDebian is docs/INSTALL.md's life of the package, in
// order, on a fresh Debian booted with systemd as PID 1 (after lintian has
// read the packages): install, check what landed, configure, back up
// through the oneshot unit, arm the timer, run the daemon, upgrade (the
// daemon restarts on the new build), remove (it stops), purge — the
// backups survive every step.
func TestInstallInFreshDebian(t *testing.T) {
	if *debFile == "" || *debVersion == "" {
		t.Fatal("run through `make package-test` (it builds the package and passes -deb and -version)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("debootstrap, systemd-nspawn and dpkg need root")
	}
	debootstrap, err := exec.LookPath("debootstrap")
	if err != nil {
		t.Fatal("debootstrap (installed by scripts/install-deps.sh) is needed: ", err)
	}
	nspawn, err := exec.LookPath("systemd-nspawn")
	if err != nil {
		t.Fatal("systemd-nspawn (Debian's systemd-container, installed by scripts/install-deps.sh) is needed: ", err)
	}
	lintPackages(t, *debFile, *debVersion)
	r := newRoot(t, debootstrap)
	r.boot(t, nspawn)

	cluster := hostPostgres(t)
	const role, password = "rgz_backup", "Pa55word-inside-the-env-file"
	cluster.PasswordRole(t, role, password, "mosaique")

	// Install: dpkg alone stops on the missing Depends (postgresql-client
	// is not in a minimal root); apt-get -f install brings them and
	// configures the package.
	r.copyIn(t, *debFile, "/root/rgz-backup.deb")
	out, err := r.run("dpkg", "-i", "/root/rgz-backup.deb")
	if err == nil || !strings.Contains(out, "postgresql-client") {
		t.Fatalf("dpkg -i on a root without postgresql-client should stop on the Depends: %v\n%s", err, out)
	}
	r.mustRun(t, "apt-get", "update", "-q")
	r.mustRun(t, "apt-get", "-f", "install", "-y", "-q", "--no-install-recommends")
	if got := r.mustRun(t, "dpkg-query", "-W", "-f=${Status} ${Version}", "rgz-backup"); got != "install ok installed "+*debVersion {
		t.Fatalf("dpkg-query says %q, want installed %s", got, *debVersion)
	}

	checkInstalled(t, r)
	// A first install starts nothing: the env file is not filled yet.
	if state, _ := r.run("systemctl", "is-active", "rgz-backup.service"); state != "inactive" {
		t.Fatalf("a first install should not start the daemon; it is %q", state)
	}

	// The binary runs inside, and says which build it is.
	version := r.mustRun(t, "rgz-backup", "--version")
	if !strings.Contains(version, "commit") || !strings.Contains(version, "go1.") {
		t.Fatalf("rgz-backup --version: %q", version)
	}
	t.Log("inside the root: ", version)

	// The template as shipped is refused (exit 2, naming what is
	// missing); filled as docs/INSTALL.md says, `config` accepts it.
	checkConfig := func() (string, error) {
		return r.run("sh", "-c", "set -a; . "+envFile+"; exec rgz-backup config")
	}
	out, err = checkConfig()
	if exitCode(err) != 2 || !strings.Contains(out, "POSTGRES_USER") {
		t.Fatalf("config with the template as shipped should exit 2 naming POSTGRES_USER; got %v:\n%s", err, out)
	}
	httpAddr, _, err := testtool.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	// Started on the template as shipped, the daemon refuses it (exit 2,
	// the journal names the variable) and the unit stays failed instead
	// of restarting every 10 seconds.
	r.mustRun(t, "systemctl", "start", "rgz-backup.service")
	waitFor(t, r, "the daemon's refusal of an unfilled env file", func() bool {
		state, _ := r.run("systemctl", "show", "-P", "ActiveState", "rgz-backup.service")
		return state == "failed"
	})
	if journal := r.mustRun(t, "journalctl", "--no-pager", "-u", "rgz-backup.service"); !strings.Contains(journal, "POSTGRES_USER") {
		t.Fatalf("the daemon's journal should name the missing variable:\n%s", journal)
	}
	if n := r.mustRun(t, "systemctl", "show", "-P", "NRestarts", "rgz-backup.service"); n != "0" {
		t.Fatalf("a refused configuration should not be restarted; NRestarts=%s", n)
	}
	r.mustRun(t, "systemctl", "reset-failed", "rgz-backup.service")

	filled := r.readFile(t, envFile)
	for name, value := range map[string]string{
		"POSTGRES_HOST":            "127.0.0.1",
		"POSTGRES_PORT":            strconv.Itoa(cluster.Port),
		"POSTGRES_USER":            role,
		"POSTGRES_PASSWORD":        password,
		"POSTGRES_DB":              "mosaique",
		"BACKUP_MIN_SIZE_MB":       "0", // the sample is small
		"BACKUP_MIN_FREE_SPACE_GB": "1", // CI machines' disks vary
		"BACKUP_HTTP_ADDR":         httpAddr,
		"BACKUP_LOG_LEVEL":         "info",
	} {
		filled = setVar(t, filled, name, value)
	}
	r.writeFile(t, envFile, filled) // as sudoedit would: mode and owner kept
	r.checkFile(t, fileWant{envFile, "root", "rgz-backup", 0o640, false})
	out, err = checkConfig()
	if err != nil {
		t.Fatalf("config with the filled template: %v\n%s", err, out)
	}
	if strings.Contains(out, password) {
		t.Fatalf("config printed the password:\n%s", out)
	}

	// A backup through the hardened oneshot unit (what the timer starts),
	// over loopback to the host's PostgreSQL: it succeeds, its files are
	// 0640 (the unit's UMask), and the journal never shows the password.
	backupByUnit := func() catalogRow {
		t.Helper()
		if out, err := r.run("systemctl", "start", "rgz-backup-backup.service"); err != nil {
			journal, _ := r.run("journalctl", "-u", "rgz-backup-backup.service", "--no-pager", "-n", "60")
			t.Fatalf("systemctl start rgz-backup-backup.service: %v\n%s\n%s", err, out, journal)
		}
		row := lastRow(t, cluster, role, password)
		if row.status != "success" || !strings.HasPrefix(row.path, backupDir+"/") || row.version == "" {
			t.Fatalf("the catalog's last row: %+v", row)
		}
		return row
	}
	row := backupByUnit()
	first := r.backupFiles(t)
	if len(first) == 0 {
		t.Fatalf("no backup file in %s", backupDir)
	}
	for _, f := range first {
		r.checkFile(t, fileWant{filepath.Join(backupDir, f), "rgz-backup", "rgz-backup", 0o640, false})
	}
	t.Logf("backup taken by the unit inside the root: %s (%d files, build %s)", row.path, len(first), row.version)
	asService := func(args string) (string, error) {
		return r.run("runuser", "-u", "rgz-backup", "--", "sh", "-c", "set -a; . "+envFile+"; exec "+args)
	}
	if out, err := asService("rgz-backup verify " + filepath.Base(row.path)); err != nil {
		t.Fatalf("verify as the service's user: %v\n%s", err, out)
	}

	// The timer, for sites without the daemon: next run 03:00 UTC.
	r.mustRun(t, "systemctl", "enable", "--now", "rgz-backup-backup.timer")
	if next := r.mustRun(t, "systemctl", "show", "-P", "NextElapseUSecRealtime", "rgz-backup-backup.timer"); !strings.Contains(next, " 03:00:00") {
		t.Fatalf("the timer's next run is %q, want 03:00 UTC", next)
	}
	r.mustRun(t, "systemctl", "disable", "--now", "rgz-backup-backup.timer")

	// The daemon, hardened: it starts, becomes ready, takes a backup it
	// is asked for, survives a reload (SIGHUP).
	r.mustRun(t, "systemctl", "enable", "--now", "rgz-backup.service")
	waitReady(t, r, httpAddr)
	pid := r.mustRun(t, "systemctl", "show", "-P", "MainPID", "rgz-backup.service")
	before := countRows(t, cluster, role, password)
	if out, err := asService("rgz-backup backup --enqueue"); err != nil {
		t.Fatalf("backup --enqueue: %v\n%s", err, out)
	}
	waitFor(t, r, "the daemon's backup", func() bool {
		return countRows(t, cluster, role, password) > before && lastRow(t, cluster, role, password).status == "success"
	})
	r.mustRun(t, "systemctl", "reload", "rgz-backup.service")
	waitFor(t, r, "the daemon's answer to SIGHUP", func() bool {
		journal, _ := r.run("journalctl", "--no-pager", "-u", "rgz-backup.service")
		return strings.Contains(journal, "SIGHUP")
	})
	waitReady(t, r, httpAddr)
	if again := r.mustRun(t, "systemctl", "show", "-P", "MainPID", "rgz-backup.service"); again != pid {
		t.Fatalf("a reload should keep the daemon (MainPID %s), it is now %s", pid, again)
	}

	// Upgrade to a newer build whose template has changed (a release that
	// adds a variable), unattended as docs/INSTALL.md says: the daemon
	// restarts on it, the operator's env file is kept as they left it and
	// the new template lands beside it; the backups are untouched.
	newer := *debVersion + ".1"
	newerDeb, templateText := buildNewer(t, newer)
	kept := r.backupFiles(t)
	r.copyIn(t, newerDeb, "/root/rgz-backup-newer.deb")
	r.mustRun(t, "dpkg", "-i", "--force-confdef", "--force-confold", "/root/rgz-backup-newer.deb")
	if r.readFile(t, envFile+".dpkg-dist") != templateText {
		t.Fatal("the new template should be beside the operator's env file, as rgz-backup.env.dpkg-dist")
	}
	if got := r.mustRun(t, "dpkg-query", "-W", "-f=${Version}", "rgz-backup"); got != newer {
		t.Fatalf("after the upgrade dpkg-query says %q, want %s", got, newer)
	}
	var info struct{ Version string }
	if err := json.Unmarshal([]byte(r.mustRun(t, "rgz-backup", "version", "--json")), &info); err != nil || info.Version != "upgrade-test" {
		t.Fatalf("the upgraded binary is not the newer build: %+v (%v)", info, err)
	}
	waitReady(t, r, httpAddr)
	if again := r.mustRun(t, "systemctl", "show", "-P", "MainPID", "rgz-backup.service"); again == pid || again == "0" {
		t.Fatalf("the upgrade should restart the daemon (MainPID was %s, now %s)", pid, again)
	}
	if metrics := httpGet(t, "http://"+httpAddr+"/metrics"); !strings.Contains(metrics, `version="upgrade-test"`) {
		t.Fatal("after the upgrade the daemon's rgz_backup_build_info should name the new build")
	}
	if r.readFile(t, envFile) != filled {
		t.Fatal("the upgrade changed the operator's env file")
	}
	r.checkFile(t, fileWant{envFile, "root", "rgz-backup", 0o640, false})
	r.checkFile(t, fileWant{backupDir, "rgz-backup", "rgz-backup", 0o750, true})
	for _, f := range kept {
		r.checkFile(t, fileWant{filepath.Join(backupDir, f), "rgz-backup", "rgz-backup", 0o640, false})
	}
	if row := backupByUnit(); !strings.HasPrefix(row.version, "upgrade-test ") {
		t.Fatalf("the backup after the upgrade: %+v (want build upgrade-test)", row)
	}
	afterUpgrade := r.backupFiles(t)

	if journal := r.mustRun(t, "journalctl", "--no-pager", "-u", "rgz-backup*"); strings.Contains(journal, password) {
		t.Fatal("the units' journal shows the database password")
	}

	// Remove: the daemon stops, the program goes, the backups and the
	// env file stay.
	out = r.mustRun(t, "apt-get", "remove", "-y", "-q", "rgz-backup")
	if !strings.Contains(out, "backups in "+backupDir) {
		t.Errorf("removal should say the backups are kept:\n%s", out)
	}
	if state, _ := r.run("systemctl", "is-active", "rgz-backup.service"); state == "active" {
		t.Fatal("removal should stop the daemon")
	}
	if testtool.Listening(httpAddr) {
		t.Fatal("removal stopped the unit but something still listens on the daemon's address")
	}
	r.mustBeGone(t, "/usr/bin/rgz-backup")
	if r.readFile(t, envFile) != filled {
		t.Fatal("removal changed the env file")
	}
	// Purge: the env file goes too, the backups still stay, and it says so.
	out = r.mustRun(t, "apt-get", "purge", "-y", "-q", "rgz-backup")
	if !strings.Contains(out, "KEPT") {
		t.Errorf("purge should say the backups are kept:\n%s", out)
	}
	r.mustBeGone(t, envFile)
	if got := r.backupFiles(t); strings.Join(got, " ") != strings.Join(afterUpgrade, " ") {
		t.Fatalf("purge touched the backups: before %v, after %v", afterUpgrade, got)
	}
	if status, _ := r.run("dpkg-query", "-W", "-f=${Status}", "rgz-backup"); strings.Contains(status, "installed") && !strings.Contains(status, "not-installed") {
		t.Fatalf("after purge dpkg-query says %q", status)
	}
}

// lintPackages runs lintian on every architecture built beside the amd64
// package — no error, no warning; the deliberate exceptions are in
// deploy/debian/lintian-overrides, with their reasons — and runs the arm64
// binary under emulation.
func lintPackages(t *testing.T, debFile, debVersion string) {
	t.Helper()
	lintian, err := exec.LookPath("lintian")
	if err != nil {
		t.Fatal("lintian (installed by scripts/install-deps.sh) is needed: ", err)
	}
	all, _ := filepath.Glob(filepath.Join(filepath.Dir(debFile), "rgz-backup_"+debVersion+"_*.deb"))
	if len(all) < 2 {
		t.Fatalf("make package should have built amd64 and arm64; found %v", all)
	}
	for _, deb := range all {
		if out, err := exec.Command(lintian, "--fail-on", "error,warning", "--tag-display-limit", "0", deb).CombinedOutput(); err != nil {
			t.Fatalf("lintian %s: %v\n%s", filepath.Base(deb), err, out)
		}
	}
	checkArm64(t, filepath.Join(filepath.Dir(debFile), "rgz-backup_"+debVersion+"_arm64.deb"))
}

// hostPostgres is a PostgreSQL on the host's loopback holding
// MOSAÏQUE-like data in the database "mosaique".
func hostPostgres(t *testing.T) *pgtest.Cluster {
	t.Helper()
	ctx := context.Background()
	// Not under t.TempDir: its 0700 parent keeps the postgres user out.
	pgDir, err := os.MkdirTemp("", "rgz-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := pgtest.Start(ctx, pgDir)
	if err != nil {
		os.RemoveAll(pgDir)
		t.Fatal("start PostgreSQL: ", err)
	}
	t.Cleanup(func() { _ = cluster.Remove() })
	if err := cluster.CreateDatabase(ctx, "mosaique"); err != nil {
		t.Fatal(err)
	}
	if err := sample.Load(ctx, cluster.URL("mosaique"), 1); err != nil {
		t.Fatal(err)
	}
	return cluster
}

// checkInstalled checks the system user, and every file with its owner
// and mode, as docs/INSTALL.md lists them.
func checkInstalled(t *testing.T, r *root) {
	t.Helper()
	user := r.mustRun(t, "getent", "passwd", "rgz-backup")
	fields := strings.Split(strings.TrimSpace(user), ":")
	if uid, _ := strconv.Atoi(fields[2]); len(fields) != 7 || uid >= 1000 || fields[5] != "/var/lib/rgz-backup" || !strings.HasSuffix(fields[6], "nologin") {
		t.Fatalf("rgz-backup should be a system user (uid < 1000, home /var/lib/rgz-backup, no login shell): %q", user)
	}
	if r.mustRun(t, "id", "-gn", "rgz-backup") != "rgz-backup" {
		t.Fatal("rgz-backup's primary group should be rgz-backup")
	}
	for _, want := range []fileWant{
		{"/usr/bin/rgz-backup", "root", "root", 0o755, false},
		{"/lib/systemd/system/rgz-backup.service", "root", "root", 0o644, false},
		{"/lib/systemd/system/rgz-backup-backup.service", "root", "root", 0o644, false},
		{"/lib/systemd/system/rgz-backup-backup.timer", "root", "root", 0o644, false},
		{"/etc/rgz-backup", "root", "rgz-backup", 0o750, true},
		{envFile, "root", "rgz-backup", 0o640, false},
		{"/var/lib/rgz-backup", "rgz-backup", "rgz-backup", 0o750, true},
		{backupDir, "rgz-backup", "rgz-backup", 0o750, true},
		{"/usr/share/doc/rgz-backup/INSTALL.md", "root", "root", 0o644, false},
		{"/usr/share/doc/rgz-backup/copyright", "root", "root", 0o644, false},
		{"/usr/share/man/man1/rgz-backup.1.gz", "root", "root", 0o644, false},
		{"/usr/share/man/man1/rgz-backup-backup.1.gz", "root", "root", 0o644, false},
		{"/usr/share/bash-completion/completions/rgz-backup", "root", "root", 0o644, false},
	} {
		r.checkFile(t, want)
	}
	if !strings.Contains(r.mustRun(t, "dpkg-query", "-W", "-f=${Conffiles}", "rgz-backup"), envFile) {
		t.Fatal("the env file should be a conffile")
	}
}

// buildNewer packages the next release, as `make package` would, but with
// an env template that gained a variable; it returns the amd64 package and
// that template.
func buildNewer(t *testing.T, newer string) (deb, templateText string) {
	t.Helper()
	dist := t.TempDir()
	templatePath := filepath.Join(dist, "rgz-backup.env")
	shipped, err := os.ReadFile("rgz-backup.env")
	if err != nil {
		t.Fatal(err)
	}
	templateText = string(shipped) + "\n# BACKUP_SOMETHING_NEW: a variable of the next release\n"
	nfpmConfig, err := os.ReadFile("nfpm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	changedConfig := strings.Replace(string(nfpmConfig), "src: deploy/debian/rgz-backup.env", "src: "+templatePath, 1)
	if changedConfig == string(nfpmConfig) {
		t.Fatal("nfpm.yaml no longer names deploy/debian/rgz-backup.env")
	}
	for path, content := range map[string]string{templatePath: templateText, filepath.Join(dist, "nfpm.yaml"): changedConfig} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("make", "-C", "../..", "package", "ARCHES=amd64", "DIST="+dist, "DEB_VERSION="+newer,
		"VERSION=upgrade-test", "NFPM_CONFIG="+filepath.Join(dist, "nfpm.yaml"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make package (newer): %v\n%s", err, out)
	}
	return filepath.Join(dist, "rgz-backup_"+newer+"_amd64.deb"), templateText
}

// checkArm64 runs the arm64 package's binary under qemu-user: it is an
// aarch64 executable that starts, says its build, and reads a
// configuration (the cross-compiled build works, not only links).
func checkArm64(t *testing.T, deb string) {
	t.Helper()
	qemu, err := exec.LookPath("qemu-aarch64")
	if err != nil {
		t.Fatal("qemu-aarch64 (Debian's qemu-user, installed by scripts/install-deps.sh) is needed: ", err)
	}
	dir := t.TempDir()
	extract := exec.Command("sh", "-c", `dpkg-deb --fsys-tarfile "$0" | tar -x -C "$1" ./usr/bin/rgz-backup`, deb, dir)
	if out, err := extract.CombinedOutput(); err != nil {
		t.Fatalf("extract the arm64 binary: %v\n%s", err, out)
	}
	binary := filepath.Join(dir, "usr/bin/rgz-backup")
	f, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	machine := f.Machine
	f.Close()
	if machine != elf.EM_AARCH64 {
		t.Fatalf("the arm64 package holds a %s binary", machine)
	}
	var info struct {
		GoVersion string `json:"go_version"`
	}
	out, err := exec.Command(qemu, binary, "version", "--json").Output()
	if err != nil || json.Unmarshal(out, &info) != nil || !strings.HasPrefix(info.GoVersion, "go1.") {
		t.Fatalf("the arm64 binary under qemu: %v\n%s", err, out)
	}
	cfg := exec.Command(qemu, binary, "config")
	cfg.Env = []string{"POSTGRES_USER=rgz", "POSTGRES_DB=mosaique", "BACKUP_LOCAL_DIR=" + dir}
	if out, err := cfg.CombinedOutput(); err != nil || !strings.Contains(string(out), "mosaique") {
		t.Fatalf("the arm64 binary's config under qemu: %v\n%s", err, out)
	}
}

// root is a fresh Debian root on disk, booted: systemd is its PID 1.
type root struct {
	dir    string
	leader int // the root's PID 1, as the host sees it
}

// newRoot debootstraps a minimal bookworm from Debian's packages, with
// systemd (a Debian server has it), the host's DNS, and apt told not to
// check the Release files' dates (this machine's mirror may serve an older
// snapshot).
func newRoot(t *testing.T, debootstrap string) *root {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "root")
	if err := os.MkdirAll(debootstrapCache, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(debootstrap, "--variant=minbase", "--include=systemd,systemd-sysv,dbus",
		"--cache-dir="+debootstrapCache, "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg", suite, dir, mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debootstrap %s: %v\n%s", suite, err, tail(out))
	}
	r := &root{dir: dir}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	r.writeFile(t, "/etc/resolv.conf", string(resolv))
	r.writeFile(t, "/etc/apt/apt.conf.d/99rgz-test", "Acquire::Check-Valid-Until \"false\";\nAcquire::Check-Date \"false\";\n")
	return r
}

// boot starts the root's systemd in a container sharing the host's
// network (the PostgreSQL on loopback, the daemon's port), waits until it
// has booted, and powers it off when the test ends.
func (r *root) boot(t *testing.T, nspawn string) {
	t.Helper()
	machine := fmt.Sprintf("rgz-test-%d", os.Getpid())
	// No systemd runs on the host to register with: --register=no
	// --keep-unit.
	cmd := exec.Command(nspawn, "--quiet", "--directory="+r.dir, "--machine="+machine, "--boot",
		"--register=no", "--keep-unit", "--console=passive")
	var console strings.Builder
	cmd.Stdout, cmd.Stderr = &console, &console
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal("systemd-nspawn: ", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // nspawn powers the container off
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for r.leader == 0 {
		select {
		case err := <-exited:
			t.Fatalf("systemd-nspawn ended: %v\n%s", err, console.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container's PID 1 did not appear\n%s", console.String())
		}
		// nspawn's child becomes the root's systemd once it has set the
		// container up.
		children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
		for _, f := range strings.Fields(string(children)) {
			if comm, _ := os.ReadFile("/proc/" + f + "/comm"); strings.TrimSpace(string(comm)) == "systemd" {
				r.leader, _ = strconv.Atoi(f)
			}
		}
	}
	// is-system-running --wait returns once booting is over: "running",
	// or "degraded" when some unit failed (logged: not ours to judge).
	// Until systemd listens, it cannot connect: try again.
	out, _ := r.run("systemctl", "is-system-running", "--wait")
	for strings.Contains(out, "Failed to connect") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		out, _ = r.run("systemctl", "is-system-running", "--wait")
	}
	if out != "running" && out != "degraded" {
		t.Fatalf("the root did not boot: %q\n%s", out, console.String())
	}
	if out == "degraded" {
		failed, _ := r.run("systemctl", "--failed", "--no-pager")
		t.Logf("the root booted degraded:\n%s", failed)
	}
}

// run runs a command inside the booted root (its namespaces, its root
// directory) with a clean environment, and returns its output.
func (r *root) run(args ...string) (string, error) {
	nsenter := []string{"--target", strconv.Itoa(r.leader), "--all", "--root", "--wd", "--",
		"env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "DEBIAN_FRONTEND=noninteractive", "HOME=/root"}
	cmd := exec.Command("nsenter", append(nsenter, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (r *root) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := r.run(args...)
	if err != nil {
		journal := ""
		if args[0] == "systemctl" { // what the unit said is the explanation
			journal, _ = r.run("journalctl", "--no-pager", "-n", "40", "-u", "rgz-backup*")
		}
		t.Fatalf("%s: %v\n%s\n%s", strings.Join(args, " "), err, tail([]byte(out)), journal)
	}
	return out
}

func (r *root) path(p string) string { return filepath.Join(r.dir, p) }

func (r *root) copyIn(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.path(dst), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (r *root) readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(r.path(p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// writeFile replaces a file's content in place, keeping its owner and mode.
func (r *root) writeFile(t *testing.T, p, content string) {
	t.Helper()
	f, err := os.OpenFile(r.path(p), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func (r *root) mustBeGone(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(r.path(p)); !os.IsNotExist(err) {
		t.Fatalf("%s should be gone (%v)", p, err)
	}
}

// backupFiles lists the backup directory (names, sorted).
func (r *root) backupFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(r.path(backupDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

type fileWant struct {
	path         string
	owner, group string
	mode         os.FileMode
	dir          bool
}

// checkFile compares a file's owner, group and mode, named as the root's
// own /etc/passwd and /etc/group name them, with want.
func (r *root) checkFile(t *testing.T, want fileWant) {
	t.Helper()
	fi, err := os.Lstat(r.path(want.path))
	if err != nil {
		t.Fatalf("%s: %v", want.path, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	owner, group := r.name(t, "/etc/passwd", st.Uid), r.name(t, "/etc/group", st.Gid)
	if fi.IsDir() != want.dir || fi.Mode().Perm() != want.mode || owner != want.owner || group != want.group {
		t.Errorf("%s: %s %s:%s (dir %v), want %s %s:%s (dir %v)", want.path, fi.Mode().Perm(), owner, group, fi.IsDir(),
			want.mode, want.owner, want.group, want.dir)
	}
}

func (r *root) name(t *testing.T, db string, id uint32) string {
	t.Helper()
	f, err := os.Open(r.path(db))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Split(s.Text(), ":")
		if len(fields) > 2 && fields[2] == strconv.FormatUint(uint64(id), 10) {
			return fields[0]
		}
	}
	return strconv.FormatUint(uint64(id), 10)
}

// setVar sets NAME=value in an env template, on the line that shows the
// variable (commented out at its default, or empty), as an operator would.
func setVar(t *testing.T, text, name, value string) string {
	t.Helper()
	line := regexp.MustCompile(`(?m)^#?` + name + `=.*$`)
	if !line.MatchString(text) {
		t.Fatalf("the env template has no line for %s", name)
	}
	done := false
	return line.ReplaceAllStringFunc(text, func(string) string {
		if done { // only the first mention
			return ""
		}
		done = true
		return name + "=" + value
	})
}

type catalogRow struct{ status, path, version string }

// lastRow reads the newest catalog row, through the password role.
func lastRow(t *testing.T, c *pgtest.Cluster, role, password string) catalogRow {
	t.Helper()
	ctx := context.Background()
	url := strings.Replace(c.URL("mosaique"), "postgres@", role+":"+password+"@", 1)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var row catalogRow
	err = conn.QueryRow(ctx, `SELECT status, coalesce(file_path, ''), coalesce(rgz_version, '')
		FROM backup_executions ORDER BY backup_date DESC LIMIT 1`).Scan(&row.status, &row.path, &row.version)
	if err != nil {
		t.Fatal("read the catalog: ", err)
	}
	return row
}

// countRows counts the catalog's rows.
func countRows(t *testing.T, c *pgtest.Cluster, role, password string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, strings.Replace(c.URL("mosaique"), "postgres@", role+":"+password+"@", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM backup_executions`).Scan(&n); err != nil {
		t.Fatal("read the catalog: ", err)
	}
	return n
}

// waitFor polls a real process's progress (the daemon inside the root),
// up to two minutes.
func waitFor(t *testing.T, r *root, what string, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !done(); time.Sleep(250 * time.Millisecond) {
		if time.Now().After(deadline) {
			journal, _ := r.run("journalctl", "-u", "rgz-backup.service", "--no-pager", "-n", "60")
			t.Fatalf("%s did not happen within two minutes; the daemon's journal:\n%s", what, journal)
		}
	}
}

// waitReady waits for the daemon's /readyz to answer 200.
func waitReady(t *testing.T, r *root, addr string) {
	t.Helper()
	waitFor(t, r, "the daemon's readiness", func() bool {
		res, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, res.StatusCode, err)
	}
	return string(b)
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// tail keeps the end of a long output: where a failure is explained.
func tail(out []byte) string {
	const keep = 4000
	if len(out) > keep {
		return "…" + string(out[len(out)-keep:])
	}
	return string(out)
}
