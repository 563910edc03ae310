package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/crypt"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/filecheck"
	"github.com/mosaique/rgz-backup/internal/locate"
	"github.com/mosaique/rgz-backup/internal/records"
)

func verifyCmd() *cobra.Command {
	var all bool
	var from string
	cmd := &cobra.Command{
		Use:   "verify FILENAME|ID|--all [--from WHERE]",
		Short: "Re-read backups: checksums, full decompression, table of contents",
		Long: `Re-read each backup file: recompute CRC32 and SHA-256 of the file and of
its decompressed content, compare them with the catalog, and check that
pg_restore --list reads the archive's table of contents. Prints one verdict
per file; exits 1 if any is bad.

--all checks every successful (or partial) backup in the catalog that
retention has not deleted. A file gone from the local disk is fetched from
its S3 copy (when BACKUP_S3_ENABLED), else from the first of
BACKUP_DESTINATIONS holding a copy, into a temporary file and checked;
--from local|s3|KIND|URL checks the copy in that place. When the
catalog cannot be reached (it may live in the lost database), the
.manifest.json beside each file says what to expect instead.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if all && len(args) > 0 || !all && len(args) != 1 {
				return fmt.Errorf("give one FILENAME or ID, or --all")
			}
			return nil
		},
		RunE: action(func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			rows, path, err := rowsToVerify(cmd.Context(), cfg, args, all)
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "No backups to verify.")
				return nil
			}
			bad := 0
			tools := dump.Tools{BinDir: cfg.PgBinDir}
			dec, err := crypt.IdentityFile(cfg.Encryption.IdentityFile) // nil: checked without decrypting
			if err != nil {
				return err
			}
			for _, row := range rows {
				checked := checkCopy(cmd.Context(), cfg, tools, row, dec, from, path)
				if len(checked.Problems) == 0 {
					depth := fmt.Sprintf("%d TOC entries", row.ObjectCounts.Entries)
					if checked.Shallow {
						depth = "encrypted: checksums and age header only (no BACKUP_ENCRYPTION_IDENTITY_FILE here)"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "OK   %s  crc32 %s  sha256 %s  %s\n", row.Filename, *row.ChecksumCRC32, *row.ChecksumSHA256, depth)
					continue
				}
				bad++
				fmt.Fprintf(cmd.OutOrStdout(), "BAD  %s  %s\n", row.Filename, strings.Join(checked.Problems, "; "))
			}
			if bad > 0 {
				return fmt.Errorf("%d of %d backups failed verification", bad, len(rows))
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&all, "all", false, "verify every successful backup")
	cmd.Flags().StringVar(&from, "from", "", "check the copy in: local, s3, or one of BACKUP_DESTINATIONS (its URL or kind); default: the local file, else S3, else the destinations")
	return cmd
}

// rowsToVerify says what each file should be: from the catalog (only
// read), or from the manifests when the catalog is unreachable or does
// not know the backup named (records.Find, records.FirstOnDisk).
//
// A path named (rather than a backup's name) is returned: it is checked
// there.
func rowsToVerify(ctx context.Context, cfg config.Config, args []string, all bool) ([]catalog.Execution, string, error) {
	if !all {
		row, path, err := rowForRestore(ctx, cfg, args[0])
		if err != nil && row.ID != "" && row.Status == catalog.StatusFailed {
			return []catalog.Execution{row}, "", nil // verify says what the failed attempt was
		}
		return []catalog.Execution{row}, path, err
	}
	readers, done := recordReaders(ctx, cfg)
	defer done()
	rows, _, err := records.FirstOnDisk(ctx, readers)
	return rows, "", err
}

// checkCopy checks the backup's copy in from (see --from): the local file,
// or a copy (S3's, a destination's) fetched into a file no name reaches
// (locate.Dump).
func checkCopy(ctx context.Context, cfg config.Config, tools dump.Tools, row catalog.Execution, dec *crypt.Decrypter, from, path string) filecheck.Checked {
	if row.Status == catalog.StatusFailed && path == "" {
		return filecheck.Backup(ctx, tools, cfg.LocalDir, row, dec) // says what the failed attempt was
	}
	found, err := locate.Dump(ctx, cfg, row, from, path)
	if err != nil {
		return filecheck.Checked{Problems: []string{err.Error()}}
	}
	defer found.Close()
	checked := filecheck.At(ctx, tools, found.Path, row, dec)
	if found.Where != "" {
		for i, p := range checked.Problems {
			checked.Problems[i] = "the copy in " + found.Where + ": " + p
		}
	}
	return checked
}
