package destination

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// AzureConfig says how to reach an Azure Blob destination
// (azblob://ACCOUNT/CONTAINER/PREFIX).
type AzureConfig struct {
	Account   string
	Container string
	Prefix    string
	AzureSettings
}

// AzureSettings are what every azblob:// destination signs in with.
type AzureSettings struct {
	AccountKey string // BACKUP_AZURE_ACCOUNT_KEY
	// ConnectionString (BACKUP_AZURE_CONNECTION_STRING), instead of the
	// key: the account's own, or one with a SAS token. Its AccountName, when
	// it has one, must be Account; its BlobEndpoint wins over Endpoint.
	ConnectionString string
	// Endpoint overrides https://ACCOUNT.blob.core.windows.net
	// (BACKUP_AZURE_ENDPOINT; Azurite: http://127.0.0.1:10000/ACCOUNT).
	Endpoint string
}

// Azure is a destination in an Azure Blob container. A copy is staged as
// blocks (4 MiB, two at a time: memory does not grow with the file), each
// checked by the service against its MD5, and committed only once the
// CRC32 of what was sent is the recorded one (see Put). Immutability policies are not set (the emulator the tests run
// against has none): Retains is false, and docs/CONFIGURATION.md says
// to use a container-level immutability policy on the account instead.
type Azure struct {
	cfg    AzureConfig
	client *azblob.Client
}

// NewAzure prepares a client; it does not connect yet.
func init() {
	register(KindAzure, kind{
		form: "azblob://ACCOUNT/CONTAINER[/PREFIX]",
		parse: func(u *url.URL, s *Spec) error {
			parts := strings.SplitN(strings.Trim(u.Path, "/"), "/", 2)
			if u.Host == "" || parts[0] == "" || u.User != nil {
				return fmt.Errorf("azblob:// needs an account and a container (azblob://ACCOUNT/CONTAINER/PREFIX)")
			}
			if !containerName(parts[0]) {
				return fmt.Errorf("azblob://%s/%s: a container name is 3 to 63 lowercase letters, digits and single hyphens", u.Host, parts[0])
			}
			s.Account, s.Container = u.Host, parts[0]
			if len(parts) == 2 {
				s.Prefix = parts[1]
			}
			return nil
		},
		url: func(s Spec) string {
			return strings.TrimSuffix("azblob://"+path.Join(s.Account, s.Container, s.Prefix), "/")
		},
		open: func(s Spec, set Settings) (Store, error) {
			return NewAzure(AzureConfig{Account: s.Account, Container: s.Container, Prefix: s.Prefix, AzureSettings: set.Azure})
		},
	})
}

func NewAzure(cfg AzureConfig) (*Azure, error) {
	if cfg.ConnectionString != "" {
		return newAzureFromConnectionString(cfg)
	}
	cred, err := azblob.NewSharedKeyCredential(cfg.Account, cfg.AccountKey)
	if err != nil {
		return nil, fmt.Errorf("azblob://%s: account key: %w", cfg.Account, err)
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "https://" + cfg.Account + ".blob.core.windows.net/"
	}
	client, err := azblob.NewClientWithSharedKeyCredential(endpoint, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("azblob://%s: %w", cfg.Account, err)
	}
	return &Azure{cfg: cfg, client: client}, nil
}

// newAzureFromConnectionString is NewAzure with a connection string. Its
// errors never quote the string (it holds a key or a SAS token).
func newAzureFromConnectionString(cfg AzureConfig) (*Azure, error) {
	fields := map[string]string{}
	for _, part := range strings.Split(cfg.ConnectionString, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok {
			fields[strings.ToLower(k)] = v
		}
	}
	if name, ok := fields["accountname"]; ok && name != cfg.Account {
		return nil, fmt.Errorf("azblob://%s: the connection string is for the account %q", cfg.Account, name)
	}
	client, err := azblob.NewClientFromConnectionString(cfg.ConnectionString, nil)
	if err != nil {
		return nil, fmt.Errorf("azblob://%s: the connection string is not one Azure accepts (AccountName=…;AccountKey=… or BlobEndpoint=…;SharedAccessSignature=…)", cfg.Account)
	}
	return &Azure{cfg: cfg, client: client}, nil
}

// Close has nothing to end: the client's connections are pooled.
func (a *Azure) Close() error { return nil }

func (a *Azure) String() string {
	return strings.TrimSuffix("azblob://"+path.Join(a.cfg.Account, a.cfg.Container, a.cfg.Prefix), "/")
}

// Retains is false: see Azure.
func (a *Azure) Retains() bool { return false }

// blob is name's blob below the prefix, once CheckName allows it.
func (a *Azure) blob(name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", fmt.Errorf("%s: %w", a, err)
	}
	return path.Join(a.cfg.Prefix, name), nil
}

// CreateContainer makes the container (tests, first use); one that
// exists is fine.
func (a *Azure) CreateContainer(ctx context.Context) error {
	_, err := a.client.CreateContainer(ctx, a.cfg.Container, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return a.explain("create container", "", err)
	}
	return nil
}

// Put stages src in blocks of blockSize, two at a time, each sent with
// the MD5 of its bytes for the service to check (it refuses a block that
// arrived otherwise), while the CRC32 of the same bytes, in order, is
// compared with o.Want; only then is the block list committed, and the
// blob's size checked. So what landed is what was sent, checked by the
// store, and what was sent is the backup: no read-back. A copy that fails
// any step, or is interrupted, commits nothing (the service drops staged
// blocks), and a committed blob of the wrong size is deleted.
func (a *Azure) Put(ctx context.Context, name string, src Source, o PutOptions) error {
	if src.Size() != o.Want.Size {
		return fmt.Errorf("copy to %s refused: the file has %d bytes, the backup recorded %d", a, src.Size(), o.Want.Size)
	}
	blob, err := a.blob(name)
	if err != nil {
		return err
	}
	bb := a.client.ServiceClient().NewContainerClient(a.cfg.Container).NewBlockBlobClient(blob)
	ids, crc, err := stageBlocks(ctx, bb, src)
	var local *fs.PathError
	if errors.As(err, &local) { // the local file, not Azure
		return fmt.Errorf("copy to %s: %w", a, err)
	}
	if err != nil {
		return a.explain("upload", blob, err)
	}
	if crc != o.Want.CRC32 {
		return fmt.Errorf("copy to %s refused: the file's CRC32 is %08x, the backup recorded %08x", a, crc, o.Want.CRC32)
	}
	if _, err := bb.CommitBlockList(ctx, ids, nil); err != nil {
		return a.explain("commit", blob, err)
	}
	props, err := bb.GetProperties(ctx, nil)
	if err == nil && (props.ContentLength == nil || *props.ContentLength != o.Want.Size) {
		err = fmt.Errorf("azblob://%s holds %v bytes, want %d", path.Join(a.cfg.Account, a.cfg.Container, blob), deref(props.ContentLength), o.Want.Size)
	} else if err != nil {
		err = a.explain("check", blob, err)
	}
	if err != nil {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		a.remove(cleanup, blob)
		return err
	}
	return nil
}

// blockSize is the size of the blocks a copy is staged in: two are in
// memory at once, whatever the file's size.
const blockSize = 4 << 20

// stageBlocks sends src as blocks, two in flight, and returns their ids in
// order and the CRC32 of every byte sent.
func stageBlocks(ctx context.Context, bb *blockblob.Client, src Source) ([]string, uint32, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	const inFlight = 2
	free := make(chan []byte, inFlight)
	for range inFlight {
		free <- make([]byte, blockSize)
	}
	h := crc32.NewIEEE()
	var ids []string
	var wg sync.WaitGroup
	var readErr error
	for off := int64(0); off < src.Size(); off += blockSize {
		var buf []byte
		select {
		case buf = <-free:
		case <-ctx.Done():
		}
		if buf == nil {
			break
		}
		n := int(min(blockSize, src.Size()-off))
		if _, err := src.ReadAt(buf[:n], off); err != nil && err != io.EOF {
			readErr = err
			break
		}
		h.Write(buf[:n])
		sum := md5.Sum(buf[:n])
		id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%016d", len(ids)))
		ids = append(ids, id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := bb.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(buf[:n])),
				&blockblob.StageBlockOptions{TransactionalValidation: blob.TransferValidationTypeMD5(sum[:])})
			if err != nil {
				cancel(err)
			}
			free <- buf
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, 0, err
	}
	if readErr != nil {
		return nil, 0, readErr
	}
	return ids, h.Sum32(), nil
}

func deref(p *int64) any {
	if p == nil {
		return "an unknown number of"
	}
	return *p
}

func (a *Azure) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	blob, err := a.blob(name)
	if err != nil {
		return nil, err
	}
	resp, err := a.client.DownloadStream(ctx, a.cfg.Container, blob, nil)
	if err != nil {
		return nil, a.notFound(name, blob, "read", err)
	}
	return resp.Body, nil
}

func (a *Azure) Stat(ctx context.Context, name string) (Object, error) {
	blob, err := a.blob(name)
	if err != nil {
		return Object{}, err
	}
	props, err := a.client.ServiceClient().NewContainerClient(a.cfg.Container).NewBlobClient(blob).GetProperties(ctx, nil)
	if err != nil {
		return Object{}, a.notFound(name, blob, "look up", err)
	}
	var size int64
	if props.ContentLength != nil {
		size = *props.ContentLength
	}
	return Object{Name: name, Size: size}, nil
}

func (a *Azure) List(ctx context.Context) ([]Object, error) {
	prefix := a.cfg.Prefix
	if prefix != "" {
		prefix += "/"
	}
	pager := a.client.NewListBlobsFlatPager(a.cfg.Container, &container.ListBlobsFlatOptions{Prefix: &prefix})
	var out []Object
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, a.explain("list", "", err)
		}
		for _, b := range page.Segment.BlobItems {
			if b.Name == nil {
				continue
			}
			var size int64
			if b.Properties != nil && b.Properties.ContentLength != nil {
				size = *b.Properties.ContentLength
			}
			if name := strings.TrimPrefix(*b.Name, prefix); CheckName(name) == nil { // hidden: temporary
				out = append(out, Object{Name: name, Size: size})
			}
		}
	}
	return out, nil
}

func (a *Azure) Remove(ctx context.Context, name string) error {
	blob, err := a.blob(name)
	if err != nil {
		return err
	}
	return a.remove(ctx, blob)
}

// remove deletes the blob with its snapshots; none is not an error.
func (a *Azure) remove(ctx context.Context, blob string) error {
	include := azblob.DeleteSnapshotsOptionTypeInclude
	_, err := a.client.DeleteBlob(ctx, a.cfg.Container, blob, &azblob.DeleteBlobOptions{DeleteSnapshots: &include})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return a.explain("delete", blob, err)
	}
	return nil
}

func (a *Azure) notFound(name, blob, op string, err error) error {
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return fmt.Errorf("%s in %s: %w", name, a, ErrNotFound)
	}
	return a.explain(op, blob, err)
}

// explain makes one line of an SDK error: the operation, the blob, the
// service's error code; never the account key.
func (a *Azure) explain(op, blob string, err error) error {
	what := a.String()
	if blob != "" {
		what = "azblob://" + path.Join(a.cfg.Account, a.cfg.Container, blob)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: %w", op, what, err)
	}
	var resp *azcore.ResponseError
	if errors.As(err, &resp) {
		return fmt.Errorf("%s %s: Azure said %s (HTTP %d)", op, what, resp.ErrorCode, resp.StatusCode)
	}
	return fmt.Errorf("%s %s: cannot reach the account: %s", op, what, firstLine(err.Error()))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
