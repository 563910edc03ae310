package pitr

import (
	"slices"
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
