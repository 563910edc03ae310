package pgarchive

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { pgtest.Main(m, &cluster) }

// sampleArchives dumps, once, a database that has what the framing can
// hold: tables with many chunks, empty tables, large objects (one empty,
// one of several chunks), and the same archive written to a pipe (offsets
// not set) and to a file (offsets set).
var sampleArchives = sync.OnceValues(func() (map[string][]byte, error) {
	ctx := context.Background()
	db := "pgarchive_sample"
	if err := cluster.CreateDatabase(ctx, db); err != nil {
		return nil, err
	}
	setup := `
		CREATE TABLE invoices (id bigint PRIMARY KEY, reseller text, amount numeric, note text);
		INSERT INTO invoices SELECT i, 'reseller-' || (i % 500), i * 1.5, repeat(md5(i::text), 4) FROM generate_series(1, 20000) i;
		CREATE TABLE empty_one (id int);
		CREATE TABLE "odd name ""quoted""" (v text);
		INSERT INTO "odd name ""quoted""" VALUES ('x');
		CREATE SCHEMA radius;
		CREATE TABLE radius.sessions (id int, started timestamptz);
		SELECT lo_from_bytea(0, ''::bytea);
		SELECT lo_from_bytea(0, convert_to(repeat('large object ', 20000), 'UTF8'));`
	if out, err := exec.CommandContext(ctx, "psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--dbname="+cluster.URL(db), "--command="+setup).CombinedOutput(); err != nil {
		return nil, &exec.ExitError{Stderr: out}
	}
	archives := map[string][]byte{}
	for _, kind := range []string{"pipe", "file", "schema-only", "gzip"} {
		args := []string{"--format=custom", "--compress=0", "--dbname=" + cluster.URL(db)}
		switch kind {
		case "schema-only":
			args = append(args, "--schema-only")
		case "gzip":
			args[1] = "--compress=6"
		}
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, "pg_dump", args...)
		if kind == "file" {
			path := filepath.Join(os.TempDir(), "pgarchive-"+db+".dump")
			cmd.Args = append(cmd.Args, "--file="+path)
			defer os.Remove(path)
			if err := cmd.Run(); err != nil {
				return nil, err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			archives[kind] = b
			continue
		}
		cmd.Stdout = &out
		if err := cmd.Run(); err != nil {
			return nil, err
		}
		archives[kind] = out.Bytes()
	}
	return archives, nil
})

func samples(t *testing.T) map[string][]byte {
	t.Helper()
	archives, err := sampleArchives()
	if err != nil {
		t.Fatal(err)
	}
	return archives
}

// pgRestoreReads says whether pg_restore reads an archive to its end.
func pgRestoreReads(t *testing.T, archive []byte) bool {
	t.Helper()
	cmd := exec.Command("pg_restore", "--file="+os.DevNull)
	cmd.Stdin = bytes.NewReader(archive)
	return cmd.Run() == nil
}

func TestWalkReadsWhatPgDumpWrites(t *testing.T) {
	for kind, archive := range samples(t) {
		t.Run(kind, func(t *testing.T) {
			s, err := Walk(bytes.NewReader(archive))
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("pg_restore", "--list")
			cmd.Stdin = bytes.NewReader(archive)
			listing, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			var entries, tableData, blobs int
			for _, line := range strings.Split(string(listing), "\n") {
				if n, ok := strings.CutPrefix(line, ";     TOC Entries: "); ok {
					entries, _ = strconv.Atoi(n)
				}
				if line == "" || strings.HasPrefix(line, ";") {
					continue
				}
				if strings.Contains(line, " TABLE DATA ") {
					tableData++
				}
				if strings.Contains(line, " BLOBS ") {
					blobs++
				}
			}
			if s.Version != "1.14" || s.Entries != entries || s.DataBlocks != tableData+blobs {
				t.Fatalf("walk %+v; pg_restore --list: %d entries, %d table data, %d blobs", s, entries, tableData, blobs)
			}
			wantObjects := 2
			if kind == "schema-only" {
				wantObjects = 0
				if s.DataBlocks != 0 {
					t.Fatalf("a schema-only archive with %d data blocks", s.DataBlocks)
				}
			}
			if s.LargeObjects != wantObjects {
				t.Fatalf("large objects %d, want %d", s.LargeObjects, wantObjects)
			}
			if kind == "pipe" && s.DataBytes < 20000*100 {
				t.Fatalf("data bytes %d: the invoices alone are more", s.DataBytes)
			}
		})
	}
}

// TestEveryCutIsRefused cuts the archive at many places, block boundaries
// and the last byte included: pg_restore refuses every one, and so must
// the walk.
func TestEveryCutIsRefused(t *testing.T) {
	archive := samples(t)["pipe"]
	if !pgRestoreReads(t, archive) {
		t.Fatal("pg_restore does not read the whole archive")
	}
	cuts := map[int]bool{len(archive) - 1: true, len(archive) - 2: true, len(archive) - 6: true}
	for i := 0; i < len(archive); i += 1 + len(archive)/150 {
		cuts[i] = true
	}
	for _, at := range blockStarts(t, archive) { // whole blocks only, one missing
		cuts[at] = true
	}
	pgRefused := 0
	for at := range cuts {
		cut := archive[:at]
		if _, err := Walk(bytes.NewReader(cut)); err == nil {
			t.Errorf("cut at byte %d of %d: the walk accepts it", at, len(archive))
		}
		if at%7 == 0 && !pgRestoreReads(t, cut) { // pg_restore agrees (a sample: it is slow)
			pgRefused++
		}
	}
	if pgRefused == 0 {
		t.Fatal("pg_restore refused none of the cuts sampled: the differential check checked nothing")
	}
}

// blockStarts walks the archive and notes where each data block starts.
func blockStarts(t *testing.T, archive []byte) []int {
	t.Helper()
	w := &walker{r: bufio.NewReader(bytes.NewReader(archive))}
	var s Summary
	if err := w.header(&s); err != nil {
		t.Fatal(err)
	}
	_, expected, err := w.contents(&s)
	if err != nil {
		t.Fatal(err)
	}
	var starts []int
	for {
		starts = append(starts, int(w.pos))
		kind, err := w.r.ReadByte()
		if err != nil {
			return starts[:len(starts)-1]
		}
		w.pos++
		id, err := w.int()
		if err != nil || expected[id] == nil {
			t.Fatalf("block at %d: id %d, %v", starts[len(starts)-1], id, err)
		}
		if kind == blockData {
			err = w.chunks(&s)
		} else {
			err = w.largeObjects(&s)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestReframedArchivesAreRefused changes the framing, not the length: a
// chunk length, a block type, a block's id, a dropped or doubled block,
// bytes appended.
func TestReframedArchivesAreRefused(t *testing.T) {
	archive := samples(t)["pipe"]
	starts := blockStarts(t, archive)
	if len(starts) < 4 {
		t.Fatalf("%d blocks", len(starts))
	}
	second, third := starts[1], starts[2]
	block := archive[second:third]
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(archive)) }
	cases := map[string][]byte{
		"a block type changed": mutate(func(b []byte) []byte { b[second] = 2; return b }),
		"a block for an entry without data": mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[second+2:], 99999)
			return b
		}),
		"a chunk length grown by one": mutate(func(b []byte) []byte {
			at := second + 1 + 5 // type, id: the first chunk's length follows
			n := binary.LittleEndian.Uint32(b[at+1:])
			binary.LittleEndian.PutUint32(b[at+1:], n+1)
			return b
		}),
		"a chunk length made negative": mutate(func(b []byte) []byte { b[second+1+5] = 1; return b }),
		"a block dropped":              append(bytes.Clone(archive[:second]), archive[third:]...),
		"a block doubled":              append(append(bytes.Clone(archive[:third]), block...), archive[third:]...),
		"bytes appended":               append(bytes.Clone(archive), 1, 0, 0, 0, 0),
		"one byte appended":            append(bytes.Clone(archive), 0),
	}
	fourth := starts[3]
	cases["two blocks swapped"] = append(append(append(bytes.Clone(archive[:second]), archive[third:fourth]...), block...), archive[fourth:]...)
	// An archive pg_dump wrote to a file says where each block is; a
	// table of contents that says otherwise is refused (pg_restore seeks
	// there and fails).
	file := samples(t)["file"]
	fileStarts := blockStarts(t, file)
	var at [8]byte
	binary.LittleEndian.PutUint64(at[:], uint64(fileStarts[1]))
	i := bytes.Index(file[:fileStarts[0]], append([]byte{offsetSet}, at[:]...))
	if i < 0 {
		t.Fatal("the file archive does not say where its second block is")
	}
	moved := bytes.Clone(file)
	binary.LittleEndian.PutUint64(moved[i+1:], uint64(fileStarts[1]+1))
	cases["a block's place in the table of contents moved"] = moved
	for name, bad := range cases {
		if _, err := Walk(bytes.NewReader(bad)); err == nil {
			t.Errorf("%s: the walk accepts it", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestKnown(t *testing.T) {
	for _, c := range []struct {
		head    string
		version string
		unknown bool
		bad     bool
	}{
		{"PGDMP\x01\x0e\x00", "1.14", false, false},
		{"PGDMP\x01\x0c\x00", "1.12", false, false},
		{"PGDMP\x01\x10\x00", "1.16", false, false},
		{"PGDMP\x01\x11\x00", "1.17", true, false},
		{"PGDMP\x01\x0b\x00", "1.11", true, false},
		{"PGDMP\x02\x00\x00", "2.0", true, false},
		{"PGDMQ\x01\x0e\x00", "", false, true},
		{"PGDMP", "", false, true},
	} {
		version, err := Known([]byte(c.head))
		switch {
		case c.bad && (err == nil || errors.Is(err, ErrUnknownVersion)):
			t.Errorf("%q: %v, want not an archive", c.head, err)
		case c.unknown && !errors.Is(err, ErrUnknownVersion):
			t.Errorf("%q: %v, want ErrUnknownVersion", c.head, err)
		case !c.bad && !c.unknown && err != nil:
			t.Errorf("%q: %v", c.head, err)
		case version != c.version:
			t.Errorf("%q: version %q, want %q", c.head, version, c.version)
		}
	}
}

// FuzzWalk: whatever the bytes, the walk ends with an answer, never a
// panic or an allocation the input asks for.
func FuzzWalk(f *testing.F) {
	f.Add([]byte("PGDMP\x01\x0e\x00\x04\x08\x01"))
	f.Add(built().archive)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Walk(bytes.NewReader(b))
	})
}

// archiveBuilder writes pg_dump's framing by hand (integers of 4 bytes,
// offsets of 8), for the cases a real pg_dump never writes.
type archiveBuilder struct{ bytes.Buffer }

func (b *archiveBuilder) int(v int64) {
	sign := byte(0)
	if v < 0 {
		sign, v = 1, -v
	}
	b.WriteByte(sign)
	for i := range 4 {
		b.WriteByte(byte(v >> (8 * i)))
	}
}

func (b *archiveBuilder) str(s string) { b.int(int64(len(s))); b.WriteString(s) }

// builtArchive is a small archive and where its parts are.
type builtArchive struct {
	archive                []byte
	format, intSize        int // offsets of header bytes
	flag, block, chunkSize int // the data entry's offset flag, its block, its chunk's length
}

// built is a version 1.14 archive of two entries: a schema (no data) and a
// table's data, whose block holds one chunk "hello".
func built() builtArchive { return builtAs(14) }

// builtAs is built in archive version 1.minor (12 to 16): the fields that
// differ are written as that version has them.
func builtAs(minor byte) builtArchive {
	var b archiveBuilder
	var at builtArchive
	b.WriteString("PGDMP\x01")
	b.WriteByte(minor)
	b.WriteByte(0)
	at.intSize = b.Len()
	b.WriteByte(4)
	b.WriteByte(8)
	at.format = b.Len()
	b.WriteByte(formatCustom)
	if minor >= 15 {
		b.WriteByte(0) // compression algorithm: none
	} else {
		b.int(0) // compression level
	}
	for _, v := range []int64{5, 4, 3, 6, 11, 126, 0} {
		b.int(v)
	}
	b.str("mosaique")
	b.str("15.8")
	b.str("15.8")
	b.int(2)
	entry := func(id int64, hadDumper int64, desc, tag string, flag byte) {
		b.int(id)
		b.int(hadDumper)
		b.str("0")
		b.str("0")
		b.str(tag)
		b.str(desc)
		b.int(2)      // section
		for range 5 { // defn, dropStmt, copyStmt, namespace, tablespace
			b.str("")
		}
		if minor >= 14 {
			b.str("heap") // table access method
		}
		if minor >= 16 {
			b.int('r') // relkind
		}
		b.str("postgres")
		b.str("false")
		b.str("1") // one dependency
		b.int(-1)  // end of the dependencies
		if flag == offsetNotSet {
			at.flag = b.Len()
		}
		b.WriteByte(flag)
		b.Write(make([]byte, 8))
	}
	entry(1, 0, "SCHEMA", "radius", offsetNoData)
	entry(2, 1, "TABLE DATA", "sessions", offsetNotSet)
	at.block = b.Len()
	b.WriteByte(blockData)
	b.int(2)
	at.chunkSize = b.Len()
	b.str("hello")
	b.int(0)
	at.archive = b.Bytes()
	return at
}

func TestWalkEveryKnownVersion(t *testing.T) {
	for minor := byte(12); minor <= 16; minor++ {
		s, err := Walk(bytes.NewReader(builtAs(minor).archive))
		if err != nil || s.Version != "1."+strconv.Itoa(int(minor)) || s.DataBytes != 5 {
			t.Errorf("1.%d: %+v %v", minor, s, err)
		}
	}
	// Read as another version, the fields slide: refused, not misread.
	v15 := builtAs(15).archive
	v15[6] = 16
	if _, err := Walk(bytes.NewReader(v15)); err == nil {
		t.Error("a 1.15 archive labelled 1.16 is accepted")
	}
}

func TestWalkBuiltArchive(t *testing.T) {
	at := built()
	s, err := Walk(bytes.NewReader(at.archive))
	if err != nil || s.Entries != 2 || s.DataBlocks != 1 || s.DataBytes != 5 || s.Version != "1.14" || s.LastBlock != int64(at.block) {
		t.Fatalf("%+v %v", s, err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(at.archive)) }
	for name, c := range map[string]struct {
		archive []byte
		says    string
	}{
		"the offset flag unknown":        {mutate(func(b []byte) []byte { b[at.flag] = 7; return b }), "data offset flag 7"},
		"the data entry without data":    {mutate(func(b []byte) []byte { b[at.flag] = offsetNoData; return b }), "gives no data"},
		"another format":                 {mutate(func(b []byte) []byte { b[at.format] = 5; return b }), "format 5, not custom"},
		"integer size 200":               {mutate(func(b []byte) []byte { b[at.intSize] = 200; return b }), "integer size 200"},
		"a newer version":                {mutate(func(b []byte) []byte { b[6] = 17; return b }), "1.17 (known: 1.12 to 1.16)"},
		"not an archive":                 {[]byte("-- PostgreSQL database dump\nSELECT 1;\n"), "does not start with PGDMP"},
		"empty":                          {nil, "cut short"},
		"the chunk longer than its data": {mutate(func(b []byte) []byte { b[at.chunkSize+1] = 6; return b }), "cut short"},
		"the chunk shorter":              {mutate(func(b []byte) []byte { b[at.chunkSize+1] = 4; return b }), ""},
		"a length no C int holds": {mutate(func(b []byte) []byte {
			copy(b[at.chunkSize+1:], []byte{0xff, 0xff, 0xff, 0xff})
			return b
		}), "integer 4294967295 out of range"},
		"the end marker missing": {at.archive[:len(at.archive)-5], "cut short"},
		"the block missing":      {at.archive[:at.block], "without the data of TABLE DATA sessions (id 2): cut short"},
		"bytes after the end":    {append(bytes.Clone(at.archive), blockData), "cut short"},
	} {
		_, err := Walk(bytes.NewReader(c.archive))
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.says)
		}
	}
}

func TestStartTakesWritesAfterARefusal(t *testing.T) {
	w, wait := Start()
	for range 100 { // a refusal at the first bytes, then megabytes more
		if _, err := w.Write(bytes.Repeat([]byte("x"), 64<<10)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if _, err := wait(); err == nil || !strings.Contains(err.Error(), "PGDMP") {
		t.Fatalf("%v", err)
	}
	w, wait = Start()
	archive := built().archive
	for _, b := range archive { // one byte at a time
		w.Write([]byte{b})
	}
	w.Close()
	if s, err := wait(); err != nil || s.DataBytes != 5 {
		t.Fatalf("%+v %v", s, err)
	}
}
