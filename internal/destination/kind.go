package destination

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Kind is a kind of place, as its URL's scheme names it.
type Kind string

// The kinds of destination; each registers itself once (register), in the
// file that implements it.
const (
	KindFile  Kind = "file"   // a directory: a second disk, a NAS mount (dir.go)
	KindSFTP  Kind = "sftp"   // an SSH server (sftp.go)
	KindAzure Kind = "azblob" // an Azure Blob container (azure.go)
	KindS3    Kind = "s3"     // an S3 bucket (s3.go)
)

// kind is what a kind of destination brings: its URL's form (for
// messages), how it reads and writes its URL, and how it opens a Store
// with its settings.
type kind struct {
	form  string                          // "sftp://USER@HOST[:PORT]/PATH"
	parse func(u *url.URL, s *Spec) error // fills the kind's fields of s
	url   func(s Spec) string             // the canonical URL, no secret
	open  func(s Spec, set Settings) (Store, error)
}

var kinds = map[Kind]kind{}

// register adds a kind of destination; it runs at init, once per kind.
func register(k Kind, def kind) {
	if _, dup := kinds[k]; dup {
		panic("destination: kind " + string(k) + " registered twice")
	}
	kinds[k] = def
}

// Kinds are the kinds of destination this build knows, sorted.
func Kinds() []Kind {
	out := make([]Kind, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// knownForms lists every kind's URL form, for an error.
func knownForms() string {
	var forms []string
	for _, k := range Kinds() {
		forms = append(forms, kinds[k].form)
	}
	return strings.Join(forms, ", ")
}

// Settings are every kind's settings besides its URL (which holds no
// secret): each kind reads its own.
type Settings struct {
	SFTP  SFTPSettings
	Azure AzureSettings
	S3    S3Settings
}

// Open opens one destination with its kind's opener.
func Open(spec Spec, set Settings) (Store, error) {
	k, ok := kinds[spec.Kind]
	if !ok {
		return nil, fmt.Errorf("%s: not a destination this version copies to", spec.URL)
	}
	return k.open(spec, set)
}
