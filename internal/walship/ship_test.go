package walship

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/mosaique/rgz-backup/internal/archive"
	"github.com/mosaique/rgz-backup/internal/config"
	"github.com/mosaique/rgz-backup/internal/crypt"
	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/dump"
	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
	"github.com/mosaique/rgz-backup/internal/wal"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

func TestReadSpool(t *testing.T) {
	t.Parallel()
	s := Read([]string{
		"000000020000000000000004", "000000010000000000000003", "00000002.history", ".ship",
		"000000020000000000000005.partial", "000000010000000000000004.partial", "000000020000000000000003",
		"notes.txt", "000000010000000000000001.gz", ".000000010000000000000009.tmp",
	}, wal.DefaultSegmentSize)
	var ready []string
	for _, f := range s.Ready {
		ready = append(ready, f.Name)
	}
	want := []string{"00000002.history", "000000010000000000000003", "000000020000000000000003", "000000020000000000000004"}
	if !slices.Equal(ready, want) {
		t.Errorf("ready %v, want %v", ready, want)
	}
	if s.Partial == nil || s.Partial.Name != "000000020000000000000005.partial" {
		t.Errorf("partial %+v", s.Partial)
	}
	if !slices.Equal(s.Strangers, []string{"000000010000000000000001.gz", "notes.txt"}) {
		t.Errorf("strangers %v", s.Strangers)
	}
	f := s.Ready[1]
	if k := Key(7315000000000000001, f, ".zst.age"); k != "pitr/7315000000000000001/wal/0000000100000000/000000010000000000000003.zst.age" {
		t.Errorf("key %s", k)
	}
	if k := Key(7, s.Ready[0], ".zst"); k != "pitr/7/wal/00000002.history.zst" {
		t.Errorf("history key %s", k)
	}
}

// The stream from a real server, end to end on this host: pg_receivewal
// through a slot into the spool; each finished segment shipped encrypted
// to a directory, read back to the same bytes, then gone from the spool;
// the segment being written shipped as a partial copy and replaced by the
// finished one; a file that is not what its name says never shipped nor
// removed.
func TestShipFromARealStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := cluster.NewDatabase(t)
	conn := cluster.Conn(t, db)
	slot := "t_ship"
	if _, err := conn.Exec(ctx, `SELECT pg_create_physical_replication_slot($1, true)`, slot); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c := cluster.Conn(t, "postgres")
		c.Exec(context.Background(), `SELECT pg_drop_replication_slot($1)`, slot)
	})
	var sysid uint64
	var segSize int64
	if err := conn.QueryRow(ctx, `SELECT system_identifier::text::numeric, (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size')
		FROM pg_control_system()`).Scan(&sysid, &segSize); err != nil {
		t.Fatal(err)
	}
	spool := t.TempDir()
	recvCtx, stop := context.WithCancel(ctx)
	received := make(chan error, 1)
	go func() {
		received <- (dump.Tools{}).ReceiveWAL(recvCtx, config.Database{URL: cluster.URL(db)}, slot, spool)
	}()
	t.Cleanup(func() { stop(); <-received })

	identity, recipient, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	r, err := crypt.ParseRecipient(recipient)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := crypt.NewEncrypter([]age.Recipient{r})
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.ParseX25519Identity(identity)
	if err != nil {
		t.Fatal(err)
	}
	dec := crypt.NewDecrypter([]age.Identity{id})
	store := destination.Dir{Root: filepath.Join(t.TempDir(), "archive")}
	magic, _ := wal.MagicOf(15)
	var recorded []Shipped
	sh := &Shipper{Spool: spool, Expect: wal.Expect{SystemID: sysid, Magic: magic, SegSize: segSize}, Format: archive.Zstd, Level: 1,
		Encrypter: enc, Stores: []destination.Store{store},
		Record: func(_ context.Context, s Shipped) error { recorded = append(recorded, s); return nil }}
	if err := sh.Prepare(); err != nil {
		t.Fatal(err)
	}

	spoolNow := func() Spool {
		entries, err := os.ReadDir(spool)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return Read(names, segSize)
	}
	waitSpool := func(what string, ok func(Spool) bool) Spool {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if s := spoolNow(); ok(s) {
				return s
			}
		}
		t.Fatalf("the spool never had %s: %+v", what, spoolNow())
		return Spool{}
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE marks (n int); INSERT INTO marks SELECT generate_series(1, 50000)`); err != nil {
		t.Fatal(err)
	}
	var switched string
	if err := conn.QueryRow(ctx, `SELECT pg_walfile_name(pg_switch_wal())`).Scan(&switched); err != nil {
		t.Fatal(err)
	}
	s := waitSpool("the switched segment", func(s Spool) bool {
		return slices.ContainsFunc(s.Ready, func(f File) bool { return f.Name == switched })
	})
	rawSum := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		return hex.EncodeToString(sum[:])
	}
	storedRaw := func(key string) string {
		rc, err := store.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		h := sha256.New()
		if _, err := archive.CheckReader(ctx, rc, archive.Zstd, h, archive.OpenedBy(dec.Open)); err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	for _, f := range s.Ready {
		want := rawSum(filepath.Join(spool, f.Name))
		got, err := sh.Ship(ctx, f, 0)
		if err != nil {
			t.Fatalf("ship %s: %v", f.Name, err)
		}
		if got.RawSHA256 != want || storedRaw(got.Key) != want || got.RawSize != segSize || !got.Encrypted ||
			!slices.Equal(got.Copies, []string{store.String()}) || got.End-got.Start != wal.LSN(segSize) {
			t.Fatalf("shipped %+v, want the segment's bytes (%s) in %s", got, want, store)
		}
		if _, err := os.Stat(filepath.Join(spool, f.Name)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s still in the spool after it was shipped: %v", f.Name, err)
		}
	}

	// The segment being written: a partial copy, up to what the slot says
	// was flushed; the spool keeps it.
	if _, err := conn.Exec(ctx, `INSERT INTO marks VALUES (-1)`); err != nil { // the next segment's first WAL
		t.Fatal(err)
	}
	s = waitSpool("a partial segment", func(s Spool) bool { return s.Partial != nil })
	if _, err := sh.Ship(ctx, *s.Partial, s.Partial.Segment.Start(segSize)); !errors.Is(err, ErrNoWALYet) {
		t.Fatalf("a partial segment with nothing flushed in it: %v", err)
	}
	// What the slot says this host flushed is in the file.
	var end wal.LSN
	for deadline := time.Now().Add(30 * time.Second); end <= s.Partial.Segment.Start(segSize); time.Sleep(20 * time.Millisecond) {
		var flushed string
		if err := conn.QueryRow(ctx, `SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&flushed); err != nil {
			t.Fatal(err)
		}
		if end, err = wal.ParseLSN(flushed); err != nil || time.Now().After(deadline) {
			t.Fatalf("the slot never passed %s: %s, %v", s.Partial.Segment.Start(segSize), flushed, err)
		}
	}
	written, err := os.Stat(filepath.Join(spool, s.Partial.Name))
	if err != nil {
		t.Fatal(err)
	}
	partial, err := sh.Ship(ctx, *s.Partial, end)
	if err != nil {
		t.Fatal(err)
	}
	// The copy holds the WAL written up to the file's last write, no later
	// than its shipping.
	if partial.Holds.Before(written.ModTime()) || partial.Holds.After(time.Now()) {
		t.Fatalf("the partial copy holds WAL up to %s; the file was last written at %s", partial.Holds, written.ModTime())
	}
	if !partial.Partial || partial.End != end || partial.Start != s.Partial.Segment.Start(segSize) {
		t.Fatalf("partial %+v, want up to %s", partial, end)
	}
	if !strings.HasSuffix(partial.Key, ".partial.zst.age") {
		t.Fatalf("partial copy's key %s", partial.Key)
	}
	if _, err := store.Stat(ctx, partial.Key); err != nil {
		t.Fatalf("partial copy: %v", err)
	}
	if _, err := os.Stat(filepath.Join(spool, s.Partial.Name)); err != nil {
		t.Fatalf("the partial segment left the spool: %v", err)
	}
	// Finished, it replaces its partial copy.
	if err := conn.QueryRow(ctx, `SELECT pg_walfile_name(pg_switch_wal())`).Scan(&switched); err != nil {
		t.Fatal(err)
	}
	s = waitSpool("the next finished segment", func(s Spool) bool {
		return slices.ContainsFunc(s.Ready, func(f File) bool { return f.Name == switched })
	})
	for _, f := range s.Ready {
		if _, err := sh.Ship(ctx, f, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.Stat(ctx, partial.Key); !errors.Is(err, destination.ErrNotFound) {
		t.Fatalf("the partial copy outlived its finished segment: %v", err)
	}

	// A segment under another's name is refused and stays where it is.
	last := recorded[len(recorded)-1]
	stored, err := store.Open(ctx, last.Key)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.CreateTemp(t.TempDir(), "raw")
	if _, err := archive.CheckReader(ctx, stored, archive.Zstd, raw, archive.OpenedBy(dec.Open)); err != nil {
		t.Fatal(err)
	}
	stored.Close()
	raw.Close()
	renamed := wal.Segment{Timeline: last.Segment.Timeline, No: last.Segment.No + 100}
	b, _ := os.ReadFile(raw.Name())
	if err := os.WriteFile(filepath.Join(spool, renamed.Name(segSize)), b, 0o600); err != nil {
		t.Fatal(err)
	}
	before := len(recorded)
	f := File{Name: renamed.Name(segSize), Segment: renamed, Timeline: renamed.Timeline}
	if _, err := sh.Ship(ctx, f, 0); !errors.Is(err, ErrForeign) {
		t.Fatalf("a renamed segment: %v, want ErrForeign", err)
	}
	if _, err := os.Stat(filepath.Join(spool, f.Name)); err != nil || len(recorded) != before {
		t.Fatalf("the refused file: %v, %d records", err, len(recorded)-before)
	}
	if _, err := store.Stat(ctx, Key(sysid, f, sh.Ext())); !errors.Is(err, destination.ErrNotFound) {
		t.Fatalf("the refused file reached the archive: %v", err)
	}
}

// pg_receivewal fills a new segment with zeros before writing WAL into
// it: what was written ends with the last page that is not all zeros.
func TestWrittenEnd(t *testing.T) {
	t.Parallel()
	seg := wal.Segment{Timeline: 1, No: 3}
	path := filepath.Join(t.TempDir(), seg.Name(wal.DefaultSegmentSize)+wal.PartialSuffix)
	b := make([]byte, wal.DefaultSegmentSize)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	start := seg.Start(wal.DefaultSegmentSize)
	if end, err := WrittenEnd(path, seg, wal.DefaultSegmentSize); err != nil || end != start {
		t.Fatalf("all zeros: %s %v", end, err)
	}
	b[0], b[3*8192+100] = 1, 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if end, err := WrittenEnd(path, seg, wal.DefaultSegmentSize); err != nil || end != start+4*8192 {
		t.Fatalf("written into page 3: %s %v, want %s", end, err, start+4*8192)
	}
}
