package config

import (
	"os"
	"path"
	"sort"
	"strings"

	"github.com/mosaique/rgz-backup/internal/destination"
)

// Destinations are the places besides the BACKUP_S3_* bucket that every
// good backup is copied to (BACKUP_DESTINATIONS), with the credentials
// they need.
type Destinations struct {
	List            []destination.Spec
	SFTPKeyFile     string // BACKUP_SFTP_KEY_FILE
	SFTPKnownHosts  string // BACKUP_SFTP_KNOWN_HOSTS
	AzureAccountKey string // BACKUP_AZURE_ACCOUNT_KEY (secret)
	AzureConnString string // BACKUP_AZURE_CONNECTION_STRING (secret)
	AzureEndpoint   string // BACKUP_AZURE_ENDPOINT: Azurite, a sovereign cloud
}

func (r *reader) destinations(s3 S3) Destinations {
	d := Destinations{SFTPKeyFile: r.str("BACKUP_SFTP_KEY_FILE"), SFTPKnownHosts: r.str("BACKUP_SFTP_KNOWN_HOSTS"),
		AzureAccountKey: strings.TrimSpace(r.getenv("BACKUP_AZURE_ACCOUNT_KEY")), AzureConnString: strings.TrimSpace(r.getenv("BACKUP_AZURE_CONNECTION_STRING")),
		AzureEndpoint: r.str("BACKUP_AZURE_ENDPOINT")}
	seen := map[string]bool{}
	for _, raw := range strings.Split(r.getenv("BACKUP_DESTINATIONS"), ",") {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		shown := RedactURL(strings.TrimSpace(raw), false)
		spec, err := destination.ParseURL(raw)
		switch {
		case err != nil:
			r.fail("BACKUP_DESTINATIONS", shown, err.Error())
			continue
		case spec.Kind == destination.KindS3 && s3.Enabled && spec.URL == s3.Destination().URL:
			r.fail("BACKUP_DESTINATIONS", shown, "is already the destination of BACKUP_S3_ENABLED and BACKUP_S3_BUCKET/BACKUP_S3_PREFIX")
			continue
		case spec.Kind == destination.KindS3 && BucketNameProblem(spec.Bucket) != "":
			r.fail("BACKUP_DESTINATIONS", shown, "s3://"+spec.Bucket+": "+BucketNameProblem(spec.Bucket))
			continue
		case seen[spec.URL]:
			r.fail("BACKUP_DESTINATIONS", shown, "is listed twice")
			continue
		}
		seen[spec.URL] = true
		d.List = append(d.List, spec)
		switch spec.Kind {
		case destination.KindSFTP:
			r.readable("BACKUP_SFTP_KEY_FILE", d.SFTPKeyFile, "the private key that logs in to "+spec.URL)
			r.readable("BACKUP_SFTP_KNOWN_HOSTS", d.SFTPKnownHosts, "a known_hosts file holding the host key of "+spec.Addr+" (no trust on first use)")
		case destination.KindAzure:
			switch {
			case d.AzureAccountKey == "" && d.AzureConnString == "":
				r.fail("BACKUP_AZURE_ACCOUNT_KEY", "", "must be set for "+spec.URL+" (or BACKUP_AZURE_CONNECTION_STRING)")
			case d.AzureAccountKey != "" && d.AzureConnString != "":
				r.fail("BACKUP_AZURE_CONNECTION_STRING", "", "and BACKUP_AZURE_ACCOUNT_KEY are both set: set one")
			}
		}
	}
	return d
}

// readable fails name unless it names a file this process can read.
func (r *reader) readable(name, path, what string) {
	if path == "" {
		r.fail(name, "", "must name "+what)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		r.fail(name, path, "must name "+what+": "+err.Error())
		return
	}
	f.Close()
}

// Destination is the bucket of BACKUP_S3_* as a destination: the first,
// whose copy archive_s3_path names.
func (s S3) Destination() destination.Spec {
	spec := destination.Spec{Kind: destination.KindS3, Bucket: s.Bucket, Prefix: s.Prefix, RetentionDays: s.RetentionDays, Compliance: true, Archive: true}
	spec.URL = strings.TrimSuffix("s3://"+path.Join(s.Bucket, s.Prefix), "/")
	return spec
}

// AllDestinations are every place a good backup is copied to, in order:
// the BACKUP_S3_* bucket when BACKUP_S3_ENABLED, then BACKUP_DESTINATIONS.
func (c Config) AllDestinations() []destination.Spec {
	if !c.S3.Enabled {
		return c.Destinations.List
	}
	return append([]destination.Spec{c.S3.Destination()}, c.Destinations.List...)
}

// DestinationsFor are the places a backup of target is copied to: the
// BACKUP_S3_* bucket first, then the target's own destinations when the
// targets file gives it some (TargetDestinations), else BACKUP_DESTINATIONS.
func (c Config) DestinationsFor(target string) []destination.Spec {
	own, ok := c.TargetDestinations[target]
	if !ok {
		return c.AllDestinations()
	}
	if !c.S3.Enabled {
		return own
	}
	return append([]destination.Spec{c.S3.Destination()}, own...)
}

// EveryDestination is BACKUP_DESTINATIONS and every target's own, each
// once: where retention looks for copies to expire.
func (c Config) EveryDestination() []destination.Spec {
	out := append([]destination.Spec(nil), c.Destinations.List...)
	seen := map[string]bool{}
	for _, s := range out {
		seen[s.URL] = true
	}
	targets := make([]string, 0, len(c.TargetDestinations))
	for t := range c.TargetDestinations {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for _, t := range targets {
		for _, s := range c.TargetDestinations[t] {
			if !seen[s.URL] {
				seen[s.URL] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// EveryPlace is every place a copy of some backup may be: the BACKUP_S3_*
// bucket first, then EveryDestination (catalog rebuild reads them all).
func (c Config) EveryPlace() []destination.Spec {
	if !c.S3.Enabled {
		return c.EveryDestination()
	}
	return append([]destination.Spec{c.S3.Destination()}, c.EveryDestination()...)
}

// DestinationSettings are every kind of destination's settings: the
// SFTP key and known hosts, the Azure account's key, and the BACKUP_S3_*
// endpoint and credentials (every s3:// destination's, with its own bucket).
func (c Config) DestinationSettings() destination.Settings {
	d := c.Destinations
	return destination.Settings{
		SFTP:  destination.SFTPSettings{KeyFile: d.SFTPKeyFile, KnownHosts: d.SFTPKnownHosts},
		Azure: destination.AzureSettings{AccountKey: d.AzureAccountKey, ConnectionString: d.AzureConnString, Endpoint: d.AzureEndpoint},
		S3:    c.S3.Settings(),
	}
}

// OpenDestinations opens the destinations specs names, with their settings.
func (c Config) OpenDestinations(specs []destination.Spec) (destination.Opened, error) {
	return destination.OpenAll(specs, c.DestinationSettings())
}
