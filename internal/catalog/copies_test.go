package catalog

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

// A failed attempt does not erase a verified copy's record; a verified
// copy after a failure clears the error.
func TestCopies(t *testing.T) {
	t.Parallel()
	s, _ := migratedStore(t)
	ctx := context.Background()
	id := uuid.NewString()
	now := time.Now().UTC().Truncate(time.Microsecond)
	size := int64(42)
	boom, crc := "connection refused", "0a1b2c3d"
	steps := []Copy{
		{BackupID: id, Destination: "sftp://rgz@b:22/srv", Location: "2026/02/x.dump.gz", LastError: &boom},
		{BackupID: id, Destination: "sftp://rgz@b:22/srv", Location: "2026/02/x.dump.gz", SizeBytes: &size, ChecksumCRC32: &crc, VerifiedAt: &now},
		{BackupID: id, Destination: "sftp://rgz@b:22/srv", Location: "2026/02/x.dump.gz", LastError: &boom},
		{BackupID: id, Destination: "file:///nas", Location: "2026/02/x.dump.gz", SizeBytes: &size, VerifiedAt: &now},
	}
	for _, c := range steps {
		if err := s.RecordCopy(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Copies(ctx, id)
	if err != nil || len(got) != 2 {
		t.Fatalf("%v %+v", err, got)
	}
	nas, sftp := got[0], got[1]
	if !nas.Verified() || nas.LastError != nil || *nas.SizeBytes != 42 {
		t.Fatalf("file copy: %+v", nas)
	}
	if !sftp.Verified() || sftp.LastError == nil || *sftp.LastError != boom || !sftp.VerifiedAt.Equal(now) || sftp.ChecksumCRC32 == nil || *sftp.ChecksumCRC32 != crc {
		t.Fatalf("sftp copy after a later failure: %+v", sftp)
	}
}
