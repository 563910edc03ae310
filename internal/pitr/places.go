package pitr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/crypt"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/pitrplan"
	"github.com/mosaique/rgz-backup/internal/sealed"
	"github.com/mosaique/rgz-backup/internal/wal"
)

// Listed is what the places' listings say of one cluster's archive.
type Listed struct {
	Files     []pitrplan.File
	Sidecars  []string // base backups' sidecar keys
	Bases     map[string]bool
	Histories map[uint32]string // timeline history files' keys
}

// ReadListing sorts the names of the places' listings by cluster: WAL
// segments and partial copies (history files aside), base backups and
// their sidecars. Names that are not the archive's are ignored.
func ReadListing(names []string) map[uint64]*Listed {
	out := map[uint64]*Listed{}
	for _, name := range names {
		parts := strings.Split(name, "/")
		if len(parts) < 4 || parts[0] != "pitr" {
			continue
		}
		id, err := strconv.ParseUint(parts[1], 10, 64)
		if err != nil || id == 0 {
			continue
		}
		l := out[id]
		if l == nil {
			l = &Listed{Bases: map[string]bool{}, Histories: map[uint32]string{}}
		}
		switch {
		case parts[2] == "base" && len(parts) == 4 && strings.HasSuffix(parts[3], ".json"):
			l.Sidecars = append(l.Sidecars, name)
		case parts[2] == "base" && len(parts) == 4 && strings.Contains(parts[3], ".tar"):
			l.Bases[name] = true
		case parts[2] == "wal" && len(parts) == 4 && strings.Contains(parts[3], ".history"):
			tli, err := wal.ParseHistoryName(parts[3][:strings.Index(parts[3], ".history")+len(".history")])
			if err != nil {
				continue
			}
			l.Histories[tli] = name
		case parts[2] == "wal" && len(parts) == 5 && len(parts[4]) >= 24:
			seg, _, err := wal.ParseSegmentName(parts[4][:24], wal.DefaultSegmentSize)
			if err != nil || parts[3] != parts[4][:16] {
				continue
			}
			f := pitrplan.File{Segment: seg, Key: name, Partial: strings.HasPrefix(parts[4][24:], wal.PartialSuffix)}
			if f.Partial {
				f.End = seg.End(wal.DefaultSegmentSize) // at most
			}
			l.Files = append(l.Files, f)
		default:
			continue
		}
		out[id] = l
	}
	for _, l := range out {
		sort.Strings(l.Sidecars)
	}
	return out
}

// FromPlaces is what the archive's places hold of cluster systemID (0:
// the only one they hold), for when the catalog is gone: the WAL files
// their listings name, and each base backup whose sidecar is readable and
// whose file is listed.
func FromPlaces(ctx context.Context, cfg config.Config, systemID uint64) (pitrplan.Archive, uint64, error) {
	a := pitrplan.Archive{SegSize: wal.DefaultSegmentSize}
	places, err := OpenPlaces(cfg)
	if err != nil {
		return a, 0, err
	}
	defer places.Close()
	var names []string
	var failed []error
	for _, st := range places.Stores {
		objs, err := st.List(ctx)
		if err != nil {
			failed = append(failed, fmt.Errorf("list %s: %w", st, err))
			continue
		}
		for _, o := range objs {
			names = append(names, o.Name)
		}
	}
	clusters := ReadListing(names)
	if systemID == 0 {
		if len(clusters) != 1 {
			ids := make([]string, 0, len(clusters))
			for id := range clusters {
				ids = append(ids, strconv.FormatUint(id, 10))
			}
			sort.Strings(ids)
			return a, 0, errors.Join(append(failed, fmt.Errorf("the places hold %d clusters' archives (%s): choose one with --system-id", len(ids), strings.Join(ids, ", ")))...)
		}
		for id := range clusters {
			systemID = id
		}
	}
	l := clusters[systemID]
	if l == nil {
		return a, systemID, errors.Join(append(failed, fmt.Errorf("no place holds an archive of cluster %d", systemID))...)
	}
	a.Files = l.Files
	dec, err := crypt.IdentityFile(cfg.Encryption.IdentityFile)
	if err != nil {
		failed = append(failed, fmt.Errorf("BACKUP_ENCRYPTION_IDENTITY_FILE: %w", err))
	}
	for tli, key := range l.Histories {
		text, err := fetchSmall(ctx, places.Stores, key, dec)
		if err == nil {
			var switches []wal.Switch
			if switches, err = wal.ParseHistory(tli, text); err == nil {
				if a.Histories == nil {
					a.Histories = map[uint32][]wal.Switch{}
				}
				a.Histories[tli] = switches
				continue
			}
		}
		failed = append(failed, fmt.Errorf("%s: %w", key, err))
	}
	for _, key := range l.Sidecars {
		b, err := readSidecar(ctx, places.Stores, key)
		if err != nil {
			failed = append(failed, err)
			continue
		}
		if b.Status != "success" || b.FinishedAt == nil || !l.Bases[b.ObjectKey] {
			continue
		}
		start, err1 := wal.ParseLSN(b.StartLSN)
		end, err2 := wal.ParseLSN(b.EndLSN)
		if errors.Join(err1, err2) != nil {
			continue
		}
		a.Bases = append(a.Bases, pitrplan.Base{Label: b.Label, Key: b.ObjectKey, Timeline: b.Timeline, Start: start, End: end,
			Finished: *b.FinishedAt, Format: b.CompressionFormat, Encrypted: b.Encrypted, StoredSHA256: b.StoredSHA256})
	}
	if len(a.Bases) == 0 && len(failed) > 0 {
		return a, systemID, errors.Join(failed...)
	}
	return a, systemID, nil
}

// readSidecar reads a base backup's sidecar from the first place that
// has a readable one.
func readSidecar(ctx context.Context, stores []destination.Store, key string) (catalog.BaseBackup, error) {
	var failed []error
	for _, st := range stores {
		r, err := st.Open(ctx, key)
		if err != nil {
			if !errors.Is(err, destination.ErrNotFound) {
				failed = append(failed, err)
			}
			continue
		}
		var b catalog.BaseBackup
		err = json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&b)
		r.Close()
		if err == nil {
			return b, nil
		}
		failed = append(failed, fmt.Errorf("%s in %s: %w", key, st, err))
	}
	return catalog.BaseBackup{}, errors.Join(append(failed, fmt.Errorf("%s: %w", key, destination.ErrNotFound))...)
}

// StoredForm is how a stored file's name says it was stored: its
// compression, and whether it is encrypted.
func StoredForm(name string) (format archive.Format, encrypted bool) {
	encrypted = strings.HasSuffix(name, ".age")
	name = strings.TrimSuffix(name, ".age")
	for _, f := range archive.Formats {
		if ext := strings.TrimPrefix(archive.Extension(f), ".dump"); ext != "" && strings.HasSuffix(name, ext) {
			return f, encrypted
		}
	}
	return archive.None, encrypted
}

// fetchSmall reads a small stored file (a history file) whole.
func fetchSmall(ctx context.Context, stores []destination.Store, key string, dec *crypt.Decrypter) (string, error) {
	format, encrypted := StoredForm(key)
	if encrypted && dec == nil {
		return "", errors.New("encrypted: set BACKUP_ENCRYPTION_IDENTITY_FILE")
	}
	if !encrypted {
		dec = nil
	}
	var buf bytes.Buffer
	err := sealed.Fetch(ctx, stores, key, format, dec, sealed.Expect{}, func() (io.Writer, error) { buf.Reset(); return &buf, nil })
	return buf.String(), err
}
