package destination

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/mosaique/rgz-backup/internal/testenv/s3test"
)

var server *s3test.Server

func TestMain(m *testing.M) { os.Exit(s3test.Run(&server, m.Run)) }

func newS3(t *testing.T, objectLock bool) *S3 {
	t.Helper()
	s, err := NewS3(S3Config{Bucket: server.NewBucket(t, objectLock), Prefix: "prod", S3Settings: S3Settings{Region: server.Region,
		AccessKeyID: server.AccessKey, SecretAccessKey: server.SecretKey, Endpoint: server.Endpoint, ObjectLock: objectLock}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeFile(t *testing.T, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "20260205_030000.dump.gz")
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func TestUploadVerifyDownload(t *testing.T) {
	t.Parallel()
	s := newS3(t, false)
	path, data := writeFile(t, 1<<20)
	date := time.Date(2026, 2, 5, 3, 0, 0, 0, time.UTC)
	name := Name("", date, filepath.Base(path))
	if key, err := s.Key("", date, filepath.Base(path)); err != nil || key != "prod/2026/02/20260205_030000.dump.gz" || key != must(s.key(name)) {
		t.Fatalf("key %s, %v", key, err)
	}
	if key, err := s.Key("site-b/radius", date, "x.dump.gz"); err != nil || key != "prod/site-b/radius/2026/02/x.dump.gz" {
		t.Fatalf("key of one of several databases: %s, %v", key, err)
	}
	if key, err := s.Key("site-b/..", date, "x.dump.gz"); err == nil {
		t.Fatalf("a folder that steps up became %s", key)
	}
	landed, err := upload(s, path, name, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// The store computed and checked the CRC32 itself: no read-back.
	if landed.Size != int64(len(data)) || landed.CRC32 != crc32.ChecksumIEEE(data) || landed.VerifiedBy != "checksum" {
		t.Fatalf("landed %+v", landed)
	}

	r, err := s.Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	if err := s.Remove(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(context.Background(), name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after remove: %v", err)
	}
}

// A file bigger than the part size goes up in parts, and the store's
// full-object CRC32 still matches the file's.
func TestMultipartUpload(t *testing.T) {
	t.Parallel()
	s := newS3(t, false)
	s.minPartSize = 5 << 20 // S3's smallest part
	path, data := writeFile(t, 12<<20)
	key := must(s.Key("", time.Now(), "big.dump.gz"))
	landed, err := upload(s, path, Name("", time.Now(), "big.dump.gz"), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.Client().StatObject(context.Background(), s.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(st.ETag, "-3") {
		t.Fatalf("ETag %s: want 3 parts", st.ETag)
	}
	if landed.CRC32 != crc32.ChecksumIEEE(data) || landed.Size != int64(len(data)) || landed.VerifiedBy != "checksum" {
		t.Fatalf("landed %+v", landed)
	}
}

func TestPartSizeNeverHitsThePartLimit(t *testing.T) {
	t.Parallel()
	const MiB, GiB, TiB = 1 << 20, 1 << 30, 1 << 40
	for _, tc := range []struct{ size, want int64 }{
		{0, 16 * MiB}, {1 * GiB, 16 * MiB}, {140 * GiB, 16 * MiB}, {200 * GiB, 32 * MiB}, {5 * TiB, 1 * GiB},
	} {
		got := PartSize(tc.size, MinPartSize)
		if got != tc.want || (tc.size+got-1)/got > 10000 {
			t.Errorf("PartSize(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
}

func TestWrongCredentialsAndMissingBucketAreOneLine(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t, false)
	bad, _ := NewS3(S3Config{Bucket: bucket, S3Settings: S3Settings{Region: server.Region, AccessKeyID: server.AccessKey,
		SecretAccessKey: "not-the-secret-xyz", Endpoint: server.Endpoint}})
	err := bad.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") || strings.Contains(err.Error(), "not-the-secret-xyz") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("wrong secret: %v", err)
	}
	path, _ := writeFile(t, 1000)
	if _, err := upload(bad, path, "x", time.Time{}); err == nil || !strings.Contains(err.Error(), "BACKUP_S3_SECRET_ACCESS_KEY") {
		t.Fatalf("upload with a wrong secret: %v", err)
	}
	missing, _ := NewS3(S3Config{Bucket: "no-such-bucket", S3Settings: S3Settings{Region: server.Region, AccessKeyID: server.AccessKey,
		SecretAccessKey: server.SecretKey, Endpoint: server.Endpoint}})
	if err := missing.Check(context.Background()); err == nil || !strings.Contains(err.Error(), `"no-such-bucket" does not exist`) {
		t.Fatalf("missing bucket: %v", err)
	}
	down, _ := NewS3(S3Config{Bucket: bucket, S3Settings: S3Settings{Region: server.Region, AccessKeyID: server.AccessKey,
		SecretAccessKey: server.SecretKey, Endpoint: "http://127.0.0.1:1"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := down.Check(ctx); err == nil || !strings.Contains(err.Error(), "cannot reach S3 at http://127.0.0.1:1") {
		t.Fatalf("unreachable: %v", err)
	}
}

// A compliance copy under Object Lock cannot be deleted before its
// retention ends, by us or anyone with the same keys.
func TestObjectLockRefusesAnEarlyDelete(t *testing.T) {
	t.Parallel()
	s := newS3(t, true)
	path, _ := writeFile(t, 4096)
	key := must(s.Key("", time.Now(), "20260201_030000.dump.gz"))
	if _, err := upload(s, path, Name("", time.Now(), "20260201_030000.dump.gz"), time.Now().AddDate(0, 0, 2)); err != nil {
		t.Fatal(err)
	}
	err := s.RemoveKey(context.Background(), key)
	if err == nil {
		t.Fatal("a locked object was deleted")
	}
	t.Logf("refused: %v", err)
	if _, err := s.client.StatObject(context.Background(), s.cfg.Bucket, key, minio.StatObjectOptions{}); err != nil {
		t.Fatalf("the locked object is gone: %v", err)
	}
	ret, until, err := server.Client().GetObjectRetention(context.Background(), s.cfg.Bucket, key, "")
	if err != nil || ret == nil || *ret != minio.Compliance || until == nil || until.Before(time.Now().AddDate(0, 0, 1)) {
		t.Fatalf("retention %v until %v: %v", ret, until, err)
	}
}

// upload puts the file at path under name, as the copies do, and says
// how what landed was verified.
func upload(s *S3, path, name string, retainUntil time.Time) (Landed, error) {
	ctx := context.Background()
	data, err := os.ReadFile(path)
	if err != nil {
		return Landed{}, err
	}
	want := Want{Size: int64(len(data)), CRC32: crc32.ChecksumIEEE(data)}
	if err := s.Put(ctx, name, bytes.NewReader(data), PutOptions{Want: want, RetainUntil: retainUntil}); err != nil {
		return Landed{}, err
	}
	return s.verify(ctx, must(s.key(name)), want.Size, want.CRC32)
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

// NewTestS3 is newS3 for the external tests (the conformance suite).
func NewTestS3(t *testing.T, objectLock bool) *S3 { return newS3(t, objectLock) }

// ReopenTestS3 opens s's bucket and prefix again, with a client of its own.
func ReopenTestS3(t *testing.T, s *S3) *S3 {
	t.Helper()
	again, err := NewS3(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return again
}

// LeaveUpload leaves what a Put of name killed midway leaves in S3: an
// unfinished multipart upload, one part in; and makes s take any such
// upload for stale (MinIO cannot date one back).
func LeaveUpload(t *testing.T, s *S3, name string) {
	t.Helper()
	ctx := context.Background()
	key := must(s.key(name))
	core := minio.Core{Client: server.Client()}
	id, err := core.NewMultipartUpload(ctx, s.cfg.Bucket, key, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part := bytes.Repeat([]byte("x"), 5<<20)
	if _, err := core.PutObjectPart(ctx, s.cfg.Bucket, key, id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	s.staleAfter = 0
}

// UploadLeft says whether an unfinished upload of name is there.
func UploadLeft(t *testing.T, s *S3, name string) bool {
	t.Helper()
	key := must(s.key(name))
	for u := range server.Client().ListIncompleteUploads(context.Background(), s.cfg.Bucket, key, false) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		if u.Key == key {
			return true
		}
	}
	return false
}
