// Package locate finds a backup's file to read, for every verb that reads
// one (verify, restore, the restore test): the local file, else a copy
// fetched from where copies are (the BACKUP_S3_* bucket, then
// BACKUP_DESTINATIONS), as --from chooses — one decision and one set of
// messages. A fetched copy is checked by the caller (filecheck) like the
// file it stands for.
package locate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/layout"
	"github.com/mosaique/rgz-backup/internal/offsite"
)

// Local is --from local: the local file, never a copy.
const Local = "local"

// Step is where a backup's file is read from.
type Step int

const (
	UseLocal Step = iota // the local file
	Fetch                // a copy, fetched
	Refuse               // --from local without the local file
)

// Decide where to read a file from: from is --from (empty: the local file
// when it is there, else any copy; Local: the local file only; a
// destination's URL or kind: that copy), onDisk whether the local file is
// there and retention has not deleted it.
func Decide(from string, onDisk bool) Step {
	switch {
	case onDisk && (from == "" || from == Local):
		return UseLocal
	case from == Local:
		return Refuse
	}
	return Fetch
}

// Found is a backup's file to read: Where is "" for the local file, else
// the place a copy was fetched from (no secret).
type Found struct {
	Path  string
	Where string
	close func()
}

// Close frees a fetched copy (nothing for a local file).
func (f Found) Close() {
	if f.close != nil {
		f.close()
	}
}

// Dump finds the dump of row. path, when set, is the file a person named:
// used as it is.
func Dump(ctx context.Context, cfg config.Config, row catalog.Execution, from, path string) (Found, error) {
	if path != "" {
		return Found{Path: path}, nil
	}
	local := ""
	if files, err := layout.Of(row, cfg.LocalDir); err == nil {
		local = files.Dump
	}
	return find(ctx, cfg, row, row.Filename, local, from, row.DeletedAt == nil)
}

// Globals finds the globals file of row: beside the dump (beside path when
// a person named the dump's file), else in a copy.
func Globals(ctx context.Context, cfg config.Config, row catalog.Execution, from, path string) (Found, error) {
	if row.GlobalsFilename == nil {
		return Found{}, fmt.Errorf("backup %s has no globals file", row.Filename)
	}
	root, r := cfg.LocalDir, row
	if path != "" {
		root, r.FilePath = filepath.Dir(path), nil // beside the file named
	}
	local := ""
	if files, err := layout.Of(r, root); err == nil {
		local = files.Globals
	}
	// Retention's deletion says nothing of a file a person brought.
	return find(ctx, cfg, row, *row.GlobalsFilename, local, from, path != "" || row.DeletedAt == nil)
}

// find reads file from local when it is there and may be (kept: retention
// has not deleted it), else from a copy, as from chooses.
func find(ctx context.Context, cfg config.Config, row catalog.Execution, file, local, from string, kept bool) (Found, error) {
	onDisk := false
	if local != "" && kept {
		_, err := os.Stat(local)
		onDisk = err == nil
	}
	deleted := row.DeletedAt
	if kept {
		deleted = nil
	}
	switch Decide(from, onDisk) {
	case UseLocal:
		return Found{Path: local}, nil
	case Refuse:
		return Found{}, &Missing{File: file, From: from, Deleted: deleted}
	}
	fetched, err := offsite.FetchFile(ctx, cfg, cfg.LocalDir, row, file, from)
	if err != nil || fetched == nil {
		return Found{}, &Missing{File: file, From: from, Deleted: deleted, Fetch: err}
	}
	return Found{Path: fetched.Path(), Where: fetched.Where, close: func() { fetched.Close() }}, nil
}

// Missing says why a backup's file could not be found.
type Missing struct {
	File    string
	From    string     // --from
	Deleted *time.Time // when retention deleted the local file
	Fetch   error      // the copies could not be read
}

func (m *Missing) Error() string {
	local := m.File + " is not on local disk"
	if m.Deleted != nil {
		local += " (deleted by retention on " + m.Deleted.UTC().Format(time.DateTime) + " UTC)"
	}
	switch {
	case m.From == Local:
		return local
	case m.Fetch != nil:
		return local + ", and its copies cannot be read: " + m.Fetch.Error()
	case m.From != "":
		return m.File + " has no copy in " + m.From
	}
	return local + " and has no copy in S3 or BACKUP_DESTINATIONS"
}
