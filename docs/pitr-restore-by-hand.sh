#!/usr/bin/env bash
# Restore the point-in-time recovery archive BY HAND, without rgz-backup:
# PostgreSQL's own programs (pg_ctl, pg_controldata, psql, of the source's
# major version), tar, gzip/zstd/bzip2, sha256sum, python3, and for an encrypted
# archive the `age` CLI. docs/RESTORE.md, section 4, explains each step.
#
# Set the variables below (or export them) and run, as the user that will
# own the cluster (PostgreSQL refuses root):  bash pitr-restore-by-hand.sh
# It stops at the first error. A test runs this very file on a real
# archive (cmd/rgz-backup/pitr_restore_test.go), so it works as written.
set -euo pipefail

# --- The one set of variables --------------------------------------------
ARCHIVE="${ARCHIVE:-/backups/pitr/7312345678901234567}" # the cluster's archive folder: a copy of pitr/SYSTEM_ID from any place
BASE="${BASE:-}"                                   # the base backup's label (base/LABEL.tar.zst[.age]); default: the newest
TARGET_TIME="${TARGET_TIME:-}"                     # restore to this moment (2026-12-06 14:03:00+00); empty: to the end of the WAL
DATA_DIR="${DATA_DIR:-/var/lib/postgresql/restored}" # a new, empty directory
PORT="${PORT:-5433}"                               # the port the restored cluster listens on
AGE_IDENTITY="${AGE_IDENTITY:-}"                   # encrypted archive (.age files): the age identity file
# ---------------------------------------------------------------------------

step() { printf '\n==> %s\n' "$*"; }

step "1. The base backup"
cd "$ARCHIVE"
if [ -z "$BASE" ]; then
  BASE="$(ls base/ | sed -n 's/\.json$//p' | sort | tail -n 1)"   # labels start with their time: the newest sorts last
fi
base="$(ls "base/$BASE".tar* 2>/dev/null | head -n 1 || true)"     # .tar.gz, .tar.zst, .tar.bz2 or .tar; then .age when encrypted
[ -n "$base" ] || { echo "no base/$BASE.tar* in $ARCHIVE" >&2; exit 1; }
echo "$base"

step "2. Checksum: the file must be what was stored (its sidecar says)"
want="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stored_sha256"])' "base/$BASE.json")"
echo "$want  $base" | sha256sum -c -

step "3. Unpack into $DATA_DIR"
mkdir -p "$DATA_DIR"
chmod 700 "$DATA_DIR"
[ -z "$(ls -A "$DATA_DIR")" ] || { echo "$DATA_DIR is not empty" >&2; exit 1; }
open_file() {   # the file, decrypted when it is an .age file
  case "$1" in
    *.age) [ -n "$AGE_IDENTITY" ] || { echo "$1 is encrypted: set AGE_IDENTITY" >&2; exit 1; }
           age -d -i "$AGE_IDENTITY" "$1" ;;
    *)     cat "$1" ;;
  esac
}
decompress() {  # the decompressor its name says
  case "${1%.age}" in
    *.gz) gzip -dc ;; *.zst) zstd -dc ;; *.bz2) bzip2 -dc ;; *) cat ;;
  esac
}
open_file "$base" | decompress "$base" | tar -x -C "$DATA_DIR"

step "4. Recovery settings: the WAL from the archive, up to the target"
# restore_command: one line that PostgreSQL runs for each WAL file it needs
# (%f its name, %p where to put it): the segment, else its partial copy,
# decrypted when it is an .age file, decompressed; exit 1 when the archive
# does not have it (the end of the WAL), 255 (stop) when it cannot be read.
key="${AGE_IDENTITY:-none}"
fetch="f=%f; d=$ARCHIVE/wal; case \$f in *.history) s=\$d/\$f;; *) s=\$d/\$(echo \$f | cut -c1-16)/\$f;; esac; for x in \$s.gz* \$s.zst* \$s.bz2* \$s.partial.*; do [ -f \$x ] || continue; case \$x in *.age) age -d -i $key \$x;; *) cat \$x;; esac | case \$x in *.gz|*.gz.age) gzip -dc;; *.zst|*.zst.age) zstd -dc;; *.bz2|*.bz2.age) bzip2 -dc;; *) cat;; esac > %p && exit 0; exit 255; done; exit 1"
{
  echo
  echo "# pitr-restore-by-hand.sh"
  echo "port = $PORT"
  echo "listen_addresses = 'localhost'"
  echo "unix_socket_directories = '$DATA_DIR'"
  echo "archive_mode = off"
  echo "restore_command = '$fetch'"
  [ -z "$TARGET_TIME" ] || echo "recovery_target_time = '$TARGET_TIME'"
  echo "recovery_target_action = 'promote'"
  # A server in recovery needs these at least as high as the source had
  # them; pg_control says what they were.
  pg_controldata "$DATA_DIR" | sed -n \
    -e 's/^max_connections setting: *\([0-9]*\)/max_connections = \1/p' \
    -e 's/^max_worker_processes setting: *\([0-9]*\)/max_worker_processes = \1/p' \
    -e 's/^max_wal_senders setting: *\([0-9]*\)/max_wal_senders = \1/p' \
    -e 's/^max_prepared_xacts setting: *\([0-9]*\)/max_prepared_transactions = \1/p' \
    -e 's/^max_locks_per_xact setting: *\([0-9]*\)/max_locks_per_transaction = \1/p'
} >> "$DATA_DIR/postgresql.auto.conf"
[ -f "$DATA_DIR/postgresql.conf" ] || : > "$DATA_DIR/postgresql.conf"   # the source's lived elsewhere (/etc/postgresql)
[ -f "$DATA_DIR/pg_hba.conf" ] || echo "local all all peer" > "$DATA_DIR/pg_hba.conf"
touch "$DATA_DIR/recovery.signal"

step "5. Start, and wait until recovery has reached the target and promoted"
pg_ctl start --pgdata="$DATA_DIR" --log="$DATA_DIR/restore.log" --wait --timeout=86400
until [ "$(psql -h "$DATA_DIR" -p "$PORT" -d postgres -Atc 'SELECT NOT pg_is_in_recovery()' 2>/dev/null)" = t ]; do
  pg_ctl status --pgdata="$DATA_DIR" >/dev/null || { tail -n 20 "$DATA_DIR/restore.log" >&2; exit 1; }
  sleep 1
done
psql -h "$DATA_DIR" -p "$PORT" -d postgres -Atc "SELECT 'restored: last transaction replayed at ' || coalesce(pg_last_xact_replay_timestamp()::text, '(none)')"
echo "running on port $PORT; stop it with: pg_ctl stop --pgdata=$DATA_DIR"
