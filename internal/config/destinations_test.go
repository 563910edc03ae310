package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDestinationSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, known := filepath.Join(dir, "id"), filepath.Join(dir, "known_hosts")
	os.WriteFile(key, []byte("key"), 0o600)
	os.WriteFile(known, []byte("hosts"), 0o600)
	all := "file:///mnt/nas/rgz, sftp://rgz@site-b:2222/srv/rgz?retention_days=60, azblob://mosaique/backups/prod?compliance=false"
	creds := map[string]string{"BACKUP_SFTP_KEY_FILE": key, "BACKUP_SFTP_KNOWN_HOSTS": known, "BACKUP_AZURE_ACCOUNT_KEY": "c2VjcmV0"}
	merge := func(m ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, x := range m {
			for k, v := range x {
				out[k] = v
			}
		}
		return out
	}
	cases := []struct {
		name   string
		vars   map[string]string
		n      int
		errVar string
		errHas string
	}{
		{"none", nil, 0, "", ""},
		{"three kinds", merge(creds, map[string]string{"BACKUP_DESTINATIONS": all}), 3, "", ""},
		{"a second bucket", map[string]string{"BACKUP_DESTINATIONS": "s3://other-bucket/p"}, 1, "", ""},
		{"the BACKUP_S3_* bucket again", map[string]string{"BACKUP_S3_ENABLED": "true", "BACKUP_S3_BUCKET": "rgz", "BACKUP_S3_PREFIX": "/p/", "BACKUP_DESTINATIONS": "s3://rgz/p"}, 0, "BACKUP_DESTINATIONS", "BACKUP_S3_ENABLED"},
		{"a bucket S3 refuses", map[string]string{"BACKUP_DESTINATIONS": "s3://Bad_Bucket"}, 0, "BACKUP_DESTINATIONS", "valid S3 bucket name"},
		{"a second bucket, S3 credentials checked", map[string]string{"BACKUP_DESTINATIONS": "s3://other-bucket", "BACKUP_S3_ACCESS_KEY_ID": "AK"}, 0, "BACKUP_S3_ACCESS_KEY_ID", "go together"},
		{"a password in the URL", map[string]string{"BACKUP_DESTINATIONS": "sftp://rgz:hunter2@h/srv"}, 0, "BACKUP_DESTINATIONS", "credentials do not go in the URL"},
		{"twice", merge(creds, map[string]string{"BACKUP_DESTINATIONS": "file:///a,file:///a/"}), 0, "BACKUP_DESTINATIONS", "twice"},
		{"sftp without a key", map[string]string{"BACKUP_DESTINATIONS": "sftp://rgz@h/srv", "BACKUP_SFTP_KNOWN_HOSTS": known}, 0, "BACKUP_SFTP_KEY_FILE", "private key"},
		{"sftp without known hosts", map[string]string{"BACKUP_DESTINATIONS": "sftp://rgz@h/srv", "BACKUP_SFTP_KEY_FILE": key}, 0, "BACKUP_SFTP_KNOWN_HOSTS", "no trust on first use"},
		{"azure with a connection string", map[string]string{"BACKUP_DESTINATIONS": "azblob://a/backups", "BACKUP_AZURE_CONNECTION_STRING": "AccountName=a;AccountKey=c2VjcmV0"}, 1, "", ""},
		{"azure with a key and a connection string", map[string]string{"BACKUP_DESTINATIONS": "azblob://a/backups", "BACKUP_AZURE_ACCOUNT_KEY": "c2VjcmV0", "BACKUP_AZURE_CONNECTION_STRING": "AccountName=a;AccountKey=c2VjcmV0"}, 0, "BACKUP_AZURE_CONNECTION_STRING", "set one"},
		{"azure without a key", map[string]string{"BACKUP_DESTINATIONS": "azblob://a/backups"}, 0, "BACKUP_AZURE_ACCOUNT_KEY", "azblob://a/backups"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load(env(with(c.vars)))
			if c.errVar == "" {
				if err != nil || len(cfg.Destinations.List) != c.n {
					t.Fatalf("%v: %+v", err, cfg.Destinations.List)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Var != c.errVar || !strings.Contains(err.Error(), c.errHas) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("%v, want an error about %s saying %q", err, c.errVar, c.errHas)
			}
		})
	}
	cfg, _ := Load(env(with(merge(creds, map[string]string{"BACKUP_DESTINATIONS": all}))))
	if d := cfg.Destinations.List; d[1].RetentionDays != 60 || d[2].Compliance || !d[0].Compliance {
		t.Fatalf("options: %+v", d)
	}
	if strings.Contains(Describe(env(with(creds))), "c2VjcmV0") || strings.Contains(Describe(env(with(map[string]string{"BACKUP_AZURE_CONNECTION_STRING": "AccountKey=c2VjcmV0"}))), "c2VjcmV0") {
		t.Fatal("the Azure key shows in the configuration's description")
	}
}

func TestAllDestinationsPutTheS3BucketFirst(t *testing.T) {
	t.Parallel()
	cfg, err := Load(env(with(map[string]string{"BACKUP_S3_ENABLED": "true", "BACKUP_S3_BUCKET": "rgz", "BACKUP_S3_PREFIX": "prod",
		"BACKUP_S3_RETENTION_DAYS": "400", "BACKUP_DESTINATIONS": "file:///mnt/nas, s3://rgz/other"})))
	if err != nil {
		t.Fatal(err)
	}
	all := cfg.AllDestinations()
	if len(all) != 3 || all[0].URL != "s3://rgz/prod" || !all[0].Archive || all[0].RetentionDays != 400 ||
		all[1].URL != "file:///mnt/nas" || all[2].URL != "s3://rgz/other" || all[2].Archive {
		t.Fatalf("%+v", all)
	}
	cfg.S3.Enabled = false
	if all := cfg.AllDestinations(); len(all) != 2 || all[0].Archive {
		t.Fatalf("without BACKUP_S3_ENABLED: %+v", all)
	}
}
