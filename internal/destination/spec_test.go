package destination

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		raw  string
		want Spec
		err  string
	}{
		{raw: "file:///mnt/nas/rgz/", want: Spec{Kind: "file", URL: "file:///mnt/nas/rgz", Path: "/mnt/nas/rgz", Compliance: true}},
		{raw: "sftp://rgz@backup.example/srv/rgz", want: Spec{Kind: "sftp", URL: "sftp://rgz@backup.example:22/srv/rgz", User: "rgz", Addr: "backup.example:22", Path: "/srv/rgz", Compliance: true}},
		{raw: "sftp://rgz@10.0.0.9:2222/srv/rgz?retention_days=90", want: Spec{Kind: "sftp", URL: "sftp://rgz@10.0.0.9:2222/srv/rgz", User: "rgz", Addr: "10.0.0.9:2222", Path: "/srv/rgz", RetentionDays: 90, Compliance: true}},
		{raw: "azblob://mosaique/backups/prod?compliance=false", want: Spec{Kind: "azblob", URL: "azblob://mosaique/backups/prod", Account: "mosaique", Container: "backups", Prefix: "prod"}},
		{raw: "azblob://mosaique/backups", want: Spec{Kind: "azblob", URL: "azblob://mosaique/backups", Account: "mosaique", Container: "backups", Compliance: true}},
		{raw: "s3://rgz-backups/prod", want: Spec{Kind: "s3", URL: "s3://rgz-backups/prod", Bucket: "rgz-backups", Prefix: "prod", Compliance: true}},
		{raw: "sftp://rgz:hunter2@backup.example/srv", err: "credentials do not go in the URL"},
		{raw: "file://relative/dir", err: "absolute directory"},
		{raw: "file:///", err: "absolute directory"},
		{raw: "sftp://backup.example/srv", err: "needs a user"},
		{raw: "azblob://mosaique", err: "needs an account and a container"},
		{raw: "azblob://mosaique/dr", err: "3 to 63 lowercase"},
		{raw: "azblob://mosaique/Backups", err: "3 to 63 lowercase"},
		{raw: "ftp://old.example/x", err: "unknown kind"},
		{raw: "s3://b/p?retention_days=0", err: "retention_days"},
		{raw: "s3://b/p?compliance=maybe", err: "compliance"},
		{raw: "s3://b/p?lifecycle=7", err: "unknown option"},
	}
	for _, c := range cases {
		got, err := ParseURL(c.raw)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want an error saying %q", c.raw, err, c.err)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("%s: the error repeats the password", c.raw)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s:\n got %+v, %v\nwant %+v", c.raw, got, err, c.want)
		}
	}
}
