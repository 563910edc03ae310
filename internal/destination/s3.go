// Package storage keeps the archive copy of the backups in S3 (or an
// S3-compatible store such as MinIO): upload with the store validating a
// CRC32 of what it received, verification of what landed, download,
// deletion of every version, and errors an operator can read in one line.
package destination

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Settings are an S3 endpoint's settings (BACKUP_S3_*): the archive
// bucket's, and every s3:// destination's, each with a bucket and prefix
// of its own.
type S3Settings struct {
	Endpoint        string // empty: AWS; else an S3-compatible store (path-style)
	Region          string
	AccessKeyID     string
	SecretAccessKey string // never printed
	StorageClass    string // empty: the bucket's default
	ObjectLock      bool   // copies with a RetainUntil locked (compliance mode)
}

// S3Config is one bucket (and key prefix) of an endpoint.
type S3Config struct {
	S3Settings
	Bucket string
	Prefix string // without leading or trailing slash
}

// S3 is one bucket (and key prefix) of an S3 store.
type S3 struct {
	client      *minio.Client
	cfg         S3Config
	minPartSize int64
	staleAfter  time.Duration // StaleAfter; the suite's leftovers cannot be made older
}

// NewS3 prepares a client; it does not connect yet (see Check).
func NewS3(cfg S3Config) (*S3, error) {
	endpoint, secure, pathStyle := "s3.amazonaws.com", true, false
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("BACKUP_S3_ENDPOINT=%q: must be a URL", cfg.Endpoint)
		}
		endpoint, secure, pathStyle = u.Host, u.Scheme == "https", true
	}
	creds := credentials.NewIAM("")
	if cfg.AccessKeyID != "" {
		creds = credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, "")
	}
	lookup := minio.BucketLookupAuto
	if pathStyle {
		lookup = minio.BucketLookupPath
	}
	// TrailingHeaders: each part carries its CRC32 for the store to check.
	client, err := minio.New(endpoint, &minio.Options{Creds: creds, Secure: secure, Region: cfg.Region, BucketLookup: lookup, TrailingHeaders: true})
	if err != nil {
		return nil, fmt.Errorf("S3 client: %w", err)
	}
	return &S3{client: client, cfg: cfg, minPartSize: MinPartSize, staleAfter: StaleAfter}, nil
}

// Key is where a backup's file goes: PREFIX/YYYY/MM/NAME, YYYY/MM from
// the backup's own date (UTC), below folder (TARGET/DATABASE) with
// several databases (Name).
func (s *S3) Key(folder string, backupDate time.Time, name string) (string, error) {
	return s.key(Name(folder, backupDate, name))
}

// URL names an object as s3://BUCKET/KEY (what archive_s3_path holds).
func (s *S3) URL(key string) string { return "s3://" + s.cfg.Bucket + "/" + key }

// KeyOf is the key of an s3://BUCKET/KEY URL of this bucket.
func (s *S3) KeyOf(s3URL string) (string, bool) {
	return strings.CutPrefix(s3URL, "s3://"+s.cfg.Bucket+"/")
}

// Check says whether the bucket can be reached with these credentials.
func (s *S3) Check(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return s.explain("reach bucket", "", err)
	}
	if !ok {
		return fmt.Errorf("S3 bucket %q does not exist (BACKUP_S3_BUCKET)", s.cfg.Bucket)
	}
	return nil
}

// Landed is what an upload left in the store, as verified.
type Landed struct {
	Key        string
	Size       int64
	CRC32      uint32
	VerifiedBy string // "checksum" (the store's full-object CRC32) or "read-back"
}

// putObject streams size bytes of r to key, in parts read from the file
// as they go (no buffer grows with the file), each part checksummed for
// the store to check.
func (s *S3) putObject(ctx context.Context, key string, r io.Reader, size int64) error {
	opts := minio.PutObjectOptions{
		ContentType:  "application/octet-stream",
		PartSize:     uint64(PartSize(size, s.minPartSize)),
		AutoChecksum: minio.ChecksumFullObjectCRC32,
		// The CRC32 in the trailer protects the payload instead of a
		// SHA-256 of it, also over plain HTTP (a MinIO on the LAN).
		DisableContentSha256: true,
		StorageClass:         s.cfg.StorageClass,
	}
	if size < int64(opts.PartSize) {
		opts.Checksum = minio.ChecksumCRC32 // one PUT: the SDK sends this one
	}
	if _, err := s.client.PutObject(ctx, s.cfg.Bucket, key, r, size, opts); err != nil {
		return s.explain("upload", key, err)
	}
	return nil
}

// verify compares what the store holds under key with the expected size
// and CRC32: from the store's full-object checksum when it has one, else
// by reading the object back.
func (s *S3) verify(ctx context.Context, key string, size int64, want uint32) (Landed, error) {
	st, err := s.client.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		return Landed{}, s.explain("verify", key, err)
	}
	landed := Landed{Key: key, Size: st.Size}
	if st.Size != size {
		return landed, fmt.Errorf("S3 object %s holds %d bytes, the file has %d", s.URL(key), st.Size, size)
	}
	// A single-part object's CRC32 covers it whole; a multipart one's only
	// when the store says FULL_OBJECT (else it is a CRC of the parts' CRCs).
	singlePart := !strings.Contains(st.ETag, "-")
	if got, ok := decodeCRC32(st.ChecksumCRC32); ok && (singlePart || strings.EqualFold(st.ChecksumMode, "FULL_OBJECT")) {
		landed.CRC32, landed.VerifiedBy = got, "checksum"
	} else {
		obj, err := s.client.GetObject(ctx, s.cfg.Bucket, key, minio.GetObjectOptions{})
		if err != nil {
			return landed, s.explain("read back", key, err)
		}
		defer obj.Close()
		got, err := fileCRC32(ctx, obj)
		if err != nil {
			return landed, s.explain("read back", key, err)
		}
		landed.CRC32, landed.VerifiedBy = got, "read-back"
	}
	if landed.CRC32 != want {
		return landed, fmt.Errorf("S3 object %s has CRC32 %08x, the file %08x", s.URL(key), landed.CRC32, want)
	}
	return landed, nil
}

// RemoveKey deletes key, every version of it in a versioned bucket: what
// retention means by "gone". A version under Object Lock refuses, and so
// does RemoveKey.
func (s *S3) RemoveKey(ctx context.Context, key string) error {
	if err := CheckName(key); err != nil { // whatever the prefix was
		return fmt.Errorf("%s: %w", s, err)
	}
	var versions []string
	for obj := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: key, WithVersions: true}) {
		if obj.Err != nil {
			return s.explain("list versions of", key, obj.Err)
		}
		if obj.Key == key {
			versions = append(versions, obj.VersionID)
		}
	}
	for _, v := range versions {
		if err := s.client.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{VersionID: v}); err != nil {
			return s.explain("delete", key, err)
		}
	}
	return nil
}

// explain turns an SDK error into one line that names the problem and
// what to check, never the credentials.
func (s *S3) explain(op, key string, err error) error {
	what := "S3 bucket " + s.cfg.Bucket
	if key != "" {
		what = s.URL(key)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: %w", op, what, err)
	}
	if why, ok := unreachable(err); ok {
		return fmt.Errorf("%s %s: cannot reach S3 at %s: %v", op, what, s.endpoint(), why)
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
		return fmt.Errorf("%s %s: S3 refused the credentials (%s): check BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY", op, what, resp.Code)
	case minio.NoSuchBucket:
		return fmt.Errorf("%s %s: S3 bucket %q does not exist (BACKUP_S3_BUCKET)", op, what, s.cfg.Bucket)
	case minio.NoSuchKey:
		return fmt.Errorf("%s %s: no such object", op, what)
	case "":
		return fmt.Errorf("%s %s: %v", op, what, err)
	}
	return fmt.Errorf("%s %s: S3 said %s: %s", op, what, resp.Code, firstLine(resp.Message))
}

// unreachable says whether err is S3 not answering at all (no
// connection, no HTTP response), rather than S3 answering no; why is the
// network's own error.
func unreachable(err error) (why error, ok bool) {
	var netErr *net.OpError
	if errors.As(err, &netErr) {
		return netErr.Err, true
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) && minio.ToErrorResponse(err).Code == "" {
		return urlErr.Err, true
	}
	return nil, false
}

func (s *S3) endpoint() string {
	if s.cfg.Endpoint != "" {
		return s.cfg.Endpoint
	}
	return "AWS (" + s.cfg.Region + ")"
}

// MinPartSize is the smallest part of a multipart upload we use.
const MinPartSize = 16 << 20

// maxParts stays under S3's limit of 10,000 parts, with room to spare.
const maxParts = 9000

// PartSize is the part size for a file of size bytes: min, doubled until
// the file fits in maxParts parts, so that S3's 10,000-part limit never
// caps a backup (a fixed 5 MiB part stops at about 50 GiB).
func PartSize(size, minimum int64) int64 {
	p := minimum
	for (size+p-1)/p > maxParts {
		p *= 2
	}
	return p
}

func fileCRC32(ctx context.Context, r io.Reader) (uint32, error) { return CRC32(ctx, r) }

// decodeCRC32 reads S3's base64 big-endian CRC32 header value.
func decodeCRC32(b64 string) (uint32, bool) {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b), true
}
