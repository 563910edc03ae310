package offsite

import (
	"bytes"
	"context"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/testenv/azuritetest"
	"github.com/mosaique/rgz-backup/internal/testenv/sshtest"
)

// One backup's files go to a directory, an SFTP server and an Azure
// container at once, each verified; a destination that is down fails
// alone, saying which it is, and the others still get their copies.
func TestSendToEveryDestination(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	dump := bytes.Repeat([]byte("pg_dump archive "), 200_000)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
		return p
	}
	date := time.Date(2026, 2, 5, 3, 0, 15, 0, time.UTC)
	files := []File{
		{Path: write("20260205_030015.dump.gz", dump), Name: destination.Name("", date, "20260205_030015.dump.gz"),
			Want: destination.Want{Size: int64(len(dump)), CRC32: crc32.ChecksumIEEE(dump)}},
		{Path: write("20260205_030015.dump.gz.sha256", []byte("abc  20260205_030015.dump.gz\n")), Name: destination.Name("", date, "20260205_030015.dump.gz.sha256")},
	}

	ssh := sshtest.Start(t)
	sftpStore := destination.NewSFTP(destination.SFTPConfig{User: ssh.User, Addr: ssh.Addr, Root: filepath.Join(ssh.Root, "rgz"),
		SFTPSettings: destination.SFTPSettings{KeyFile: ssh.KeyFile, KnownHosts: ssh.KnownHosts}})
	defer sftpStore.Close()
	az := azuritetest.Start(t)
	azure, err := destination.NewAzure(destination.AzureConfig{Account: azuritetest.Account, Container: "backups", AzureSettings: destination.AzureSettings{AccountKey: azuritetest.Key, Endpoint: az.Endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	if err := azure.CreateContainer(ctx); err != nil {
		t.Fatal(err)
	}
	stores := []destination.Store{destination.Dir{Root: filepath.Join(t.TempDir(), "nas")}, sftpStore, azure}
	targets := []Target{{Store: stores[0]}, {Store: stores[1]}, {Store: stores[2]}}

	for i, s := range Send(ctx, targets, files) {
		if s.Err != nil || s.Bytes != int64(len(dump))+29 || s.Destination != stores[i].String() {
			t.Fatalf("%+v", s)
		}
	}
	for _, st := range stores {
		r, err := st.Open(ctx, files[0].Name)
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(got, dump) {
			t.Fatalf("%s holds another dump", st)
		}
	}

	ssh.Stop()
	sent := Send(ctx, targets, files)
	if sent[1].Err == nil || !strings.Contains(sent[1].Err.Error(), "sftp://") {
		t.Fatalf("a stopped SFTP server: %+v", sent[1])
	}
	if sent[0].Err != nil || sent[2].Err != nil {
		t.Fatalf("one destination down stopped the others: %+v", sent)
	}
}
