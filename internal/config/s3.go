package config

import (
	"net"
	"net/url"
	"strings"

	"github.com/mosaique/rgz-backup/internal/destination"
)

// S3 is the archive copy's settings (BACKUP_S3_*). Its endpoint and
// credentials also serve the s3:// destinations of BACKUP_DESTINATIONS.
type S3 struct {
	Enabled         bool
	Bucket          string
	Region          string
	AccessKeyID     string
	SecretAccessKey string // never printed
	Endpoint        string // empty: AWS; else an S3-compatible store (path-style)
	Prefix          string // without leading or trailing slash
	StorageClass    string // empty: the bucket's default
	RetentionDays   int    // daily copies; compliance copies: CriticalRetentionDays
	ObjectLock      bool   // compliance copies under Object Lock (compliance mode)
}

// Settings are the endpoint's settings, for every s3:// destination.
func (s S3) Settings() destination.S3Settings {
	return destination.S3Settings{Endpoint: s.Endpoint, Region: s.Region, AccessKeyID: s.AccessKeyID,
		SecretAccessKey: s.SecretAccessKey, StorageClass: s.StorageClass, ObjectLock: s.ObjectLock}
}

// Config is the archive bucket's: BACKUP_S3_BUCKET under BACKUP_S3_PREFIX.
func (s S3) Config() destination.S3Config {
	return destination.S3Config{S3Settings: s.Settings(), Bucket: s.Bucket, Prefix: s.Prefix}
}

// StorageClasses are the S3 storage classes accepted.
var StorageClasses = []string{"STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR",
	"GLACIER", "DEEP_ARCHIVE", "REDUCED_REDUNDANCY"}

func (r *reader) s3() S3 {
	s := S3{
		Enabled:         r.boolean("BACKUP_S3_ENABLED"),
		Bucket:          r.str("BACKUP_S3_BUCKET"),
		Region:          r.str("BACKUP_S3_REGION"),
		AccessKeyID:     r.str("BACKUP_S3_ACCESS_KEY_ID"),
		SecretAccessKey: r.str("BACKUP_S3_SECRET_ACCESS_KEY"),
		Endpoint:        r.str("BACKUP_S3_ENDPOINT"),
		Prefix:          strings.Trim(r.str("BACKUP_S3_PREFIX"), "/"),
		StorageClass:    strings.ToUpper(r.str("BACKUP_S3_STORAGE_CLASS")),
		RetentionDays:   r.intRange("BACKUP_S3_RETENTION_DAYS", 1, 36500),
		ObjectLock:      r.boolean("BACKUP_S3_OBJECT_LOCK"),
	}
	if !s.Enabled && !strings.Contains(r.getenv("BACKUP_DESTINATIONS"), "s3://") {
		return s // no S3 anywhere: nothing to check
	}
	if (s.AccessKeyID == "") != (s.SecretAccessKey == "") {
		r.fail("BACKUP_S3_ACCESS_KEY_ID", "", "BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY go together (or leave both unset to use the instance's role)")
	}
	if s.Endpoint != "" {
		u, err := url.Parse(s.Endpoint)
		switch {
		case err == nil && u.User != nil:
			r.fail("BACKUP_S3_ENDPOINT", RedactURL(s.Endpoint, false), "must not hold credentials (key:secret@): set BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY")
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/"):
			r.fail("BACKUP_S3_ENDPOINT", RedactURL(s.Endpoint, false), "must be a URL like https://s3.example.net:9000 (scheme and host only)")
		}
	}
	if raw, set := r.lookup("BACKUP_S3_BUCKET"); set && strings.TrimSpace(raw) == "" {
		r.fail("BACKUP_S3_BUCKET", raw, "is set but empty: name the bucket (or unset it for the default, "+lookup("BACKUP_S3_BUCKET").Default+")")
	} else if why := BucketNameProblem(s.Bucket); why != "" {
		r.fail("BACKUP_S3_BUCKET", s.Bucket, why)
	}
	if s.StorageClass != "" && !contains(StorageClasses, s.StorageClass) {
		r.fail("BACKUP_S3_STORAGE_CLASS", s.StorageClass, "must be one of "+strings.Join(StorageClasses, ", "))
	}
	return s
}

// BucketNameProblem says what is wrong with an S3 bucket name, by the S3
// naming rules (3 to 63 characters: lowercase letters, digits, dots and
// hyphens, starting and ending with a letter or digit, no "..", not an IP
// address); "" when it is valid. Checked at start, so that a bad name is
// not found at the first upload, with every backup then ending partial.
func BucketNameProblem(name string) string {
	const rules = "must be a valid S3 bucket name: 3 to 63 characters, lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
	if len(name) < 3 || len(name) > 63 || strings.Contains(name, "..") || net.ParseIP(name) != nil {
		return rules
	}
	for i, c := range name {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || i == len(name)-1 || (c != '.' && c != '-')) {
			return rules
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
