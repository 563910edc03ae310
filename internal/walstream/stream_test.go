package walstream

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
	"github.com/mosaique/rgz-backup/internal/wal"
	"github.com/mosaique/rgz-backup/internal/walship"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

func TestBackoff(t *testing.T) {
	for failures, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 7: time.Minute, 100: time.Minute} {
		if got := Backoff(failures); got != want {
			t.Errorf("Backoff(%d) = %s, want %s", failures, got, want)
		}
	}
}

// A server that would let an unread slot fill its disk and a role that may
// not replicate are refused with what to change; then the slot is made.
// (It runs before the stream test, which sets max_slot_wal_keep_size.)
func TestPreflight(t *testing.T) {
	ctx := context.Background()
	db := cluster.NewDatabase(t)
	conn := cluster.Conn(t, db)
	if _, err := Preflight(ctx, conn, "t_pre"); !errors.Is(err, ErrUnfit) || !strings.Contains(err.Error(), "max_slot_wal_keep_size is -1") {
		t.Fatalf("no max_slot_wal_keep_size: %v", err)
	}
	limitSlots(t)
	if _, err := conn.Exec(ctx, `CREATE ROLE t_norepl LOGIN`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Conn(t, "postgres").Exec(context.Background(), `DROP ROLE t_norepl`) })
	weak := cluster.Conn(t, db)
	if _, err := weak.Exec(ctx, `SET ROLE t_norepl`); err != nil {
		t.Fatal(err)
	}
	if _, err := Preflight(ctx, weak, "t_pre"); !errors.Is(err, ErrUnfit) || !strings.Contains(err.Error(), `ALTER ROLE "t_norepl" REPLICATION`) {
		t.Fatalf("a role without REPLICATION: %v", err)
	}
	srv, err := Preflight(ctx, conn, "t_pre")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropSlot(t, "t_pre") })
	if srv.SystemID == 0 || srv.SegSize != wal.DefaultSegmentSize || srv.Major < 15 || srv.KeepSize != "1GB" {
		t.Fatalf("%+v", srv)
	}
	var reserved bool
	if err := conn.QueryRow(ctx, `SELECT restart_lsn IS NOT NULL FROM pg_replication_slots WHERE slot_name = 't_pre'`).Scan(&reserved); err != nil || !reserved {
		t.Fatalf("the slot holds no WAL back yet: %v", err)
	}
	if _, err := Preflight(ctx, conn, "t_pre"); err != nil {
		t.Fatalf("again, with the slot there: %v", err)
	}

	// A tablespace besides the default ones: refused, said why.
	space := filepath.Join(cluster.Dir, "space")
	if err := os.Mkdir(space, 0o700); err != nil {
		t.Fatal(err)
	}
	if cred := cluster.Owner(); cred != nil {
		if err := os.Chown(space, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	admin := cluster.Conn(t, "postgres")
	if _, err := admin.Exec(ctx, `CREATE TABLESPACE t_space LOCATION '`+space+`'`); err != nil {
		t.Fatal(err)
	}
	_, err = Inspect(ctx, conn)
	if _, derr := admin.Exec(ctx, `DROP TABLESPACE t_space`); derr != nil {
		t.Fatal(derr)
	}
	if !errors.Is(err, ErrUnfit) || !strings.Contains(err.Error(), "tablespaces") {
		t.Fatalf("a server with a tablespace: %v", err)
	}
}

// What a pg_receivewal killed while it created a segment file leaves: a
// file of zeros shorter than a segment goes; one with data is moved aside,
// kept; whole and empty ones stay.
func TestRepairSpool(t *testing.T) {
	dir := t.TempDir()
	const size = wal.DefaultSegmentSize
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("000000010000000000000002.partial", make([]byte, 11051008))
	data := make([]byte, 4096)
	data[100] = 1
	write("000000010000000000000003.partial", data)
	write("000000010000000000000004.partial", nil)
	write("000000010000000000000001", make([]byte, 10)) // not partial: never touched here
	if err := RepairSpool(dir, size, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{".damaged-000000010000000000000003.partial", "000000010000000000000001", "000000010000000000000004.partial"}
	if !slices.Equal(names, want) {
		t.Fatalf("%v, want %v", names, want)
	}
}

// limitSlots sets max_slot_wal_keep_size on the package's cluster.
func limitSlots(t *testing.T) {
	t.Helper()
	admin := cluster.Conn(t, "postgres")
	if _, err := admin.Exec(context.Background(), `ALTER SYSTEM SET max_slot_wal_keep_size = '1GB'`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(context.Background(), `SELECT pg_reload_conf()`); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var v string
		if admin.QueryRow(context.Background(), `SELECT setting FROM pg_settings WHERE name = 'max_slot_wal_keep_size'`).Scan(&v); v != "-1" {
			return
		}
	}
	t.Fatal("max_slot_wal_keep_size not reloaded")
}

func dropSlot(t *testing.T, slot string) {
	c := cluster.Conn(t, "postgres")
	c.Exec(context.Background(), `SELECT pg_drop_replication_slot($1)`, slot)
}

// The stream as the daemon runs it: pg_receivewal killed twice while the
// server writes, started again each time; the archive ends up continuous
// from the first segment to the last one switched, a segment shipped again
// only with the same bytes, and the spool empty of finished files.
func TestStreamSurvivesAKilledReceiver(t *testing.T) {
	ctx := context.Background()
	limitSlots(t)
	db := cluster.NewDatabase(t)
	conn := cluster.Conn(t, db)
	srv, err := Preflight(ctx, conn, "t_stream")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropSlot(t, "t_stream") })
	spool := filepath.Join(t.TempDir(), "spool")
	store := destination.Dir{Root: filepath.Join(t.TempDir(), "archive")}
	magic, _ := wal.MagicOf(srv.Major)
	shipped := map[wal.Segment]wal.LSN{}
	sums := map[wal.Segment]string{}
	s := &Stream{
		Server: config.Database{URL: cluster.URL(db)}, Slot: "t_stream", ShipEvery: 200 * time.Millisecond, Poll: 50 * time.Millisecond,
		Ship: &walship.Shipper{Spool: spool, Expect: wal.Expect{SystemID: srv.SystemID, Magic: magic, SegSize: srv.SegSize},
			Format: archive.Zstd, Level: 1, Stores: []destination.Store{store},
			Record: func(_ context.Context, f walship.Shipped) error {
				if !f.History && !f.Partial {
					// A receiver started again streams from the slot, which
					// may be behind what was shipped: the same segment
					// again, whole, and byte for byte the same.
					if sum, again := sums[f.Segment]; again && sum != f.RawSHA256 {
						t.Errorf("%s shipped again with other bytes", f.Name)
					}
					shipped[f.Segment], sums[f.Segment] = f.End, f.RawSHA256
				}
				return nil
			}},
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stop()
			<-done
		}
	})
	var startLSN string
	if err := conn.QueryRow(ctx, `SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = 't_stream'`).Scan(&startLSN); err != nil {
		t.Fatal(err)
	}
	from, err := wal.ParseLSN(startLSN)
	if err != nil {
		t.Fatal(err)
	}
	first, last := wal.SegmentOf(1, from, srv.SegSize), wal.Segment{}
	for round := range 3 {
		if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS load (n int); INSERT INTO load SELECT generate_series(1, 20000)`); err != nil {
			t.Fatal(err)
		}
		var name string
		if err := conn.QueryRow(ctx, `SELECT pg_walfile_name(pg_switch_wal())`).Scan(&name); err != nil {
			t.Fatal(err)
		}
		last, _, _ = wal.ParseSegmentName(name, srv.SegSize)
		if round < 2 {
			killReceiver(t, spool)
		}
	}
	waitFor(t, "the last switched segment in the archive", func() bool {
		_, err := store.Stat(ctx, walship.Key(srv.SystemID, walship.File{Name: last.Name(srv.SegSize), Segment: last}, s.Ship.Ext()))
		return err == nil
	})
	if _, err := conn.Exec(ctx, `INSERT INTO load VALUES (-1)`); err != nil { // WAL after the last switch
		t.Fatal(err)
	}
	waitFor(t, "a partial copy of the segment being written", func() bool { return s.State().PartialUntil > last.End(srv.SegSize) })
	stop()
	<-done
	stopped = true
	st := s.State()
	if st.Restarts < 2 {
		t.Errorf("pg_receivewal started again %d times, want 2 or more", st.Restarts)
	}
	path := wal.Path{Timeline: 1}
	reach := path.Reach(first.Start(srv.SegSize), srv.SegSize, func(seg wal.Segment) (wal.LSN, bool) { end, ok := shipped[seg]; return end, ok })
	if reach < last.End(srv.SegSize) {
		t.Fatalf("the archive replays from %s only to %s; the last switched segment ends at %s (shipped %d segments)",
			first.Name(srv.SegSize), reach, last.End(srv.SegSize), len(shipped))
	}
	entries, _ := os.ReadDir(spool)
	for _, e := range entries {
		if seg, partial, err := wal.ParseSegmentName(e.Name(), srv.SegSize); err == nil && !partial && seg.No <= last.No {
			t.Errorf("%s still in the spool", e.Name())
		}
	}
}

// killReceiver SIGKILLs the pg_receivewal writing into spool, and waits
// until the stream has started another.
func killReceiver(t *testing.T, spool string) {
	t.Helper()
	find := func() int {
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			b, err := os.ReadFile(p)
			if err == nil && bytes.Contains(b, []byte("pg_receivewal")) && bytes.Contains(b, []byte("--directory="+spool+"\x00")) {
				var pid int
				for _, c := range filepath.Base(filepath.Dir(p)) {
					pid = pid*10 + int(c-'0')
				}
				return pid
			}
		}
		return 0
	}
	var pid int
	waitFor(t, "pg_receivewal running", func() bool { pid = find(); return pid != 0 })
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pg_receivewal started again", func() bool { p := find(); return p != 0 && p != pid })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestSlotEndangered(t *testing.T) {
	for _, tc := range []struct {
		slot Slot
		want bool
	}{
		{Slot{Status: "reserved", SafeBytes: 900 << 20, LimitBytes: 1 << 30}, false},
		{Slot{Status: "extended", SafeBytes: 200 << 20, LimitBytes: 1 << 30}, true},
		{Slot{Status: "unreserved", SafeBytes: 0, LimitBytes: 1 << 30}, true},
		{Slot{Status: "reserved", SafeBytes: -1, LimitBytes: -1}, false}, // no limit: the preflight refuses it
	} {
		if got := tc.slot.Endangered(); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.slot, got, tc.want)
		}
	}
}
