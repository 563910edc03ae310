package destination_test

import (
	"testing"

	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/destination/destinationtest"
)

// S3 on MinIO passes the destination suite: a plain bucket, and a bucket
// with Object Lock, where copies under retention refuse to go.
func TestS3Conforms(t *testing.T) {
	t.Parallel()
	for _, lock := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "object lock"}[lock], func(t *testing.T) {
			t.Parallel()
			destinationtest.Run(t, func(t *testing.T) destination.Store { return destination.NewTestS3(t, lock) })
		})
	}
}
