#!/usr/bin/env bash
# Restore an rgz-backup backup BY HAND, without rgz-backup: on any machine
# with the PostgreSQL client (psql, createdb, pg_restore), gzip/zstd/bzip2,
# sha256sum, python3, and for an encrypted backup (FILE.dump.gz.age) the
# `age` CLI. docs/RESTORE.md, section 2, explains each step.
#
# Set the variables below (or export them), then run:  bash restore-by-hand.sh
# It stops at the first error. A test runs this very file on a real backup
# (cmd/rgz-backup/restore_test.go), so it works as written.
set -euo pipefail

# --- The one set of variables --------------------------------------------
BACKUP_DIR="${BACKUP_DIR:-/backups}"              # where the backup's files are (several databases: /backups/TARGET/DATABASE)
BACKUP="${BACKUP:-20260205_030015.dump.gz}"       # the backup file (.dump.gz, .dump.zst, .dump.bz2 or .dump; then .age if encrypted)
AGE_IDENTITY="${AGE_IDENTITY:-}"                  # encrypted backups: the age identity file (AGE-SECRET-KEY-1…, or an SSH private key)
export PGHOST="${PGHOST:-new-db}"                 # the server to restore onto
export PGPORT="${PGPORT:-5432}"
export PGUSER="${PGUSER:-postgres}"               # a superuser there (PGPASSWORD, or ~/.pgpass)
TARGET_DB="${TARGET_DB:-rgz}"                     # the database to create and fill
JOBS="${JOBS:-4}"                                 # parallel pg_restore jobs: the server's cores
WORK="${WORK:-/var/tmp}"                          # room for the decompressed dump (4-5x the file)
# ---------------------------------------------------------------------------

step() { printf '\n==> %s\n' "$*"; }

# open FILE: its content on stdout, decrypted with age when it is an age file.
open_file() {
  case "$1" in
    *.age) [ -n "$AGE_IDENTITY" ] || { echo "$1 is encrypted: set AGE_IDENTITY to your age identity file" >&2; exit 1; }
           age -d -i "$AGE_IDENTITY" "$1" ;;
    *)     cat "$1" ;;
  esac
}

step "1. In the backup's directory"
cd "$BACKUP_DIR"
stem="${BACKUP%%.*}"                              # 20260205_030015
if [ -z "$AGE_IDENTITY" ] && ls "$stem".*.age >/dev/null 2>&1; then
  echo "$BACKUP_DIR holds encrypted files of this backup: set AGE_IDENTITY to your age identity file" >&2
  exit 1
fi
dump=""
# The decompressed dump is the database in plaintext: gone however this ends.
trap '[ -n "$dump" ] && [ "$dump" != "$BACKUP_DIR/$BACKUP" ] && rm -f "$dump"' EXIT

step "2. Checksums: a damaged file restores garbage, or fails halfway"
sha256sum -c "$BACKUP.sha256"

step "3. Roles and tablespaces (errors about roles that exist are harmless)"
globals="$(ls "$stem".globals.sql.gz "$stem".globals.sql.gz.age 2>/dev/null | head -n 1 || true)"
if [ -n "$globals" ]; then
  open_file "$globals" | gunzip -c | psql -X -q -d postgres -v ON_ERROR_STOP=0 >/dev/null 2>"$WORK/rgz-globals.log" || true
  echo "applied $globals (messages in $WORK/rgz-globals.log)"
else
  echo "no globals file: roles must exist already"
fi

step "4. The empty database"
createdb "$TARGET_DB"

step "5. Decrypt (.age) and decompress (pg_restore runs in parallel only from a file)"
dump="$WORK/$stem.dump"
case "${BACKUP%.age}" in
  *.dump.gz)  open_file "$BACKUP" | gunzip -c > "$dump" ;;
  *.dump.zst) open_file "$BACKUP" | zstd -q -dc > "$dump" ;;
  *.dump.bz2) open_file "$BACKUP" | bzip2 -dc > "$dump" ;;
  *.dump)     if [ "$BACKUP" = "${BACKUP%.age}" ]; then dump="$BACKUP_DIR/$BACKUP"; else open_file "$BACKUP" > "$dump"; fi ;;
  *)          echo "unknown backup format: $BACKUP" >&2; exit 1 ;;
esac

step "6. Restore"
pg_restore --jobs "$JOBS" --exit-on-error --dbname "$TARGET_DB" "$dump"

step "7. Statistics"
psql -X -q -d "$TARGET_DB" -c 'ANALYZE'

step "8. Every table with exactly the rows the backup counted in its snapshot"
# row_counts keys are schema.table, unquoted: quote each part for SQL.
python3 - "$BACKUP.manifest.json" > "$WORK/rgz-counts.sql" <<'PY'
import json, sys
counts = json.load(open(sys.argv[1]))["row_counts"]
quote = lambda name: '"' + name.replace('"', '""') + '"'
literal = lambda text: "'" + text.replace("'", "''") + "'"
parts = []
for key, want in sorted(counts.items()):
    schema, table = key.split(".", 1)
    parts.append("SELECT %s AS tbl, %d AS want, (SELECT count(*) FROM %s.%s) AS got"
                 % (literal(key), want, quote(schema), quote(table)))
print("SELECT tbl, want, got FROM (" + (" UNION ALL ".join(parts) or "SELECT '' AS tbl, 0 AS want, 0 AS got WHERE false") + ") c WHERE want <> got;")
PY
diffs="$(psql -X -At -F ' ' -d "$TARGET_DB" -f "$WORK/rgz-counts.sql")"
rm -f "$WORK/rgz-counts.sql"
if [ -n "$diffs" ]; then
  echo "TABLES THAT DIFFER (table, rows in the backup, rows restored):" >&2
  echo "$diffs" >&2
  exit 1
fi
echo "every table holds exactly the rows of the backup ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["row_counts"]))' "$BACKUP.manifest.json") tables)"

step "Done: $TARGET_DB restored from $BACKUP. Repoint the applications (docs/RESTORE.md, runbook step 5)."
