package main

import (
	"context"
	"encoding/json"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/testenv/s3test"
)

// s3Env is sampleEnv archiving to a fresh bucket of the package's MinIO.
func s3Env(t *testing.T) map[string]string { return s3EnvOn(t, s3srv) }

// s3EnvOn is sampleEnv archiving to a fresh bucket of s3srv.
func s3EnvOn(t *testing.T, s3srv *s3test.Server) map[string]string {
	env := sampleEnv(t)
	env["BACKUP_S3_ENABLED"] = "true"
	env["BACKUP_S3_BUCKET"] = s3srv.NewBucket(t, false)
	env["BACKUP_S3_ENDPOINT"] = s3srv.Endpoint
	env["BACKUP_S3_REGION"] = s3srv.Region
	env["BACKUP_S3_ACCESS_KEY_ID"] = s3srv.AccessKey
	env["BACKUP_S3_SECRET_ACCESS_KEY"] = s3srv.SecretKey
	env["BACKUP_S3_PREFIX"] = "prod"
	return env
}

func backupRow(t *testing.T, env map[string]string) (catalog.Execution, result) {
	t.Helper()
	r := rgz(t, env, "backup", "--json")
	var row catalog.Execution
	if err := json.Unmarshal([]byte(r.stdout), &row); err != nil {
		t.Fatalf("backup: %v %+v", err, r)
	}
	return row, r
}

// A good backup lands in s3://BUCKET/PREFIX/YYYY/MM/ with its sidecars,
// byte for byte; with MinIO down it stays local as partial, and archive
// heals it once MinIO is back.
func TestS3ArchiveAndHealing(t *testing.T) {
	t.Parallel()
	s3srv := s3test.Own(t) // stopped and restarted below
	env := s3EnvOn(t, s3srv)
	row, r := backupRow(t, env)
	want := "s3://" + env["BACKUP_S3_BUCKET"] + "/prod/" + row.BackupDate.Format("2006/01") + "/" + row.Filename
	if r.code != 0 || row.Status != catalog.StatusSuccess || row.ArchiveS3Path == nil || *row.ArchiveS3Path != want || row.S3RetentionUntil == nil {
		t.Fatalf("backup with S3: %+v\n%+v", row, r)
	}
	local, _ := os.ReadFile(*row.FilePath)
	key := strings.TrimPrefix(want, "s3://"+env["BACKUP_S3_BUCKET"]+"/")
	obj, err := s3srv.Client().GetObject(context.Background(), env["BACKUP_S3_BUCKET"], key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	remote, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || crc32.ChecksumIEEE(remote) != crc32.ChecksumIEEE(local) || len(remote) != len(local) {
		t.Fatalf("object differs from the file: %v", err)
	}
	for _, sidecar := range []string{".sha256", ".manifest.json"} {
		if _, err := s3srv.Client().StatObject(context.Background(), env["BACKUP_S3_BUCKET"], key+sidecar, minio.StatObjectOptions{}); err != nil {
			t.Errorf("%s not uploaded: %v", sidecar, err)
		}
	}

	s3srv.Stop()
	down, r := backupRow(t, env)
	restarted := false
	defer func() {
		if !restarted {
			s3srv.Restart()
		}
	}()
	if r.code != 0 || down.Status != catalog.StatusPartial || down.ErrorMessage == nil || !strings.Contains(*down.ErrorMessage, "cannot reach S3") {
		t.Fatalf("backup with MinIO down: exit %d, %s %v\n%s", r.code, down.Status, deref(down.ErrorMessage), r.stderr)
	}
	if _, err := os.Stat(*down.FilePath); err != nil {
		t.Fatal("the local file of a partial backup is gone")
	}
	if a := rgz(t, env, "archive"); a.code != 1 || !strings.Contains(a.stdout, "PARTIAL  "+down.Filename) {
		t.Fatalf("archive while MinIO is down: %+v", a)
	}
	if err := s3srv.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	a := rgz(t, env, "archive")
	if a.code != 0 || !strings.Contains(a.stdout, "OK       "+down.Filename) {
		t.Fatalf("archive after MinIO is back: %+v", a)
	}
	show := rgz(t, env, "show", down.Filename, "--json")
	var healed catalog.Execution
	if json.Unmarshal([]byte(show.stdout), &healed) != nil || healed.Status != catalog.StatusSuccess || healed.ArchiveS3Path == nil || healed.ErrorMessage != nil {
		t.Fatalf("after archive: %+v", show)
	}
	if a := rgz(t, env, "archive"); a.code != 0 || !strings.Contains(a.stdout, "No partial backups") {
		t.Fatalf("nothing left: %+v", a)
	}

	// The local file lost: verify checks the S3 copy, and leaves no file.
	os.Remove(*row.FilePath)
	if v := rgz(t, env, "verify", row.Filename); v.code != 0 || !strings.HasPrefix(v.stdout, "OK   "+row.Filename) {
		t.Fatalf("verify from S3: %+v", v)
	}
	if _, err := os.Stat(*row.FilePath); !os.IsNotExist(err) {
		t.Fatal("verify left the fetched file under the backup's name")
	}
	// The restore test of a backup only S3 has fetches it too.
	if rt := rgz(t, env, "restore-test", row.Filename); rt.code != 0 || !strings.Contains(rt.stdout, "SUCCESS") {
		t.Fatalf("restore-test from S3: %+v", rt)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(env["BACKUP_LOCAL_DIR"], ".tmp-*")); len(leftovers) > 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
}

func TestS3WrongCredentialsGiveOneClearLine(t *testing.T) {
	t.Parallel()
	env := s3Env(t)
	env["BACKUP_S3_SECRET_ACCESS_KEY"] = "wrong-secret-0000"
	row, r := backupRow(t, env)
	if r.code != 0 || row.Status != catalog.StatusPartial || !strings.Contains(*row.ErrorMessage, "refused the credentials") ||
		strings.Contains(r.stdout+r.stderr, "wrong-secret-0000") {
		t.Fatalf("wrong key: %s %v\n%s", row.Status, deref(row.ErrorMessage), r.stderr)
	}
	env["BACKUP_S3_BUCKET"] = "no-such-bucket"
	env["BACKUP_S3_SECRET_ACCESS_KEY"] = s3srv.SecretKey
	if a := rgz(t, env, "archive"); a.code != 1 || !strings.Contains(a.stdout, `"no-such-bucket" does not exist`) || strings.Contains(a.stderr, "goroutine") || strings.Contains(a.stderr, "<Error>") {
		t.Fatalf("missing bucket: %+v", a)
	}
}

// With BACKUP_S3_OBJECT_LOCK, the month's compliance copy is locked in
// compliance mode until its 7 years are over; daily copies are not.
func TestS3ObjectLockOnComplianceCopies(t *testing.T) {
	t.Parallel()
	env := s3Env(t)
	env["BACKUP_S3_BUCKET"] = s3srv.NewBucket(t, true)
	env["BACKUP_S3_OBJECT_LOCK"] = "true"
	first, r1 := backupRow(t, env)
	second, r2 := backupRow(t, env)
	if first.Status != catalog.StatusSuccess || second.Status != catalog.StatusSuccess || first.RetentionClass != catalog.ClassCompliance || second.RetentionClass != catalog.ClassDaily {
		t.Fatalf("backups: %s %s %s %s\n%s\n%s", first.Status, first.RetentionClass, second.Status, second.RetentionClass, r1.stderr, r2.stderr)
	}
	bucket := env["BACKUP_S3_BUCKET"]
	key := func(row catalog.Execution) string { return strings.TrimPrefix(*row.ArchiveS3Path, "s3://"+bucket+"/") }
	mode, until, err := s3srv.Client().GetObjectRetention(context.Background(), bucket, key(first), "")
	if err != nil || mode == nil || *mode != minio.Compliance || until == nil || until.Before(first.BackupDate.AddDate(6, 11, 0)) {
		t.Fatalf("compliance copy: mode %v until %v: %v", mode, until, err)
	}
	if err := s3srv.Client().RemoveObject(context.Background(), bucket, key(first), minio.RemoveObjectOptions{VersionID: versionOf(t, bucket, key(first))}); err == nil {
		t.Fatal("the compliance copy was deleted before its time")
	}
	if mode, _, err := s3srv.Client().GetObjectRetention(context.Background(), bucket, key(second), ""); err == nil && mode != nil && *mode != "" {
		t.Fatalf("a daily copy is locked: %v", *mode)
	}
}

func versionOf(t *testing.T, bucket, key string) string {
	st, err := s3srv.Client().StatObject(context.Background(), bucket, key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return st.VersionID
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
