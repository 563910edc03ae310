//go:build imagetest

package container

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// TestCompose brings deploy/compose/compose.yaml up with podman-compose
// (Debian's, pinned by the install script), with the S3 profile's MinIO:
// the daemon becomes healthy beside its database, the one-shot backup
// runs as a `run` command, and the backup lands in MinIO. The test's
// override (testdata/compose.test.yaml) only replaces the images no
// registry here can give.
func TestCompose(t *testing.T) {
	r := newRuntime(t)
	compose, err := exec.LookPath("podman-compose")
	if err != nil {
		t.Fatal("podman-compose (installed by scripts/install-deps.sh) is needed: ", err)
	}
	minioBinary, err := exec.LookPath("minio")
	if err != nil {
		if minioBinary, err = filepath.Abs(filepath.Join(os.Getenv("HOME"), "go", "bin", "minio")); err != nil {
			t.Fatal(err)
		}
	}
	image := r.load(15, "amd64")

	// The project: the shipped compose file and its secrets, as an
	// operator lays them out.
	project := t.TempDir()
	shipped, err := os.ReadFile("../compose/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	override, err := os.ReadFile("testdata/compose.test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{"compose.yaml": shipped, "compose.test.yaml": override} {
		if err := os.WriteFile(filepath.Join(project, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const s3Secret = "minio-secret-key-0123"
	secrets := filepath.Join(project, "secrets")
	if err := os.Mkdir(secrets, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]string{
		"postgres_password": "db-password-Q7",
		"api_tokens":        "ops:admin:" + strings.Repeat("ab", 32),
		"s3_secret_key":     s3Secret,
	} {
		path := filepath.Join(secrets, name)
		if err := os.WriteFile(path, []byte(value+"\n"), 0o400); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, 10001, 10001); err != nil {
			t.Fatal(err)
		}
	}
	apiPort := strings.Split(freeAddr(t), ":")[1]
	s3Port := strings.Split(freeAddr(t), ":")[1]
	env := append(r.env, "RGZ_BACKUP_IMAGE="+image, "MINIO_BINARY="+minioBinary, "RGZ_API_PORT="+apiPort, "RGZ_S3_PORT="+s3Port,
		"BACKUP_S3_ENABLED=true")
	composeCmd := func(args ...string) (string, error) {
		full := append([]string{"--podman-args", strings.Join(r.global, " "), "-p", "rgz", "-f", "compose.yaml", "-f", "compose.test.yaml"}, args...)
		cmd := exec.Command(compose, full...)
		cmd.Dir, cmd.Env = project, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = composeCmd("down", "-t", "90") })
	// podman-compose 1.0.3 knows no --profile: it starts every service,
	// the S3 profile's MinIO with them (docker compose needs --profile s3).
	if out, err := composeCmd("up", "-d"); err != nil {
		t.Fatalf("podman-compose up: %v\n%s", err, out)
	}

	// The bucket, made once (an operator does it with mc or the console).
	client, err := minio.New("127.0.0.1:"+s3Port, &minio.Options{Creds: credentials.NewStaticV4("rgz-backup", s3Secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var bucketErr error
	deadline := time.Now().Add(60 * time.Second)
	for bucketErr = client.MakeBucket(ctx, "rgz-backups", minio.MakeBucketOptions{Region: "us-east-1"}); bucketErr != nil && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		bucketErr = client.MakeBucket(ctx, "rgz-backups", minio.MakeBucketOptions{Region: "us-east-1"})
	}
	if bucketErr != nil {
		ps, _ := composeCmd("ps")
		logs, _ := r.run("logs", "rgz_minio_1")
		t.Fatalf("MinIO in its container: %v\n%s\n%s", bucketErr, ps, logs)
	}

	daemon := "rgz_rgz-backup_1"
	waitFor(t, 120*time.Second, "the daemon's health check", func() bool {
		_, err := r.run("healthcheck", "run", daemon)
		return err == nil
	})

	// The one-shot backup, as a run command of the same service.
	if out, err := composeCmd("run", "--rm", "rgz-backup", "backup"); err != nil {
		logs, _ := r.run("logs", daemon)
		t.Fatalf("podman-compose run rgz-backup backup: %v\n%s\ndaemon:\n%s", err, out, logs)
	}
	var keys []string
	for object := range client.ListObjects(ctx, "rgz-backups", minio.ListObjectsOptions{Recursive: true}) {
		if object.Err != nil {
			t.Fatal(object.Err)
		}
		keys = append(keys, object.Key)
	}
	if !strings.Contains(strings.Join(keys, " "), ".dump") {
		t.Fatalf("no backup in MinIO: %v", keys)
	}
	// The daemon saw it too: its catalog holds the row.
	out, err := r.run("exec", daemon, "rgz-backup", "list")
	if err != nil || !strings.Contains(out, "success") {
		t.Fatalf("rgz-backup list in the daemon's container: %v\n%s", err, out)
	}
	fmt.Println("objects in MinIO:", keys)
}
