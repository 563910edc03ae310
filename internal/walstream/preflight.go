// Package walstream keeps a server's write-ahead log streaming into the
// archive (issue 28, docs/PITR.md): it checks that the server can stream
// without endangering its own disk, makes the physical replication slot,
// runs pg_receivewal into the spool (started again, after a pause that
// grows, whenever it stops), and ships what the spool holds with walship —
// the finished files as they come, the segment being written every few
// seconds.
package walstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/mosaique/rgz-backup/internal/wal"
)

// Server is what the archive needs to know of the server it streams.
type Server struct {
	SystemID uint64
	SegSize  int64
	Major    int    // PostgreSQL major version
	KeepSize string // max_slot_wal_keep_size, as the server shows it
	// SlotCreated: Preflight made the slot (it was not there): the
	// server streams from now on, not from where an earlier slot was.
	SlotCreated bool
}

// ErrUnfit is Preflight's error for a server that cannot stream safely:
// the message says what to change.
var ErrUnfit = errors.New("the server cannot stream its WAL to rgz-backup")

// Preflight checks, over conn (any database of the server, as the
// configured role), that the server can stream safely, and makes the slot
// if it is missing: the role may replicate, the server keeps WAL for
// replicas, and max_slot_wal_keep_size bounds what a slot holds back — a
// slot that nobody reads would otherwise fill the server's disk. A slot
// the server already lost (its WAL removed) is an error too: the archive
// has a gap from there.
func Preflight(ctx context.Context, conn *pgx.Conn, slot string) (Server, error) {
	s, err := Inspect(ctx, conn)
	if err != nil {
		return Server{}, err
	}
	s.SlotCreated, err = ensureSlot(ctx, conn, slot)
	return s, err
}

// Inspect is Preflight without the slot: what the server is, and whether
// it can stream safely.
func Inspect(ctx context.Context, conn *pgx.Conn) (Server, error) {
	var s Server
	var role, walLevel, keep, segSize, version, senders, sysid string
	var mayReplicate bool
	var tablespaces int
	err := conn.QueryRow(ctx, `SELECT current_user, coalesce((SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user), false),
		current_setting('wal_level'), current_setting('max_slot_wal_keep_size'),
		(SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'), current_setting('server_version_num'),
		current_setting('max_wal_senders'), (SELECT system_identifier::text FROM pg_control_system()),
		(SELECT count(*) FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global'))`).
		Scan(&role, &mayReplicate, &walLevel, &keep, &segSize, &version, &senders, &sysid, &tablespaces)
	if err != nil {
		return Server{}, fmt.Errorf("read the server's settings: %w", err)
	}
	s.KeepSize = keep
	if s.SystemID, err = strconv.ParseUint(sysid, 10, 64); err != nil {
		return Server{}, fmt.Errorf("system identifier %q: %w", sysid, err)
	}
	if s.SegSize, err = strconv.ParseInt(segSize, 10, 64); err != nil || wal.CheckSegmentSize(s.SegSize) != nil {
		return Server{}, fmt.Errorf("wal_segment_size %q: not a size this version reads", segSize)
	}
	n, _ := strconv.Atoi(version)
	s.Major = n / 10000
	switch {
	case s.SegSize != wal.DefaultSegmentSize:
		// The archive's names, its listings and retention read 16 MB
		// segments; another size would be misnumbered.
		return Server{}, fmt.Errorf("%w: wal_segment_size is %d bytes; point-in-time recovery supports the default, 16 MB, for now", ErrUnfit, s.SegSize)
	case tablespaces > 0:
		return Server{}, fmt.Errorf("%w: the server has %d tablespaces besides pg_default and pg_global; base backups of tablespaces are not supported yet "+
			"(a plain pg_basebackup would write them to their original paths)", ErrUnfit, tablespaces)
	case s.Major < 15:
		return Server{}, fmt.Errorf("%w: PostgreSQL %d; point-in-time recovery needs 15 or later", ErrUnfit, s.Major)
	case !mayReplicate:
		return Server{}, fmt.Errorf("%w: role %s may not replicate: ALTER ROLE %s REPLICATION, and a \"host replication %s …\" line in pg_hba.conf",
			ErrUnfit, role, pgx.Identifier{role}.Sanitize(), role)
	case walLevel != "replica" && walLevel != "logical":
		return Server{}, fmt.Errorf("%w: wal_level is %s: set it to replica (and restart the server)", ErrUnfit, walLevel)
	case senders == "0":
		return Server{}, fmt.Errorf("%w: max_wal_senders is 0: set it to at least 2 (and restart the server)", ErrUnfit)
	case keep == "-1":
		return Server{}, fmt.Errorf("%w: max_slot_wal_keep_size is -1 (no limit): if rgz-backup stopped reading, its slot would keep every WAL file "+
			"until the server's disk is full. Set it to what that disk can spare beyond the server's own WAL "+
			"(ALTER SYSTEM SET max_slot_wal_keep_size = '20GB'; SELECT pg_reload_conf(); docs/PITR.md)", ErrUnfit)
	}
	return s, nil
}

// ErrSlotLost is a slot whose WAL the server removed before it was read
// (max_slot_wal_keep_size reached): the archive has a gap from there, and
// only a new base backup starts a new restorable window.
var ErrSlotLost = errors.New("the replication slot was lost")

func ensureSlot(ctx context.Context, conn *pgx.Conn, slot string) (created bool, err error) {
	var kind, status string
	err = conn.QueryRow(ctx, `SELECT slot_type, coalesce(wal_status, '') FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&kind, &status)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := conn.Exec(ctx, `SELECT pg_create_physical_replication_slot($1, true)`, slot); err != nil {
			return false, fmt.Errorf("create the replication slot %s: %w", slot, err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("read the replication slot %s: %w", slot, err)
	case kind != "physical":
		return false, fmt.Errorf("%w: the slot %s is a %s slot, not one of rgz-backup's: choose another BACKUP_PITR_SLOT", ErrUnfit, slot, kind)
	case status == "lost":
		return false, fmt.Errorf("%w: %s (the server removed WAL it held back past max_slot_wal_keep_size)", ErrSlotLost, slot)
	}
	return false, nil
}
