// Package s3test runs a real MinIO server on loopback for tests: started
// once per test package, with a fresh bucket per test; a test that stops
// and restarts it (an S3 outage) starts its own with Own, so that tests
// beside it keep theirs. The binary comes from scripts/install-deps.sh; a
// missing one fails the tests, it never skips them.
package s3test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/mosaique/rgz-backup/internal/testenv/testtool"
)

// Server is one MinIO server.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Region    string
	dir       string
	addr      string
	proc      testtool.Process
}

// Start runs a server keeping its data in dir.
func Start(dir string) (*Server, error) {
	addr, _, err := testtool.FreeAddr()
	if err != nil {
		return nil, err
	}
	s := &Server{Endpoint: "http://" + addr, AccessKey: "rgz-test-access", SecretKey: "rgz-test-secret-0123456789",
		Region: "us-east-1", dir: dir, addr: addr}
	return s, s.Restart()
}

// Restart starts the server again (after Stop) on the same address.
func (s *Server) Restart() error {
	bin, err := testtool.Find("minio")
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "server", s.dir, "--address", s.addr, "--console-address", "127.0.0.1:0", "--quiet")
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_REGION="+s.Region, "MINIO_BROWSER=off", "MINIO_UPDATE=off")
	return s.proc.Start(cmd, s.Endpoint+"/minio/health/ready", 30*time.Second)
}

// Own starts a server for one test alone (one it may stop and restart),
// removed when the test ends.
func Own(t testing.TB) *Server {
	t.Helper()
	s, err := Start(t.TempDir())
	if err != nil {
		t.Fatalf("start MinIO: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Stop stops the server; its data stays for Restart.
func (s *Server) Stop() { s.proc.Stop() }

// Client is an SDK client with the root credentials, for tests to look
// at what landed.
func (s *Server) Client() *minio.Client {
	c, err := minio.New(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: s.Region})
	if err != nil {
		panic(err) // only a malformed endpoint, which Start never makes
	}
	return c
}

var bucketSeq atomic.Int64

// NewBucket creates a bucket for one test (with Object Lock, and so
// versioning, when objectLock) and returns its name.
func (s *Server) NewBucket(t testing.TB, objectLock bool) string {
	t.Helper()
	name := fmt.Sprintf("rgz-test-%d-%d", os.Getpid(), bucketSeq.Add(1))
	err := s.Client().MakeBucket(context.Background(), name, minio.MakeBucketOptions{Region: s.Region, ObjectLocking: objectLock})
	if err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// Run starts one server for a test package, calls run (m.Run, or another
// helper's Main around it) and removes the server. A server that cannot
// start fails the package.
func Run(dst **Server, run func() int) int {
	dir, err := os.MkdirTemp("", "rgz-s3test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3test:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	s, err := Start(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3test: cannot start MinIO:", err)
		return 1
	}
	*dst = s
	defer s.Stop()
	return run()
}
