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
			destinationtest.Run(t, destinationtest.Harness{
				New: func(t *testing.T) destination.Store { return destination.NewTestS3(t, lock) },
				Reopen: func(t *testing.T, st destination.Store) destination.Store {
					return destination.ReopenTestS3(t, st.(*destination.S3))
				},
				Leftover: func(t *testing.T, st destination.Store, name string) {
					destination.LeaveUpload(t, st.(*destination.S3), name)
				},
				Left: func(t *testing.T, st destination.Store, name string) bool {
					return destination.UploadLeft(t, st.(*destination.S3), name)
				},
			})
		})
	}
}
