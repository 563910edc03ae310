package config

import (
	"net/url"
	"strings"
)

// S3 is the archive copy's settings (BACKUP_S3_*).
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
	if !s.Enabled {
		return s
	}
	if (s.AccessKeyID == "") != (s.SecretAccessKey == "") {
		r.fail("BACKUP_S3_ACCESS_KEY_ID", "", "BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY go together (or leave both unset to use the instance's role)")
	}
	if s.Endpoint != "" {
		u, err := url.Parse(s.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			r.fail("BACKUP_S3_ENDPOINT", s.Endpoint, "must be a URL like https://s3.example.net:9000 (scheme and host only)")
		}
	}
	if s.StorageClass != "" && !contains(StorageClasses, s.StorageClass) {
		r.fail("BACKUP_S3_STORAGE_CLASS", s.StorageClass, "must be one of "+strings.Join(StorageClasses, ", "))
	}
	return s
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
