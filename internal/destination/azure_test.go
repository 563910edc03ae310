package destination_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/destination/destinationtest"
	"github.com/mosaique/rgz-backup/internal/testenv/azuritetest"
)

func azureStore(t *testing.T, srv *azuritetest.Server, containerName, key string) *destination.Azure {
	t.Helper()
	a, err := destination.NewAzure(destination.AzureConfig{Account: azuritetest.Account, Container: containerName, Prefix: "prod",
		AzureSettings: destination.AzureSettings{AccountKey: key, Endpoint: srv.Endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Azure Blob (Azurite on loopback) passes the suite.
func TestAzureConforms(t *testing.T) {
	t.Parallel()
	srv := azuritetest.Start(t)
	var seq atomic.Int64    // the subtests make their stores at once
	var containers sync.Map // store → its container
	blockBlob := func(t *testing.T, st destination.Store, name string) *blockblob.Client {
		c, _ := containers.Load(st)
		return blobClient(t, srv).ServiceClient().NewContainerClient(c.(string)).NewBlockBlobClient("prod/" + name)
	}
	destinationtest.Run(t, destinationtest.Harness{
		New: func(t *testing.T) destination.Store {
			name := fmt.Sprintf("backups%d", seq.Add(1))
			a := azureStore(t, srv, name, azuritetest.Key)
			if err := a.CreateContainer(context.Background()); err != nil {
				t.Fatal(err)
			}
			containers.Store(a, name)
			return a
		},
		Reopen: func(t *testing.T, st destination.Store) destination.Store {
			c, _ := containers.Load(st)
			return azureStore(t, srv, c.(string), azuritetest.Key)
		},
		// A Put killed midway leaves staged blocks that no commit made a
		// blob; the next Put's commit discards them.
		Leftover: func(t *testing.T, st destination.Store, name string) {
			id := base64.StdEncoding.EncodeToString([]byte("0000000000000007")) // the store's block ids: 16 digits
			if _, err := blockBlob(t, st, name).StageBlock(context.Background(), id, streaming.NopCloser(strings.NewReader("PGDMP half a copy")), nil); err != nil {
				t.Fatal(err)
			}
		},
		Left: func(t *testing.T, st destination.Store, name string) bool {
			list, err := blockBlob(t, st, name).GetBlockList(context.Background(), blockblob.BlockListTypeUncommitted, nil)
			if bloberror.HasCode(err, bloberror.BlobNotFound) {
				return false
			}
			if err != nil {
				t.Fatal(err)
			}
			return len(list.UncommittedBlocks) > 0
		},
	})
}

// blobClient is a client of the Azurite account, for what the store would
// not do itself.
func blobClient(t *testing.T, srv *azuritetest.Server) *azblob.Client {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(azuritetest.Account, azuritetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	client, err := azblob.NewClientWithSharedKeyCredential(srv.Endpoint+"/", cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// A wrong account key is one line naming the destination and Azure's
// error code, and never the key.
func TestAzureWrongKeyIsOneLine(t *testing.T) {
	t.Parallel()
	srv := azuritetest.Start(t)
	wrong := "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="
	a := azureStore(t, srv, "backups", wrong)
	_, err := a.List(context.Background())
	t.Logf("wrong key: %v", err)
	if err == nil || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), "azblob://devstoreaccount1/backups") {
		t.Fatalf("wrong key: %v", err)
	}
}

// A connection string instead of the key reaches the same container; one
// for another account is refused, and neither error quotes the string.
func TestAzureConnectionString(t *testing.T) {
	t.Parallel()
	srv := azuritetest.Start(t)
	conn := "DefaultEndpointsProtocol=http;AccountName=" + azuritetest.Account + ";AccountKey=" + azuritetest.Key + ";BlobEndpoint=" + srv.Endpoint + ";"
	a, err := destination.NewAzure(destination.AzureConfig{Account: azuritetest.Account, Container: "viaconn", AzureSettings: destination.AzureSettings{ConnectionString: conn}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.CreateContainer(ctx); err != nil {
		t.Fatal(err)
	}
	data := []byte("a backup reached through a connection string")
	if err := a.Put(ctx, "2026/11/x.dump.gz", bytes.NewReader(data), destination.PutOptions{Want: destination.Want{Size: int64(len(data)), CRC32: crc32.ChecksumIEEE(data)}}); err != nil {
		t.Fatal(err)
	}
	if o, err := azureStore(t, srv, "viaconn", azuritetest.Key).Stat(ctx, "2026/11/x.dump.gz"); err == nil {
		t.Fatalf("the prefix differs, yet %+v", o)
	}
	if o, err := a.Stat(ctx, "2026/11/x.dump.gz"); err != nil || o.Size != int64(len(data)) {
		t.Fatalf("stat: %+v %v", o, err)
	}
	for _, bad := range []string{strings.Replace(conn, "AccountName="+azuritetest.Account, "AccountName=someoneelse", 1), "AccountKey=" + azuritetest.Key + ";nonsense"} {
		_, err := destination.NewAzure(destination.AzureConfig{Account: azuritetest.Account, Container: "viaconn", AzureSettings: destination.AzureSettings{ConnectionString: bad}})
		if err == nil || strings.Contains(err.Error(), azuritetest.Key) {
			t.Fatalf("connection string %q: %v", bad[:20], err)
		}
	}
}

// Azure's copies are verified by the service, not read back: each block
// is sent with the MD5 of its bytes. This is the property that rests on:
// the service (here Azurite) refuses a block whose bytes are not the
// ones the MD5 was computed from.
func TestAzureRefusesABlockThatArrivedOtherwise(t *testing.T) {
	t.Parallel()
	srv := azuritetest.Start(t)
	client := blobClient(t, srv)
	ctx := context.Background()
	if _, err := client.CreateContainer(ctx, "md5", nil); err != nil {
		t.Fatal(err)
	}
	bb := client.ServiceClient().NewContainerClient("md5").NewBlockBlobClient("x.dump.gz")
	sent, meant := []byte("the bytes that arrived"), md5.Sum([]byte("the bytes that were read"))
	id := base64.StdEncoding.EncodeToString([]byte("0000000000000000"))
	_, err := bb.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(sent)), &blockblob.StageBlockOptions{TransactionalValidation: blob.TransferValidationTypeMD5(meant[:])})
	if !bloberror.HasCode(err, bloberror.MD5Mismatch) {
		t.Fatalf("a block with another MD5: %v", err)
	}
}
