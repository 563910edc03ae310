//go:build imagetest

// Package container holds the tests of the container image (make image,
// docs/CONTAINER.md) and of deploy/compose/compose.yaml, run by a real
// container runtime: podman, rootful, with Debian's runc, its storage in
// the test's own directory, against PostgreSQL clusters on the host. Run
// by `make image-test` (in .ci/run), as root, after `make image`.
package container

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
	"github.com/mosaique/rgz-backup/internal/testenv/sample"
)

var (
	distDir = flag.String("dist", "", "where make image wrote the archives")
	version = flag.String("version", "devel", "their version")
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

// runtime is podman with its storage, its configuration and its runtime
// state in one test's directory: nothing of the machine's own.
type runtime struct {
	t      *testing.T
	global []string
	env    []string
}

// containersConf: Debian's runc (crun refuses this machine's hybrid
// cgroups), cgroupfs (no systemd to ask), events in a file, and limits
// inside the machine's hard ones.
const containersConf = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
`

func newRuntime(t *testing.T) *runtime {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the image tests run podman rootful: run them as root (make image-test)")
	}
	for _, tool := range []string{"podman", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s (installed by scripts/install-deps.sh) is needed: %v", tool, err)
		}
	}
	if *distDir == "" {
		t.Fatal("-dist is required (make image-test gives it)")
	}
	// Short paths: runc's and conmon's sockets live under the run root.
	dir, err := os.MkdirTemp("", "rgzp")
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(conf, []byte(containersConf), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &runtime{t: t, global: []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--tmpdir", filepath.Join(dir, "tmp")},
		env: append(os.Environ(), "CONTAINERS_CONF="+conf)}
	t.Cleanup(func() {
		_, _ = r.run("rm", "--all", "--force", "--time", "0")
		_, _ = r.run("system", "reset", "--force")
		_ = os.RemoveAll(dir)
	})
	return r
}

// run runs podman and returns its stdout; err carries its stderr.
func (r *runtime) run(args ...string) (string, error) {
	cmd := exec.Command("podman", append(append([]string{}, r.global...), args...)...)
	cmd.Env = r.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), err
}

func (r *runtime) must(args ...string) string {
	r.t.Helper()
	out, err := r.run(args...)
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

// load loads one archive of make image and returns the image's name,
// after checking that its digest is the one written beside it.
func (r *runtime) load(major int, arch string) string {
	r.t.Helper()
	archive := filepath.Join(*distDir, fmt.Sprintf("rgz-backup_%s-pg%d_%s.oci.tar", *version, major, arch))
	out := r.must("load", "-i", archive)
	name := fmt.Sprintf("localhost/rgz-backup:%s-pg%d", *version, major)
	if !strings.Contains(out, name) {
		r.t.Fatalf("podman load %s: %s, want %s", archive, out, name)
	}
	want, err := os.ReadFile(archive + ".digest")
	if err != nil {
		r.t.Fatal(err)
	}
	if got := r.must("image", "inspect", "--format", "{{.Digest}}", name); got != strings.TrimSpace(string(want)) {
		r.t.Fatalf("%s: digest %s, %s.digest says %s", name, got, archive, want)
	}
	return name
}

// volume is a host directory for /backups, owned by the image's user.
func volume(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "backups")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 10001, 10001); err != nil {
		t.Fatal(err)
	}
	return dir
}

// secretFile is a file as compose mounts a secret: readable by the
// container's user, with the newline an editor leaves.
func secretFile(t *testing.T, value string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(value+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 10001, 10001); err != nil {
		t.Fatal(err)
	}
	return path
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func glob(dir, pattern string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	return m
}

// TestImage runs the PostgreSQL 15 image as the platform would: the
// daemon against a PostgreSQL on the host, with its password from a
// secret file, read-only root, /backups the one volume.
func TestImage(t *testing.T) {
	r := newRuntime(t)
	image := r.load(15, "amd64")
	if user := r.must("image", "inspect", "--format", "{{.User}}", image); user != "10001:10001" {
		t.Fatalf("the image runs as %q", user)
	}
	var labels map[string]string
	if err := json.Unmarshal([]byte(r.must("image", "inspect", "--format", "{{json .Labels}}", image)), &labels); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"version", "revision", "source", "created"} {
		if labels["org.opencontainers.image."+key] == "" {
			t.Errorf("no org.opencontainers.image.%s label: %v", key, labels)
		}
	}

	// Debian's fixes since the point release are in: the image's
	// PostgreSQL is not older than this host's Debian package of it.
	if host, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "postgresql-client-15").Output(); err == nil && len(host) > 0 {
		line := r.must("run", "--rm", "--entrypoint", "pg_dump", image, "--version") // pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)
		inImage := strings.TrimSuffix(line[strings.LastIndex(line, "Debian ")+len("Debian "):], ")")
		if exec.Command("dpkg", "--compare-versions", inImage, "lt", string(host)).Run() == nil {
			t.Fatalf("the image's PostgreSQL is %s, older than Debian's %s: the security suite is missing", inImage, host)
		}
	}

	db := sample.Database(t, cluster, 1)
	const password = "container-secret-Z9"
	cluster.PasswordRole(t, "rgz_image", password, db)
	backups := volume(t)
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	env := []string{"POSTGRES_HOST=127.0.0.1", "POSTGRES_PORT=" + strconv.Itoa(cluster.Port), "POSTGRES_USER=rgz_image",
		"POSTGRES_DB=" + db, "POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password", "POSTGRES_BACKUP_ENABLED=false",
		"BACKUP_MIN_SIZE_MB=0", "BACKUP_MIN_FREE_SPACE_GB=0", "BACKUP_SHUTDOWN_GRACE_SECONDS=2", "BACKUP_HTTP_ADDR=127.0.0.1:" + port}
	args := []string{"run", "--detach", "--name", "rgz", "--network", "host", "--init", "--read-only", "--read-only-tmpfs=false",
		"--volume", backups + ":/backups", "--volume", secretFile(t, password) + ":/run/secrets/postgres_password:ro",
		"--health-cmd", `["rgz-backup","healthcheck","--ready"]`}
	for _, e := range env {
		args = append(args, "--env", e)
	}
	r.must(append(args, image)...)
	logs := func() string { out, _ := r.run("logs", "rgz"); return out }
	waitFor(t, 60*time.Second, "the container's health check", func() bool {
		_, err := r.run("healthcheck", "run", "rgz")
		return err == nil
	})

	// Not root, and the root filesystem is read-only.
	pid := r.must("inspect", "--format", "{{.State.Pid}}", "rgz")
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "Uid:") && strings.Fields(line)[1] != "10001" {
			t.Fatalf("the daemon runs as %s", line)
		}
	}
	if out, err := r.run("exec", "rgz", "/bin/sh", "-c", "echo x > /written"); err == nil || !strings.Contains(err.Error(), "Read-only file system") {
		t.Fatalf("writing to the root: %v %s", err, out)
	}

	// A backup enqueued from inside, into the volume; verified on the host.
	r.must("exec", "rgz", "rgz-backup", "backup", "--enqueue")
	waitFor(t, 120*time.Second, "the enqueued backup", func() bool { return len(glob(backups, "*.dump*.sha256")) == 1 })
	check := exec.Command("sha256sum", "-c", filepath.Base(glob(backups, "*.sha256")[0]))
	check.Dir = backups
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c on the host: %v\n%s", err, out)
	}
	// The restore test, run inside.
	if out, err := r.run("exec", "rgz", "rgz-backup", "restore-test"); err != nil {
		t.Fatalf("restore-test in the container: %v\n%s", err, out)
	}

	// SIGTERM mid-backup: a table locked by someone else holds pg_dump;
	// the grace passes, the backup is cancelled, nothing half-written.
	conn := cluster.Conn(t, db)
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	r.must("exec", "rgz", "rgz-backup", "backup", "--enqueue")
	waitFor(t, 60*time.Second, "the second backup to be writing", func() bool { return len(glob(backups, ".tmp-*")) == 1 })
	started := time.Now()
	r.must("stop", "--time", "30", "rgz")
	took := time.Since(started)
	if code := r.must("inspect", "--format", "{{.State.ExitCode}}", "rgz"); code != "0" || took > 25*time.Second {
		t.Fatalf("stopped with exit %s after %s\n%s", code, took, logs())
	}
	if left := glob(backups, ".tmp-*"); len(left) != 0 || len(glob(backups, "*.dump*.sha256")) != 1 {
		t.Fatalf("after SIGTERM mid-backup: temporary files %v, checksums %v", left, glob(backups, "*.sha256"))
	}
	var interrupted int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM backup_executions WHERE error_message LIKE '%interrupted by shutdown%'`).Scan(&interrupted); err != nil || interrupted != 1 {
		t.Fatalf("the interrupted attempt's row: %d, %v", interrupted, err)
	}

	// Logs: JSON lines on stdout.
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("podman", append(append([]string{}, r.global...), "logs", "rgz")...)
	cmd.Env, cmd.Stdout, cmd.Stderr = r.env, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	for _, line := range lines {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) != nil || entry["msg"] == nil {
			t.Fatalf("a log line on stdout that is not JSON: %q", line)
		}
	}
	if len(lines) < 3 || strings.Contains(stdout.String()+stderr.String(), password) {
		t.Fatalf("logs: %d lines on stdout; stderr %q", len(lines), stderr.String())
	}
}

// TestClientOlderThanServer: the PostgreSQL 15 image refuses to dump a
// PostgreSQL 17 server, started from the 17 image (initdb, postgres), with
// one clear message.
func TestClientOlderThanServer(t *testing.T) {
	r := newRuntime(t)
	old, newer := r.load(15, "amd64"), r.load(17, "amd64")
	data := volume(t)
	port := strings.Split(freeAddr(t), ":")[1]
	r.must("run", "--rm", "--volume", data+":/backups", "--entrypoint", "initdb", newer,
		"--pgdata=/backups/pg17", "--username=postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8")
	r.must("run", "--detach", "--name", "pg17", "--network", "host", "--volume", data+":/backups", "--entrypoint", "postgres", newer,
		"-D", "/backups/pg17", "-c", "listen_addresses=127.0.0.1", "-c", "port="+port, "-c", "unix_socket_directories=/backups")
	waitFor(t, 60*time.Second, "PostgreSQL 17 in its container", func() bool {
		_, err := r.run("exec", "pg17", "pg_controldata", "/backups/pg17")
		if err != nil {
			return false
		}
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	backups := volume(t)
	cmd := exec.Command("podman", append(append([]string{}, r.global...), "run", "--rm", "--network", "host", "--read-only",
		"--volume", backups+":/backups", "--env", "POSTGRES_HOST=127.0.0.1", "--env", "POSTGRES_PORT="+port,
		"--env", "POSTGRES_USER=postgres", "--env", "POSTGRES_DB=postgres", "--env", "BACKUP_MIN_SIZE_MB=0",
		"--env", "BACKUP_MIN_FREE_SPACE_GB=0", old, "backup")...)
	cmd.Env = r.env
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "pg_dump 15 cannot dump PostgreSQL 17") || strings.Contains(string(out), "goroutine") {
		t.Fatalf("the 15 image against a 17 server: %v\n%s", err, out)
	}
	if left := glob(backups, "*.dump*"); len(left) != 0 {
		t.Fatalf("a refused backup left %v", left)
	}
}

// TestArm64Starts: the arm64 image's binary and PostgreSQL programs start
// under qemu-user, with the image's own libraries and dynamic linker.
func TestArm64Starts(t *testing.T) {
	qemu, err := exec.LookPath("qemu-aarch64")
	if err != nil {
		t.Fatal("qemu-aarch64 (Debian's qemu-user, installed by scripts/install-deps.sh) is needed: ", err)
	}
	for _, major := range []int{15, 17} {
		root := filepath.Join(t.TempDir(), "root")
		archive := filepath.Join(*distDir, fmt.Sprintf("rgz-backup_%s-pg%d_arm64.oci.tar", *version, major))
		if err := unpackImage(archive, root); err != nil {
			t.Fatal(err)
		}
		for _, argv := range [][]string{
			{"/usr/bin/rgz-backup", "version"},
			{fmt.Sprintf("/usr/lib/postgresql/%d/bin/pg_dump", major), "--version"},
			{fmt.Sprintf("/usr/lib/postgresql/%d/bin/pg_receivewal", major), "--version"},
		} {
			cmd := exec.Command(qemu, append([]string{"-L", root, filepath.Join(root, argv[0])}, argv[1:]...)...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			out, err := cmd.CombinedOutput()
			if err != nil || (strings.Contains(argv[0], "/pg_") && !strings.Contains(string(out), fmt.Sprintf("(PostgreSQL) %d.", major))) {
				t.Fatalf("%s under qemu: %v\n%s", argv[0], err, out)
			}
		}
	}
}

// unpackImage unpacks the one layer of an OCI archive into root.
func unpackImage(archive, root string) error {
	layout := filepath.Join(filepath.Dir(root), "layout")
	if err := os.MkdirAll(layout, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("tar", "-xf", archive, "-C", layout).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", archive, err, out)
	}
	var index struct{ Manifests []struct{ Digest string } }
	var manifest struct{ Layers []struct{ Digest string } }
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil || json.Unmarshal(b, &index) != nil || len(index.Manifests) != 1 {
		return fmt.Errorf("%s: index.json: %v", archive, err)
	}
	blob := func(digest string) string {
		return filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
	}
	b, err = os.ReadFile(blob(index.Manifests[0].Digest))
	if err != nil || json.Unmarshal(b, &manifest) != nil || len(manifest.Layers) != 1 {
		return fmt.Errorf("%s: manifest: %v", archive, err)
	}
	if out, err := exec.Command("tar", "-xzf", blob(manifest.Layers[0].Digest), "-C", root).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: layer: %v: %s", archive, err, out)
	}
	return nil
}
