package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/testenv/azuritetest"
	"github.com/mosaique/rgz-backup/internal/testenv/sshtest"
)

// One backup goes to a second directory, an SFTP server and an Azure
// container, each copy verified and recorded; with the SFTP server down
// the next backup is partial naming it, the others still get their copy,
// and archive heals it once the server is back.
func TestBackupToThreeDestinations(t *testing.T) {
	t.Parallel()
	ssh := sshtest.Start(t)
	az := azuritetest.Start(t)
	azure, err := destination.NewAzure(destination.AzureConfig{Account: azuritetest.Account, Container: "rgz", Prefix: "prod", AzureSettings: destination.AzureSettings{AccountKey: azuritetest.Key, Endpoint: az.Endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	if err := azure.CreateContainer(context.Background()); err != nil {
		t.Fatal(err)
	}
	nas := filepath.Join(t.TempDir(), "nas")
	env := sampleEnv(t)
	sftpURL := "sftp://" + ssh.User + "@" + ssh.Addr + filepath.Join(ssh.Root, "site-b")
	env["BACKUP_DESTINATIONS"] = "file://" + nas + "," + sftpURL + ",azblob://" + azuritetest.Account + "/rgz/prod"
	env["BACKUP_SFTP_KEY_FILE"], env["BACKUP_SFTP_KNOWN_HOSTS"] = ssh.KeyFile, ssh.KnownHosts
	env["BACKUP_AZURE_ACCOUNT_KEY"], env["BACKUP_AZURE_ENDPOINT"] = azuritetest.Key, az.Endpoint
	store := openStore(t, env)

	row, r := backupRow(t, env)
	if r.code != 0 || row.Status != catalog.StatusSuccess {
		t.Fatalf("backup: %+v\n%+v", row, r)
	}
	copies, err := store.Copies(context.Background(), row.ID)
	if err != nil || len(copies) != 3 {
		t.Fatalf("copies: %v %+v", err, copies)
	}
	local, _ := os.ReadFile(*row.FilePath)
	name := destination.Name("", row.BackupDate, row.Filename)
	for _, c := range copies {
		if !c.Verified() || c.Location != name || *c.SizeBytes != int64(len(local)) {
			t.Fatalf("copy: %+v", c)
		}
	}
	for _, p := range []string{filepath.Join(nas, name), filepath.Join(ssh.Root, "site-b", name)} {
		if b, err := os.ReadFile(p); err != nil || string(b) != string(local) {
			t.Fatalf("%s: %v", p, err)
		}
	}
	obj, err := azure.Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(obj)
	obj.Close()
	if string(b) != string(local) {
		t.Fatal("the Azure copy differs")
	}

	ssh.Stop()
	down, r := backupRow(t, env)
	if r.code != 0 || down.Status != catalog.StatusPartial || down.ErrorMessage == nil || !strings.Contains(*down.ErrorMessage, "sftp://") ||
		strings.Contains(*down.ErrorMessage, "file://") || strings.Contains(*down.ErrorMessage, "azblob://") {
		t.Fatalf("backup with SFTP down: %+v %v", r, deref(down.ErrorMessage))
	}
	if show := rgz(t, env, "show", down.Filename); !strings.Contains(show.stdout, "Copies:") || !strings.Contains(show.stdout, sftpURL[:20]) ||
		!strings.Contains(show.stdout, "MISSING") || !strings.Contains(show.stdout, "file://"+nas) {
		t.Fatalf("show of a partial backup:\n%s", show.stdout)
	}
	if a := rgz(t, env, "archive"); a.code != 1 || !strings.Contains(a.stdout, "PARTIAL  "+down.Filename) {
		t.Fatalf("archive while SFTP is down: %+v", a)
	}
	ssh.Restart(t)
	if a := rgz(t, env, "archive"); a.code != 0 || !strings.Contains(a.stdout, "OK       "+down.Filename) {
		t.Fatalf("archive after SFTP is back: %+v", a)
	}
	var healed catalog.Execution
	show := rgz(t, env, "show", down.Filename, "--json")
	if json.Unmarshal([]byte(show.stdout), &healed) != nil || healed.Status != catalog.StatusSuccess || healed.ErrorMessage != nil {
		t.Fatalf("after archive: %s", show.stdout)
	}
	if copies, _ := store.Copies(context.Background(), down.ID); len(copies) != 3 || !copies[0].Verified() || !copies[1].Verified() || !copies[2].Verified() {
		t.Fatalf("copies after healing: %+v", copies)
	}

	// The local file gone: the restore test reads the first destination
	// holding a copy, or the one --from names; a restore from Azure works.
	os.Remove(*row.FilePath)
	for _, from := range []string{"", "sftp", "azblob", "file://" + nas} {
		args := []string{"restore-test", row.Filename}
		if from != "" {
			args = append(args, "--from", from)
		}
		if rt := rgz(t, env, args...); rt.code != 0 || !strings.Contains(rt.stdout, "SUCCESS") {
			t.Fatalf("restore-test --from %q: %+v", from, rt)
		}
	}
	for _, from := range []string{"", "sftp", "azblob"} {
		if v := rgz(t, env, "verify", row.Filename, "--from", from); v.code != 0 || !strings.HasPrefix(v.stdout, "OK   "+row.Filename) {
			t.Fatalf("verify --from %q: %+v", from, v)
		}
	}
	nasCopy := filepath.Join(nas, name)
	b, _ = os.ReadFile(nasCopy)
	b[len(b)/2] ^= 1
	os.WriteFile(nasCopy, b, 0o640)
	if v := rgz(t, env, "verify", row.Filename, "--from", "file://"+nas); v.code != 1 || !strings.Contains(v.stdout, "the copy in file://"+nas+": checksum") {
		t.Fatalf("verify of a damaged copy: %+v", v)
	}
	if rt := rgz(t, env, "restore-test", row.Filename, "--from", "local"); rt.code != 1 || !strings.Contains(rt.stderr, "not on local disk") {
		t.Fatalf("restore-test --from local without the file: %+v", rt)
	}
	target := "dr_dest_" + strings.ToLower(row.Filename[:15])
	t.Cleanup(func() { cluster.DropDatabase(context.Background(), target) })
	if rs := rgz(t, env, "restore", row.Filename, "--target-db", target, "--create", "--from", "azblob", "--with-globals"); rs.code != 0 || !strings.Contains(rs.stdout, "every table and row count matches") {
		t.Fatalf("restore from Azure: %+v", rs)
	}
	if left, _ := filepath.Glob(filepath.Join(env["BACKUP_LOCAL_DIR"], ".tmp-*")); len(left) > 0 {
		t.Fatalf("fetched files left: %v", left)
	}
}

// The catalog lost, and the local files too: `catalog rebuild` brings the
// rows back from the manifests an Azure container holds, with their
// copies, and the restore test reads the backup from there.
func TestCatalogRebuildFromAzure(t *testing.T) {
	t.Parallel()
	az := azuritetest.Start(t)
	azure, err := destination.NewAzure(destination.AzureConfig{Account: azuritetest.Account, Container: "drcopies", AzureSettings: destination.AzureSettings{AccountKey: azuritetest.Key, Endpoint: az.Endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	if err := azure.CreateContainer(context.Background()); err != nil {
		t.Fatal(err)
	}
	env := sampleEnv(t)
	env["BACKUP_DESTINATIONS"] = "azblob://" + azuritetest.Account + "/drcopies"
	env["BACKUP_AZURE_ACCOUNT_KEY"], env["BACKUP_AZURE_ENDPOINT"] = azuritetest.Key, az.Endpoint
	var rows []catalog.Execution
	for range 2 {
		row, r := backupRow(t, env)
		if r.code != 0 || row.Status != catalog.StatusSuccess {
			t.Fatalf("backup: %+v", r)
		}
		rows = append(rows, row)
	}
	entries, _ := os.ReadDir(env["BACKUP_LOCAL_DIR"])
	for _, e := range entries {
		os.Remove(filepath.Join(env["BACKUP_LOCAL_DIR"], e.Name()))
	}
	catalogDB := dbName(env["BACKUP_CATALOG_DATABASE_URL"])
	if err := cluster.DropDatabase(context.Background(), catalogDB); err != nil {
		t.Fatal(err)
	}
	if err := cluster.CreateDatabase(context.Background(), catalogDB); err != nil {
		t.Fatal(err)
	}
	if r := rgz(t, env, "catalog", "rebuild"); r.code != 0 || !strings.Contains(r.stdout, "2 rows re-created") {
		t.Fatalf("rebuild: %+v", r)
	}
	store := openStore(t, env)
	for _, row := range rows {
		copies, err := store.Copies(context.Background(), row.ID)
		if err != nil || len(copies) != 1 || !copies[0].Verified() {
			t.Fatalf("copies of %s after rebuild: %v %+v", row.Filename, err, copies)
		}
	}
	if rt := rgz(t, env, "restore-test", rows[1].Filename); rt.code != 0 || !strings.Contains(rt.stdout, "SUCCESS") {
		t.Fatalf("restore-test after rebuild: %+v", rt)
	}
}

// The BACKUP_S3_* bucket is one destination among the others: its copy
// goes at the same time as a second bucket's (s3:// in
// BACKUP_DESTINATIONS, same endpoint and keys) and a directory's, is
// recorded in archive_s3_path and with the other copies, and any of them
// can be read back by --from. A second bucket that does not exist makes
// the backup partial naming it, and the others still get their copy.
func TestS3IsOneDestinationAmongOthers(t *testing.T) {
	t.Parallel()
	env := s3Env(t)
	second := s3srv.NewBucket(t, false)
	nas := filepath.Join(t.TempDir(), "nas")
	env["BACKUP_DESTINATIONS"] = "s3://" + second + "/copies,file://" + nas
	store := openStore(t, env)
	row, r := backupRow(t, env)
	if r.code != 0 || row.Status != catalog.StatusSuccess || row.ArchiveS3Path == nil {
		t.Fatalf("backup: %+v\n%+v", row, r)
	}
	name := destination.Name("", row.BackupDate, row.Filename)
	primary := "s3://" + env["BACKUP_S3_BUCKET"] + "/prod"
	if *row.ArchiveS3Path != primary+"/"+name {
		t.Fatalf("archive_s3_path %s", *row.ArchiveS3Path)
	}
	copies, err := store.Copies(context.Background(), row.ID)
	if err != nil || len(copies) != 3 {
		t.Fatalf("copies: %v %+v", err, copies)
	}
	for _, c := range copies {
		if !c.Verified() || c.Location != name || c.ChecksumCRC32 == nil || *c.ChecksumCRC32 != *row.ChecksumCRC32 {
			t.Fatalf("copy: %+v", c)
		}
	}
	show := rgz(t, env, "show", row.Filename)
	for _, want := range []string{primary, "s3://" + second + "/copies", "file://" + nas} {
		if !strings.Contains(show.stdout, want) {
			t.Fatalf("show lacks %s:\n%s", want, show.stdout)
		}
	}
	var listed []struct {
		ID     string         `json:"id"`
		Status catalog.Status `json:"status"`
		Copies []catalog.Copy `json:"copies"`
	}
	list := rgz(t, env, "list", "--json")
	if err := json.Unmarshal([]byte(list.stdout), &listed); err != nil || len(listed) != 1 || listed[0].ID != row.ID || listed[0].Status != catalog.StatusSuccess ||
		len(listed[0].Copies) != 3 || !listed[0].Copies[0].Verified() {
		t.Fatalf("list --json: %v %s", err, list.stdout)
	}
	if text := rgz(t, env, "list"); !strings.Contains(text.stdout, "COPIES") || !strings.Contains(text.stdout, " 3/3 ") {
		t.Fatalf("list:\n%s", text.stdout)
	}

	os.Remove(*row.FilePath)
	for _, from := range []string{"", "s3", "s3://" + second + "/copies"} {
		if v := rgz(t, env, "verify", row.Filename, "--from", from); v.code != 0 || !strings.HasPrefix(v.stdout, "OK   "+row.Filename) {
			t.Fatalf("verify --from %q: %+v", from, v)
		}
	}
	if rt := rgz(t, env, "restore-test", row.Filename, "--from", "s3://"+second+"/copies"); rt.code != 0 || !strings.Contains(rt.stdout, "SUCCESS") {
		t.Fatalf("restore-test from the second bucket: %+v", rt)
	}

	env["BACKUP_DESTINATIONS"] = "s3://no-such-bucket-" + strings.ToLower(row.Filename[:8]) + ",file://" + nas
	down, r := backupRow(t, env)
	if r.code != 0 || down.Status != catalog.StatusPartial || down.ArchiveS3Path == nil ||
		!strings.Contains(deref(down.ErrorMessage), "copy to s3://no-such-bucket") || strings.Contains(deref(down.ErrorMessage), "S3 archive failed") {
		t.Fatalf("backup with a missing second bucket: %+v %v", r, deref(down.ErrorMessage))
	}
	if copies, _ := store.Copies(context.Background(), down.ID); len(copies) != 3 {
		t.Fatalf("copies: %+v", copies)
	}
}
