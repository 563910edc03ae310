package storage

import (
	"testing"

	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/destination/destinationtest"
)

// S3 on MinIO passes the destination suite: a plain bucket, and a bucket
// with Object Lock, where copies under retention refuse to go.
func TestS3Conforms(t *testing.T) {
	t.Parallel()
	t.Run("plain", func(t *testing.T) {
		t.Parallel()
		destinationtest.Run(t, func(t *testing.T) destination.Store { return newS3(t, false) })
	})
	t.Run("object lock", func(t *testing.T) {
		t.Parallel()
		destinationtest.Run(t, func(t *testing.T) destination.Store {
			s := newS3(t, true)
			s.cfg.ObjectLock = true
			return s
		})
	})
}
