package destination

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// S3 is a Store: names go under the prefix
// (PREFIX/YYYY/MM/FILE, Name), and BACKUP_S3_OBJECT_LOCK
// makes copies with a RetainUntil immutable (compliance mode) until then.
var _ Store = (*S3)(nil)

func init() {
	register(KindS3, kind{
		form: "s3://BUCKET[/PREFIX]",
		parse: func(u *url.URL, s *Spec) error {
			if u.Host == "" || u.User != nil {
				return fmt.Errorf("s3:// needs a bucket (s3://BUCKET/PREFIX)")
			}
			s.Bucket, s.Prefix = u.Host, strings.Trim(u.Path, "/")
			return nil
		},
		url: func(s Spec) string { return strings.TrimSuffix("s3://"+path.Join(s.Bucket, s.Prefix), "/") },
		open: func(s Spec, set Settings) (Store, error) {
			return NewS3(S3Config{S3Settings: set.S3, Bucket: s.Bucket, Prefix: s.Prefix})
		},
	})
}

// Close has nothing to end: the client's connections are pooled.
func (s *S3) Close() error { return nil }

// String is s3://BUCKET/PREFIX.
func (s *S3) String() string {
	return strings.TrimSuffix("s3://"+path.Join(s.cfg.Bucket, s.cfg.Prefix), "/")
}

// Retains is BACKUP_S3_OBJECT_LOCK (the bucket must have Object Lock).
func (s *S3) Retains() bool { return s.cfg.ObjectLock }

// key is name's key below the prefix, once CheckName allows it.
func (s *S3) key(name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", fmt.Errorf("%s: %w", s, err)
	}
	return path.Join(s.cfg.Prefix, name), nil
}

// Put uploads src after checking it against o.Want, verifies what landed
// (the store's full-object CRC32, or a read-back), and only then puts it
// under retention: a copy that fails any step is deleted, every version.
func (s *S3) Put(ctx context.Context, name string, src Source, o PutOptions) error {
	if err := CheckSource(ctx, src, o.Want); err != nil {
		return fmt.Errorf("copy to %s refused: %w", s, err)
	}
	key, err := s.key(name)
	if err != nil {
		return err
	}
	if err := s.abortStale(ctx, key); err != nil {
		return err // S3 cannot be reached: the upload would retry as long for nothing
	}
	// A PUT that failed left no object (S3 creates it whole or not at
	// all; unfinished multipart uploads are not objects): nothing to
	// clean, and no minute of retries against a store that is down.
	if err := s.putObject(ctx, key, io.NewSectionReader(src, 0, src.Size()), src.Size()); err != nil {
		return err
	}
	_, err = s.verify(ctx, key, o.Want.Size, o.Want.CRC32)
	if err == nil && !o.RetainUntil.IsZero() && s.Retains() {
		mode := minio.Compliance
		until := o.RetainUntil.UTC()
		if rerr := s.client.PutObjectRetention(ctx, s.cfg.Bucket, key, minio.PutObjectRetentionOptions{Mode: &mode, RetainUntilDate: &until}); rerr != nil {
			err = s.explain("lock", key, rerr)
		}
	}
	if err != nil {
		// Whatever landed is not a copy: remove it, even after a cancel.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = s.RemoveKey(cleanup, key)
		return err
	}
	return nil
}

// abortStale aborts the unfinished multipart uploads of key that a killed
// Put left more than staleAfter ago (never a live one). It fails only when
// S3 cannot be reached at all; a listing S3 refuses (a policy without
// s3:ListBucketMultipartUploads) leaves them, and the copy goes on.
func (s *S3) abortStale(ctx context.Context, key string) error {
	core := minio.Core{Client: s.client}
	for u := range s.client.ListIncompleteUploads(ctx, s.cfg.Bucket, key, false) {
		if u.Err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("upload %s: %w", s.URL(key), context.Cause(ctx))
			}
			if _, down := unreachable(u.Err); down {
				return s.explain("upload", key, u.Err)
			}
			return nil
		}
		if u.Key == key && time.Since(u.Initiated) > s.staleAfter {
			_ = core.AbortMultipartUpload(ctx, s.cfg.Bucket, key, u.UploadID)
		}
	}
	return nil
}

// Open reads the object; ErrNotFound when there is none.
func (s *S3) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.cfg.Bucket, key, minio.GetObjectOptions{})
	if err == nil {
		_, err = obj.Stat() // GetObject is lazy: this is where "no such key" shows
		if err != nil {
			obj.Close()
		}
	}
	if err != nil {
		return nil, s.notFound(name, key, "read", err)
	}
	return obj, nil
}

// Stat describes the object; ErrNotFound when there is none.
func (s *S3) Stat(ctx context.Context, name string) (Object, error) {
	key, err := s.key(name)
	if err != nil {
		return Object{}, err
	}
	st, err := s.client.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return Object{}, s.notFound(name, key, "look up", err)
	}
	return Object{Name: name, Size: st.Size}, nil
}

// List returns the objects under the prefix (incomplete multipart uploads
// are not objects).
func (s *S3) List(ctx context.Context) ([]Object, error) {
	prefix := s.cfg.Prefix
	if prefix != "" {
		prefix += "/"
	}
	var out []Object
	for obj := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, s.explain("list", "", obj.Err)
		}
		if name := strings.TrimPrefix(obj.Key, prefix); CheckName(name) == nil {
			out = append(out, Object{Name: name, Size: obj.Size})
		}
	}
	return out, nil
}

// Remove deletes every version of the object (RemoveKey).
func (s *S3) Remove(ctx context.Context, name string) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	return s.RemoveKey(ctx, key)
}

func (s *S3) notFound(name, key, op string, err error) error {
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return fmt.Errorf("%s in %s: %w", name, s, ErrNotFound)
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && resp.StatusCode == 404 {
		return fmt.Errorf("%s in %s: %w", name, s, ErrNotFound)
	}
	return s.explain(op, key, err)
}
