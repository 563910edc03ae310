package destination

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Spec is one destination as a URL names it (BACKUP_DESTINATIONS, issue
// 15), before credentials, which never sit in the URL:
//
//	file:///PATH                          a directory (a second disk, a NAS mount)
//	sftp://USER@HOST[:PORT]/PATH          an SSH server (key file, known_hosts)
//	azblob://ACCOUNT/CONTAINER[/PREFIX]   an Azure Blob container
//	s3://BUCKET[/PREFIX]                  an S3 bucket (the BACKUP_S3_* credentials)
//
// Query parameters: retention_days=N (how long daily copies stay there;
// compliance copies keep theirs) and compliance=false (compliance copies
// do not go there).
type Spec struct {
	Kind          Kind
	URL           string // canonical, with no secret
	Path          string // file: the directory; sftp: the directory on the server
	User, Addr    string // sftp: the login and HOST:PORT
	Account       string // azblob
	Container     string // azblob
	Bucket        string // s3
	Prefix        string // azblob, s3
	RetentionDays int    // 0: the default
	Compliance    bool   // compliance copies go there
	// Archive marks the bucket of BACKUP_S3_*: its copy is the one the
	// catalog's archive_s3_path names, kept BACKUP_S3_RETENTION_DAYS.
	Archive bool
}

// ParseURL reads one destination URL; its error names the problem.
func ParseURL(raw string) (Spec, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return Spec{}, fmt.Errorf("not a URL: %v", err)
	}
	k, ok := kinds[Kind(u.Scheme)]
	if !ok {
		return Spec{}, fmt.Errorf("%q: unknown kind of destination (%s)", u.Scheme, knownForms())
	}
	s := Spec{Kind: Kind(u.Scheme), Compliance: true}
	if _, hasPassword := u.User.Password(); hasPassword {
		return Spec{}, fmt.Errorf("%s://: credentials do not go in the URL (key files and keys have variables of their own)", u.Scheme)
	}
	if err := s.options(u.Query()); err != nil {
		return Spec{}, err
	}
	if err := k.parse(u, &s); err != nil {
		return Spec{}, err
	}
	s.URL = k.url(s)
	return s, nil
}

func (s *Spec) options(q url.Values) error {
	for key, values := range q {
		v := values[len(values)-1]
		switch key {
		case "retention_days":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 36500 {
				return fmt.Errorf("retention_days=%q: must be a number of days from 1 to 36500", v)
			}
			s.RetentionDays = n
		case "compliance":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("compliance=%q: must be true or false", v)
			}
			s.Compliance = b
		default:
			return fmt.Errorf("%q: unknown option (retention_days, compliance)", key)
		}
	}
	return nil
}

// containerName says whether Azure accepts c as a container name.
func containerName(c string) bool {
	if len(c) < 3 || len(c) > 63 || strings.Contains(c, "--") || strings.HasPrefix(c, "-") || strings.HasSuffix(c, "-") {
		return false
	}
	for _, r := range c {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}
