// Package restore brings a backup back into a database. The file is found
// (on local disk, or fetched from S3), checked against its recorded
// checksums before anything is restored (and decompressed in the same pass
// when the backup directory has room, for a parallel pg_restore; else it
// streams into a single-job one), restored, and compared with what the
// backup recorded: schema objects, and exact row counts from the backup's
// snapshot, then ANALYZE. Into is the disaster-recovery restore into a
// named database, with or without the catalog; the weekly restore test
// (package restoretest) runs a Job into a scratch database and adds its
// own checks.
package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/crypt"
	"github.com/mosaique/rgz-backup/internal/dbconn"
	"github.com/mosaique/rgz-backup/internal/disk"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/filecheck"
	"github.com/mosaique/rgz-backup/internal/locate"
	"github.com/mosaique/rgz-backup/internal/rowcount"
	"github.com/mosaique/rgz-backup/internal/toc"
)

// Job is one backup on its way into one database.
type Job struct {
	Config   config.Config
	Row      catalog.Execution // from the catalog, or from the file's manifest
	Database string            // the database it goes into, for messages
	Log      *slog.Logger
	// FreeBytes says how much room the backup directory has for the
	// decompressed archive (RoomToDecompress); default: its file system's
	// free space.
	FreeBytes func(dir string) (uint64, error)
	// Mode says how the archive reached pg_restore, once it has.
	Mode string
	// From chooses where the file is read: "local", "s3", or one of
	// BACKUP_DESTINATIONS (its URL or its kind); empty: the local file,
	// else S3, else the first destination holding a copy.
	From string
	// Path is a file a person named (restore PATH): it is read there,
	// wherever it is, and nowhere else.
	Path string
}

func (j *Job) tools() dump.Tools { return dump.Tools{BinDir: j.Config.PgBinDir} }

// RoomToDecompress says whether free bytes hold a decompressed archive of
// raw bytes with a margin (10 % and 1 GiB), for a parallel restore from a
// file; without, the archive streams into a single-job pg_restore.
func RoomToDecompress(free, raw uint64) bool { return free >= raw+raw/10+(1<<30) }

func freeBytes(dir string) (uint64, error) {
	usage, err := disk.UsageOf(dir)
	return usage.Free, err
}

// RestoreFrom restores the backup into db: with parallel pg_restore jobs
// from the decompressed file plain when there is one, else streamed from
// the compressed file at path into a single-job pg_restore. started is
// told the mode first.
func (j *Job) RestoreFrom(ctx context.Context, path string, plain *os.File, db config.Database, jobs int, started func(mode string), extra ...string) error {
	if plain == nil {
		started(j.Mode)
		return j.streamRestore(ctx, path, db)
	}
	j.Mode = fmt.Sprintf("parallel pg_restore -j %d from a decompressed temporary file (unnamed: freed with the process)", jobs)
	started(j.Mode)
	return j.tools().Restore(ctx, db, plain, jobs, extra...)
}

// Compare counts the restored copy's objects and rows against what the
// backup recorded, then ANALYZEs the copy. It returns the differences and
// the connection to the copy, which the caller closes (nil on error).
func (j *Job) Compare(ctx context.Context, db config.Database, appName string) ([]string, *pgx.Conn, error) {
	objects, err := j.countObjects(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	mismatches := CompareObjects(j.Row.ObjectCounts, objects)
	conn, err := dbconn.Connect(ctx, db, appName)
	if err != nil {
		return mismatches, nil, fmt.Errorf("connect to %s: %w", j.Database, err)
	}
	rows, err := rowcount.Count(ctx, conn)
	if err == nil {
		mismatches = append(mismatches, CompareRows(j.Row.RowCounts, rows)...)
		if _, err = conn.Exec(ctx, "ANALYZE"); err != nil {
			err = fmt.Errorf("ANALYZE: %w", err)
		}
	}
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return mismatches, nil, err
	}
	return mismatches, conn, nil
}

// LocalFile is the backup's file to read (locate.Dump): the local file,
// else a copy fetched from S3 or a destination, as From chooses.
func (j *Job) LocalFile(ctx context.Context) (string, func(), error) {
	found, err := locate.Dump(ctx, j.Config, j.Row, j.From, j.Path)
	if err != nil {
		return "", nil, err
	}
	if found.Where != "" {
		j.Log.Info("fetched a copy", "from", found.Where)
	}
	return found.Path, found.Close, nil
}

// Verify checks the file against its recorded checksums. With room in the
// backup directory for the decompressed archive, it decompresses into a
// temporary file in the same pass (parallel pg_restore needs a seekable
// file) and returns it; without, it returns nil and the restore will
// stream. The temporary file holds the backup in plaintext: it has no
// name (archive.Unnamed), so that nothing of it survives the process,
// whatever kills it; the function returned frees it sooner.
func (j *Job) Verify(ctx context.Context, path string) (*os.File, func(), error) {
	row := j.Row
	opening, dec, err := j.opening()
	if err != nil {
		return nil, nil, err
	}
	if row.Encrypted { // the stored bytes first, before any decryption; then the key
		if problems := filecheck.Sealed(ctx, path, row); len(problems) > 0 {
			return nil, nil, damaged(problems)
		}
		if err := j.keyOpens(path, dec); err != nil {
			return nil, nil, err
		}
	}
	var raw uint64
	if row.UncompressedSizeBytes != nil {
		raw = uint64(*row.UncompressedSizeBytes)
	}
	measure := j.FreeBytes
	if measure == nil {
		measure = freeBytes
	}
	free, err := measure(j.Config.LocalDir)
	if err != nil || !RoomToDecompress(free, raw) {
		j.Mode = fmt.Sprintf("streamed into a single-job pg_restore: %s has no room for the %d decompressed bytes", j.Config.LocalDir, raw)
		if checked := filecheck.At(ctx, j.tools(), path, row, dec); len(checked.Problems) > 0 {
			return nil, nil, damaged(checked.Problems)
		}
		return nil, func() {}, nil
	}
	tmp, err := archive.Unnamed(j.Config.LocalDir)
	if err != nil {
		return nil, nil, err
	}
	release := func() { tmp.Close() }
	got, err := archive.Check(ctx, path, filecheck.Format(row), tmp, opening...)
	if errors.Is(err, crypt.ErrNoIdentity) {
		release()
		return nil, nil, j.noIdentity()
	}
	problems := archive.Compare(filecheck.Expected(row), got)
	if err != nil {
		problems = append(archive.CompareStored(filecheck.Expected(row), got), err.Error())
	}
	if len(problems) > 0 {
		release()
		return nil, nil, damaged(problems)
	}
	return tmp, release, nil
}

// opening is how the job reads the backup: decrypted with the identity of
// BACKUP_ENCRYPTION_IDENTITY_FILE when the backup is encrypted.
func (j *Job) opening() ([]archive.ReadOption, *crypt.Decrypter, error) {
	if !j.Row.Encrypted {
		return nil, nil, nil
	}
	dec, err := crypt.IdentityFile(j.Config.Encryption.IdentityFile)
	if err != nil {
		return nil, nil, fmt.Errorf("BACKUP_ENCRYPTION_IDENTITY_FILE: %w", err)
	}
	if dec == nil {
		return nil, nil, fmt.Errorf("backup %s is encrypted: set BACKUP_ENCRYPTION_IDENTITY_FILE to the age identity of one of its recipients (%s); nothing was restored",
			j.Row.Filename, strings.Join(j.Row.EncryptionRecipients, ", "))
	}
	return []archive.ReadOption{archive.OpenedBy(dec.Open)}, dec, nil
}

// keyOpens says whether the identity opens the file's header.
func (j *Job) keyOpens(path string, dec *crypt.Decrypter) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = dec.Matches(f)
	if errors.Is(err, crypt.ErrNoIdentity) {
		return j.noIdentity()
	}
	return err
}

func (j *Job) noIdentity() error {
	return fmt.Errorf("backup %s: the identity in %s matches none of its recipients (%s); nothing was restored",
		j.Row.Filename, j.Config.Encryption.IdentityFile, strings.Join(j.Row.EncryptionRecipients, ", "))
}

func damaged(problems []string) error {
	return fmt.Errorf("the file does not match its recorded checksums, nothing was restored: %s", strings.Join(problems, "; "))
}

// streamRestore decompresses the file straight into pg_restore's stdin.
func (j *Job) streamRestore(ctx context.Context, path string, db config.Database) error {
	opening, _, err := j.opening()
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := archive.Check(ctx, path, filecheck.Format(j.Row), pw, opening...)
		pw.CloseWithError(err)
	}()
	err = j.tools().RestoreStream(ctx, db, pr)
	pr.CloseWithError(io.ErrClosedPipe)
	return err
}

func (j *Job) countObjects(ctx context.Context, db config.Database) (toc.Counts, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(j.tools().DumpSchema(ctx, db, pw)) }()
	listing, err := j.tools().ListTOC(ctx, pr)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return toc.Counts{}, fmt.Errorf("list the restored copy's objects: %w", err)
	}
	entries, err := toc.Parse(listing)
	if err != nil {
		return toc.Counts{}, err
	}
	return toc.Count(entries), nil
}
