package destination

import "fmt"

// Credentials are what destinations need besides their URLs, which hold
// none.
type Credentials struct {
	SFTPKeyFile     string
	SFTPKnownHosts  string
	AzureAccountKey string
	AzureConnString string
	AzureEndpoint   string
	// S3 opens an s3:// destination: the storage package's client, which
	// imports this one (nil: s3:// destinations are refused).
	S3 func(Spec) (Store, error)
}

// Opened are destinations ready to use, in the order configured.
type Opened struct {
	Specs  []Spec
	Stores []Store
}

// OpenAll opens every destination, in the order given.
func OpenAll(specs []Spec, c Credentials) (Opened, error) {
	var o Opened
	for _, spec := range specs {
		var st Store
		switch spec.Kind {
		case "file":
			st = Dir{Root: spec.Path}
		case "sftp":
			st = NewSFTP(SFTPConfig{User: spec.User, Addr: spec.Addr, Root: spec.Path, KeyFile: c.SFTPKeyFile, KnownHosts: c.SFTPKnownHosts})
		case "azblob":
			a, err := NewAzure(AzureConfig{Account: spec.Account, Container: spec.Container, Prefix: spec.Prefix,
				AccountKey: c.AzureAccountKey, ConnectionString: c.AzureConnString, Endpoint: c.AzureEndpoint})
			if err != nil {
				o.Close()
				return Opened{}, err
			}
			st = a
		case "s3":
			if c.S3 == nil {
				o.Close()
				return Opened{}, fmt.Errorf("%s: no S3 client here", spec.URL)
			}
			s, err := c.S3(spec)
			if err != nil {
				o.Close()
				return Opened{}, err
			}
			st = s
		default:
			o.Close()
			return Opened{}, fmt.Errorf("%s: not a destination this version copies to", spec.URL)
		}
		o.Specs, o.Stores = append(o.Specs, spec), append(o.Stores, st)
	}
	return o, nil
}

// Close ends the destinations' connections.
func (o Opened) Close() {
	for _, st := range o.Stores {
		if c, ok := st.(interface{ Close() error }); ok {
			c.Close()
		}
	}
}
