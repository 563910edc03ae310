// Package destinationtest is the conformance suite every destination.Store
// passes, run against the real thing (a directory, an OpenSSH server,
// Azurite, MinIO). A new destination is done when it passes
// Run: docs/DEVELOPMENT.md says how to add one.
package destinationtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/destination"
	"github.com/mosaique/rgz-backup/internal/layout"
)

// Harness is what the suite needs of an implementation besides the Store.
type Harness struct {
	// New returns an empty store of its own.
	New func(t *testing.T) destination.Store
	// Reopen opens the place st is, again, as another process would.
	Reopen func(t *testing.T, st destination.Store) destination.Store
	// Leftover leaves in st's place what a Put of name killed midway (an
	// hour ago or more) leaves there: a temporary file, an unfinished
	// upload; Left says whether something of it is still there.
	Leftover func(t *testing.T, st destination.Store, name string)
	Left     func(t *testing.T, st destination.Store, name string) bool
}

// Run runs every contract against the stores h makes.
func Run(t *testing.T, h Harness) {
	newStore := h.New
	t.Run("Reopened", func(t *testing.T) { t.Parallel(); reopened(t, h) })
	t.Run("LeftoverOfAKilledPut", func(t *testing.T) { t.Parallel(); leftover(t, h) })
	t.Run("RoundTrip", func(t *testing.T) { t.Parallel(); roundTrip(t, newStore(t)) })
	t.Run("WrongSourceLeavesNothing", func(t *testing.T) { t.Parallel(); wrongSource(t, newStore(t)) })
	t.Run("InterruptedPutLeavesNothing", func(t *testing.T) { t.Parallel(); interrupted(t, newStore(t)) })
	t.Run("NotFound", func(t *testing.T) { t.Parallel(); notFound(t, newStore(t)) })
	t.Run("ReplaceAndRemove", func(t *testing.T) { t.Parallel(); replaceAndRemove(t, newStore(t)) })
	t.Run("ConcurrentPuts", func(t *testing.T) { t.Parallel(); concurrent(t, newStore(t)) })
	t.Run("Retention", func(t *testing.T) { t.Parallel(); retention(t, newStore(t)) })
	t.Run("HostileNames", func(t *testing.T) { t.Parallel(); hostileNames(t, newStore(t)) })
}

// source is an in-memory Source; cancel, when set, is called once more
// than cancelAt bytes have been read in all (a Store may read its source
// twice: once to check it, once to copy it).
type source struct {
	data     []byte
	cancelAt int64
	cancel   func()
	once     sync.Once
	mu       sync.Mutex
	read     int64
}

func (s *source) Size() int64 { return int64(len(s.data)) }

func (s *source) ReadAt(p []byte, off int64) (int, error) {
	if s.cancel != nil {
		s.mu.Lock()
		s.read += int64(len(p))
		over := s.read > s.cancelAt
		s.mu.Unlock()
		if over {
			s.once.Do(s.cancel)
		}
	}
	if off >= int64(len(s.data)) {
		return 0, io.EOF
	}
	n := copy(p, s.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func payload(n int) *source {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return &source{data: b}
}

func want(s *source) destination.PutOptions {
	return destination.PutOptions{Want: destination.Want{Size: s.Size(), CRC32: crc32.ChecksumIEEE(s.data)}}
}

func name(i int, file string) string {
	return destination.Name("", time.Date(2026, 2, 5+i, 3, 0, 0, 0, time.UTC), file)
}

func read(t *testing.T, st destination.Store, n string) []byte {
	t.Helper()
	r, err := st.Open(context.Background(), n)
	if err != nil {
		t.Fatalf("open %s: %v", n, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", n, err)
	}
	return b
}

func names(t *testing.T, st destination.Store) map[string]int64 {
	t.Helper()
	objs, err := st.List(context.Background())
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	out := map[string]int64{}
	for _, o := range objs {
		out[o.Name] = o.Size
	}
	return out
}

func absent(t *testing.T, st destination.Store, n string) {
	t.Helper()
	ctx := context.Background()
	if _, err := st.Stat(ctx, n); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("Stat(%s) = %v, want ErrNotFound", n, err)
	}
	if r, err := st.Open(ctx, n); !errors.Is(err, destination.ErrNotFound) {
		if r != nil {
			r.Close()
		}
		t.Errorf("Open(%s) = %v, want ErrNotFound", n, err)
	}
	if size, ok := names(t, st)[n]; ok {
		t.Errorf("List shows %s (%d bytes)", n, size)
	}
}

// A store opened again on the same place (another process, the next
// start) sees what the first wrote, and what it removes is gone for the
// first.
func reopened(t *testing.T, h Harness) {
	ctx := context.Background()
	first := h.New(t)
	src := payload(70_000)
	n := name(8, "20260213_030000.dump.gz")
	if err := first.Put(ctx, n, src, want(src)); err != nil {
		t.Fatal(err)
	}
	second := h.Reopen(t, first)
	defer second.Close()
	if obj, err := second.Stat(ctx, n); err != nil || obj.Size != src.Size() || !bytes.Equal(read(t, second, n), src.data) {
		t.Fatalf("the reopened store: %+v, %v", obj, err)
	}
	if names(t, second)[n] != src.Size() {
		t.Fatalf("the reopened store does not list %s", n)
	}
	if err := second.Remove(ctx, n); err != nil {
		t.Fatal(err)
	}
	absent(t, first, n)
}

// What a Put killed midway left (a process killed, a host lost) is never
// taken for a copy — not listed, not statted, not opened — and the next
// Put of that name (the hourly healing copies it again) removes it.
func leftover(t *testing.T, h Harness) {
	ctx := context.Background()
	st := h.New(t)
	n := name(9, "20260214_030000.dump.gz")
	h.Leftover(t, st, n)
	if !h.Left(t, st, n) {
		t.Fatal("the harness left nothing")
	}
	absent(t, st, n)
	if len(names(t, st)) != 0 {
		t.Fatalf("List shows a leftover: %v", names(t, st))
	}
	src := payload(50_000)
	if err := st.Put(ctx, n, src, want(src)); err != nil {
		t.Fatal(err)
	}
	if h.Left(t, st, n) {
		t.Fatal("the next Put of the name left the leftover there")
	}
	if got := names(t, st); len(got) != 1 || got[n] != src.Size() || !bytes.Equal(read(t, st, n), src.data) {
		t.Fatalf("after the next Put: %v", got)
	}
}

// A small file and one of several upload parts come back byte for byte;
// List and Stat agree on names and sizes.
func roundTrip(t *testing.T, st destination.Store) {
	ctx := context.Background()
	files := map[string]*source{name(0, "a.dump.gz"): payload(1000), name(1, "b.dump.zst.age"): payload(12<<20 + 17)}
	for n, src := range files {
		if err := st.Put(ctx, n, src, want(src)); err != nil {
			t.Fatalf("put %s: %v", n, err)
		}
	}
	listed := names(t, st)
	if len(listed) != len(files) {
		t.Fatalf("List: %v, want %d objects", listed, len(files))
	}
	for n, src := range files {
		if !bytes.Equal(read(t, st, n), src.data) {
			t.Fatalf("%s differs after a round trip", n)
		}
		obj, err := st.Stat(ctx, n)
		if err != nil || obj.Size != src.Size() || listed[n] != src.Size() || obj.Name != n {
			t.Fatalf("Stat(%s) = %+v, %v; List says %d", n, obj, err, listed[n])
		}
	}
}

// A source that is not what the backup recorded (size or checksum), or a
// copy that does not match: Put fails, and nothing is left.
func wrongSource(t *testing.T, st destination.Store) {
	ctx := context.Background()
	src := payload(4096)
	for label, o := range map[string]destination.PutOptions{
		"size":  {Want: destination.Want{Size: src.Size() + 1, CRC32: crc32.ChecksumIEEE(src.data)}},
		"crc32": {Want: destination.Want{Size: src.Size(), CRC32: crc32.ChecksumIEEE(src.data) ^ 1}},
	} {
		n := name(2, "wrong-"+label+".dump.gz")
		if err := st.Put(ctx, n, src, o); err == nil {
			t.Fatalf("a put whose %s is wrong succeeded", label)
		}
		absent(t, st, n)
	}
}

// A copy cancelled halfway leaves nothing that passes for complete. A
// Store may read its source once (checking what it sends as it sends
// it) or twice (a check, then the copy): the cancel comes two thirds
// into the first pass, then 3 MiB into the second; a Store that never
// reads that far has finished unhurt, and must have put the copy.
func interrupted(t *testing.T, st destination.Store) {
	for i, at := range []int64{8 << 20, 12<<20 + 3<<20} {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		src := payload(12 << 20)
		src.cancelAt, src.cancel = at, cancel
		n := name(3, fmt.Sprintf("cut-%d.dump.gz", i))
		err := st.Put(ctx, n, src, want(src))
		if ctx.Err() == nil { // never reached
			if err != nil {
				t.Fatalf("a put not interrupted: %v", err)
			}
			continue
		}
		if err == nil {
			t.Fatalf("a put interrupted after %d bytes read succeeded", at)
		}
		absent(t, st, n)
	}
}

func notFound(t *testing.T, st destination.Store) {
	absent(t, st, name(4, "never.dump.gz"))
	if err := st.Remove(context.Background(), name(4, "never.dump.gz")); err != nil {
		t.Fatalf("removing what is not there: %v", err)
	}
}

// A second Put of a name replaces it; Remove then leaves nothing, in no
// version.
func replaceAndRemove(t *testing.T, st destination.Store) {
	ctx := context.Background()
	n := name(5, "twice.dump.gz")
	first, second := payload(3000), payload(5000)
	for _, src := range []*source{first, second} {
		if err := st.Put(ctx, n, src, want(src)); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(read(t, st, n), second.data) {
		t.Fatal("the second put did not replace the first")
	}
	if err := st.Remove(ctx, n); err != nil {
		t.Fatal(err)
	}
	absent(t, st, n)
}

func concurrent(t *testing.T, st destination.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	srcs := map[string]*source{}
	for i := range 8 {
		srcs[name(6, fmt.Sprintf("c%d.dump.gz", i))] = payload(100_000 + i)
	}
	for n, src := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := st.Put(ctx, n, src, want(src)); err != nil {
				errs <- fmt.Errorf("%s: %w", n, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	listed := names(t, st)
	var got []string
	for n := range listed {
		got = append(got, n)
	}
	sort.Strings(got)
	if len(got) != len(srcs) {
		t.Fatalf("List after concurrent puts: %v", got)
	}
	for n, src := range srcs {
		if listed[n] != src.Size() || !bytes.Equal(read(t, st, n), src.data) {
			t.Fatalf("%s: listed %d bytes, or content differs", n, listed[n])
		}
	}
}

// Where the place supports it, a copy under retention refuses to be
// removed before its date; where it does not, the option is ignored and
// the copy behaves as any other.
func retention(t *testing.T, st destination.Store) {
	ctx := context.Background()
	n := name(7, "compliance.dump.gz")
	src := payload(2048)
	o := want(src)
	o.RetainUntil = time.Now().AddDate(0, 0, 2)
	if err := st.Put(ctx, n, src, o); err != nil {
		t.Fatal(err)
	}
	err := st.Remove(ctx, n)
	if st.Retains() {
		if err == nil {
			t.Fatal("a copy under retention was removed")
		}
		if !bytes.Equal(read(t, st, n), src.data) {
			t.Fatal("the retained copy changed")
		}
		return
	}
	if err != nil {
		t.Fatalf("a store without retention refused a removal: %v", err)
	}
	absent(t, st, n)
}

// Names from outside (a database's, a target's) reach a store only as
// layout.Segment folders: each lands in a folder of its own, listed back
// exactly, and removed exactly. A name that would leave the store's root
// or hide itself (a manifest's or a row's, not the tool's) is refused by
// every operation before it reaches the place (destination.ErrBadName),
// and nothing is left anywhere.
func hostileNames(t *testing.T, st destination.Store) {
	ctx := context.Background()
	databases := []string{"..", ".", "../../escape", "a/b", `a\b`, ".hidden", "%2E", "e\u0301", "\u00e9", "tab\there", ""}
	srcs := map[string]*source{}
	for i, db := range databases {
		srcs[destination.Name(layout.FolderOf("site-b", db), time.Date(2026, 2, 5, 3, 0, 0, 0, time.UTC), "20260205_030000.dump.gz")] = payload(100 + i)
	}
	if len(srcs) != len(databases) {
		t.Fatalf("%d databases share %d names", len(databases), len(srcs))
	}
	for n, src := range srcs {
		if err := st.Put(ctx, n, src, want(src)); err != nil {
			t.Fatalf("put %s: %v", n, err)
		}
	}
	listed := names(t, st)
	if len(listed) != len(srcs) {
		t.Fatalf("List: %v, want the %d names put", listed, len(srcs))
	}
	for n, src := range srcs {
		if listed[n] != src.Size() || !bytes.Equal(read(t, st, n), src.data) {
			t.Fatalf("%s: listed %d bytes, or content differs", n, listed[n])
		}
	}
	for _, bad := range []string{"", "/abs/20260205_030000.dump.gz", "../20260205_030000.dump.gz", "a/../../20260205_030000.dump.gz",
		"2026/02/../../../x", "./2026/x", "2026//x", "2026/02/.tmp-x", `2026\..\x`, "2026/02/x\x00y", "2026/02/x\ny", "2026/02/"} {
		src := payload(10)
		for op, err := range map[string]error{
			"Put":    st.Put(ctx, bad, src, want(src)),
			"Remove": st.Remove(ctx, bad),
			"Stat":   func() error { _, err := st.Stat(ctx, bad); return err }(),
			"Open": func() error {
				r, err := st.Open(ctx, bad)
				if r != nil {
					r.Close()
				}
				return err
			}(),
		} {
			if !errors.Is(err, destination.ErrBadName) {
				t.Errorf("%s(%q) = %v, want ErrBadName", op, bad, err)
			}
		}
	}
	if after := names(t, st); len(after) != len(srcs) {
		t.Fatalf("refused names left objects: %v", after)
	}
	for n := range srcs {
		if err := st.Remove(ctx, n); err != nil {
			t.Fatal(err)
		}
		absent(t, st, n)
	}
}
