package pitr

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRecoverySettings(t *testing.T) {
	t.Parallel()
	out := `pg_control version number:            1300
wal_level setting:                    replica
max_connections setting:              200
max_worker_processes setting:         8
max_wal_senders setting:              10
max_prepared_xacts setting:           0
max_locks_per_xact setting:           64
track_commit_timestamp setting:       off
Mock authentication nonce:            6f
`
	want := []string{"max_connections = 200", "max_locks_per_transaction = 64", "max_prepared_transactions = 0",
		"max_wal_senders = 10", "max_worker_processes = 8"}
	if got := RecoverySettings(out); !slices.Equal(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
}

// What a stopped restore says: its fatal error, where the WAL ended and
// the last file restored, not our own attempts to connect meanwhile.
func TestLogErrors(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "rgz-restore.log")
	text := `2026-12-07 00:27:40.1 UTC [906] LOG:  starting point-in-time recovery to 2026-12-07 00:27:28.561+00
2026-12-07 00:27:41.2 UTC [906] LOG:  restored log file "000000010000000000000002" from archive
2026-12-07 00:27:42.0 UTC [906] LOG:  restored log file "000000010000000000000003" from archive
2026-12-07 00:27:43.870 UTC [10562] FATAL:  the database system is not yet accepting connections
2026-12-07 00:27:44.1 UTC [906] LOG:  redo done at 0/3004A10 system usage: CPU: user: 0.00 s
2026-12-07 00:27:44.1 UTC [906] LOG:  last completed transaction was at log time 2026-12-07 00:27:27.9+00
2026-12-07 00:27:44.2 UTC [906] FATAL:  recovery ended before configured recovery target was reached
`
	if err := os.WriteFile(log, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	got := logErrors(log)
	for _, want := range []string{"recovery ended before configured recovery target was reached", "redo done at 0/3004A10",
		"last completed transaction was at log time 2026-12-07 00:27:27.9", `the last WAL file restored: 2026-12-07 00:27:42.0 UTC [906] LOG:  restored log file "000000010000000000000003"`} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "not yet accepting connections") {
		t.Errorf("our own connection attempts in %q", got)
	}
}
