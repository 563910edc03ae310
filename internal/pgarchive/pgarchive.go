// Package pgarchive walks a PostgreSQL custom-format archive (what
// `pg_dump --format=custom` writes) from its first byte to its last, the
// way pg_restore reads it: the header, the table of contents, then every
// data block's framing — its type, the entry it belongs to, each chunk's
// length and bytes, the end marker — without a database, a child process
// or a copy of the data. A cut, truncated, padded or re-framed archive is
// refused with the place where it went wrong.
//
// It checks the framing, not what the chunks say: pg_restore stays the
// independent reader where that is the point (the table of contents that
// `pg_restore --list` prints, and the restore tests). The format is
// pg_dump's (src/bin/pg_dump/pg_backup_archiver.c, pg_backup_custom.c);
// archive versions 1.12 (PostgreSQL 9.0) to 1.16 (PostgreSQL 17 and
// later) are known. Newer ones are told by Known so that a caller can hand them to
// pg_restore instead.
package pgarchive

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
)

// HeadSize is how many bytes Known needs: the magic and the version.
const HeadSize = 8

// ErrUnknownVersion is an archive whose version this package does not know.
var ErrUnknownVersion = errors.New("archive version not known to this check")

// The archive versions that change what is read (pg_backup_archiver.h).
const (
	v1_12 = 1<<16 | 12<<8 // PostgreSQL 9.0: the oldest known here
	v1_14 = 1<<16 | 14<<8 // PostgreSQL 12: table access method in each entry
	v1_15 = 1<<16 | 15<<8 // PostgreSQL 16: compression is an algorithm byte
	v1_16 = 1<<16 | 16<<8 // PostgreSQL 17 and 18: relkind in each entry
)

// The kinds of data block and the disposition of an entry's data.
const (
	blockData         = 1
	blockLargeObjects = 3
	offsetNotSet      = 1
	offsetSet         = 2
	offsetNoData      = 3
	formatCustom      = 1
)

// Summary is what a walk found.
type Summary struct {
	Version      string // "1.14"
	Entries      int    // table of contents entries
	DataBlocks   int    // data blocks read (table data and large objects)
	LargeObjects int    // large objects inside them
	DataBytes    int64  // bytes of chunks, as stored (compressed if the archive is)
	LastBlock    int64  // where the last data block starts (0: there is none)
}

// Known reads the first HeadSize bytes of an archive and says whether
// Walk can read it: nil, ErrUnknownVersion, or why it is no custom-format
// archive at all.
func Known(head []byte) (version string, err error) {
	if len(head) < HeadSize {
		return "", fmt.Errorf("not a custom-format archive: %d bytes", len(head))
	}
	if string(head[:5]) != "PGDMP" {
		return "", fmt.Errorf("not a custom-format archive: it does not start with PGDMP")
	}
	version = fmt.Sprintf("%d.%d", head[5], head[6])
	v := int(head[5])<<16 | int(head[6])<<8
	if v < v1_12 || v > v1_16 {
		return version, fmt.Errorf("%w: %s (known: 1.12 to 1.16)", ErrUnknownVersion, version)
	}
	return version, nil
}

// entry is what the walk keeps of a table of contents entry that has data.
type entry struct {
	id        int64
	desc, tag string
	// at is where the table of contents says the entry's block starts,
	// when pg_dump could write it there (a file it could seek in): -1 when
	// it could not (a pipe).
	at   int64
	seen bool
}

func (e *entry) String() string { return e.desc + " " + e.tag }

// walker reads one archive; r is never read past the archive's end.
type walker struct {
	r       *bufio.Reader
	pos     int64 // bytes read, for messages
	version int
	intSize int
	offSize int
}

// Walk reads a whole archive from r and returns what it holds, or the
// first thing pg_restore would have refused in it.
func Walk(r io.Reader) (Summary, error) {
	w := &walker{r: bufio.NewReaderSize(r, 64<<10)}
	var s Summary
	if err := w.header(&s); err != nil {
		return s, fmt.Errorf("header: %w", err)
	}
	order, byID, err := w.contents(&s)
	if err != nil {
		return s, fmt.Errorf("table of contents: %w", err)
	}
	if err := w.data(&s, order, byID); err != nil {
		return s, err
	}
	return s, nil
}

func (w *walker) header(s *Summary) error {
	head := make([]byte, HeadSize)
	if err := w.full(head); err != nil {
		return err
	}
	version, err := Known(head)
	if err != nil {
		return err
	}
	s.Version = version
	w.version = int(head[5])<<16 | int(head[6])<<8 | int(head[7])
	size, err := w.byte()
	if err != nil {
		return err
	}
	w.intSize = int(size)
	if w.intSize < 1 || w.intSize > 8 {
		return fmt.Errorf("integer size %d", w.intSize)
	}
	if size, err = w.byte(); err != nil {
		return err
	}
	w.offSize = int(size)
	if w.offSize < 1 || w.offSize > 8 {
		return fmt.Errorf("offset size %d", w.offSize)
	}
	format, err := w.byte()
	if err != nil {
		return err
	}
	if format != formatCustom {
		return fmt.Errorf("format %d, not custom (1)", format)
	}
	if w.version >= v1_15 {
		_, err = w.byte() // compression algorithm
	} else {
		_, err = w.int() // compression level
	}
	if err != nil {
		return err
	}
	for range 7 { // creation time: seconds to isdst
		if _, err := w.int(); err != nil {
			return err
		}
	}
	for range 3 { // database name, server and pg_dump versions
		if _, _, err := w.str(0); err != nil {
			return err
		}
	}
	return nil
}

// contents reads the table of contents and returns the entries whose data
// the archive must hold, in the order pg_dump writes their blocks (its
// own), and by dump id.
func (w *walker) contents(s *Summary) ([]*entry, map[int64]*entry, error) {
	count, err := w.int()
	if err != nil {
		return nil, nil, err
	}
	if count < 0 {
		return nil, nil, fmt.Errorf("%d entries", count)
	}
	var order []*entry
	byID := map[int64]*entry{}
	for i := range count {
		id, err := w.int()
		if err != nil {
			return nil, nil, err
		}
		if id <= 0 {
			return nil, nil, fmt.Errorf("entry %d of %d: id %d out of range", i+1, count, id)
		}
		e, hadDumper, err := w.entry()
		if err != nil {
			return nil, nil, fmt.Errorf("entry %d (id %d): %w", i+1, id, err)
		}
		e.id = id
		flag, at, err := w.offset()
		if err != nil {
			return nil, nil, fmt.Errorf("entry %d (id %d, %s): %w", i+1, id, e, err)
		}
		if hadDumper && flag != offsetNoData {
			if _, twice := byID[id]; twice {
				return nil, nil, fmt.Errorf("id %d has data twice", id)
			}
			e.at = -1
			if flag == offsetSet {
				e.at = at
			}
			order = append(order, e)
			byID[id] = e
		}
		s.Entries++
	}
	return order, byID, nil
}

// entry reads the fields of one entry after its id, up to its offset.
func (w *walker) entry() (*entry, bool, error) {
	hadDumper, err := w.int()
	if err != nil {
		return nil, false, err
	}
	e := &entry{}
	// tableoid, oid, tag, desc; section; defn, dropStmt, copyStmt,
	// namespace, tablespace, [tableam], [relkind], owner, withOids.
	fields := []*string{nil, nil, &e.tag, &e.desc}
	for _, keep := range fields {
		v, _, err := w.str(200)
		if err != nil {
			return nil, false, err
		}
		if keep != nil {
			*keep = v
		}
	}
	if _, err := w.int(); err != nil { // section
		return nil, false, err
	}
	strs := 5 // defn, dropStmt, copyStmt, namespace, tablespace
	if w.version >= v1_14 {
		strs++ // tableam
	}
	for range strs {
		if _, _, err := w.str(0); err != nil {
			return nil, false, err
		}
	}
	if w.version >= v1_16 {
		if _, err := w.int(); err != nil { // relkind
			return nil, false, err
		}
	}
	for range 2 { // owner, withOids
		if _, _, err := w.str(0); err != nil {
			return nil, false, err
		}
	}
	for { // dependencies, until a NULL string
		_, end, err := w.str(0)
		if err != nil {
			return nil, false, err
		}
		if end {
			break
		}
	}
	return e, hadDumper != 0, nil
}

// offset reads where an entry's data is: its flag and offSize bytes, the
// byte its block starts at (meaningful with offsetSet).
func (w *walker) offset() (flag byte, at int64, err error) {
	if flag, err = w.byte(); err != nil {
		return 0, 0, err
	}
	if flag != offsetNotSet && flag != offsetSet && flag != offsetNoData {
		return 0, 0, fmt.Errorf("data offset flag %d", flag)
	}
	var buf [8]byte
	if err := w.full(buf[:w.offSize]); err != nil {
		return 0, 0, err
	}
	for i := w.offSize - 1; i >= 0; i-- {
		at = at<<8 | int64(buf[i])
	}
	return flag, at, nil
}

// data reads the data blocks to the end of the archive, as pg_dump writes
// them: one per entry that announced data, in the table of contents' order,
// each where the table of contents says when it says; the archive may end
// only between blocks, and only after the last.
func (w *walker) data(s *Summary, order []*entry, byID map[int64]*entry) error {
	next := 0 // the entry whose block comes next
	for {
		kind, err := w.r.ReadByte()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		w.pos++
		at := w.pos - 1
		s.LastBlock = at
		id, err := w.int()
		if err != nil {
			return fmt.Errorf("data block at byte %d: %w", at, err)
		}
		e := byID[id]
		switch {
		case e == nil:
			return fmt.Errorf("data block at byte %d: for id %d, which the table of contents gives no data", at, id)
		case e.seen:
			return fmt.Errorf("data block at byte %d: a second block for %s (id %d)", at, e, id)
		case e != order[next]:
			return fmt.Errorf("data block at byte %d is %s (id %d), but the data of %s (id %d) comes first: missing or out of order",
				at, e, id, order[next], order[next].id)
		case e.at >= 0 && e.at != at:
			return fmt.Errorf("data block at byte %d is %s (id %d), which the table of contents places at byte %d", at, e, id, e.at)
		}
		e.seen = true
		next++
		switch kind {
		case blockData:
			err = w.chunks(s)
		case blockLargeObjects:
			err = w.largeObjects(s)
		default:
			err = fmt.Errorf("block type %d", kind)
		}
		if err != nil {
			return fmt.Errorf("data of %s (id %d, block at byte %d): %w", e, id, at, err)
		}
		s.DataBlocks++
	}
	if next < len(order) {
		e := order[next]
		return fmt.Errorf("archive ends at byte %d without the data of %s (id %d): cut short", w.pos, e, e.id)
	}
	return nil
}

// chunks reads one run of data chunks: a length, that many bytes, … and 0.
func (w *walker) chunks(s *Summary) error {
	for {
		n, err := w.int()
		if err != nil {
			return err
		}
		switch {
		case n == 0:
			return nil
		case n < 0:
			return fmt.Errorf("chunk length %d at byte %d", n, w.pos)
		}
		if err := w.skip(n); err != nil {
			return err
		}
		s.DataBytes += n
	}
}

// largeObjects reads a block of large objects: an oid and its chunks, …
// and oid 0.
func (w *walker) largeObjects(s *Summary) error {
	for {
		oid, err := w.int()
		if err != nil {
			return err
		}
		if oid == 0 {
			return nil
		}
		if err := w.chunks(s); err != nil {
			return fmt.Errorf("large object %d: %w", oid, err)
		}
		s.LargeObjects++
	}
}

// int reads pg_dump's integer: a sign byte (non-zero: negative), then
// intSize bytes, least significant first.
func (w *walker) int() (int64, error) {
	var buf [9]byte
	b := buf[:1+w.intSize]
	if err := w.full(b); err != nil {
		return 0, err
	}
	var v int64
	for i := w.intSize; i >= 1; i-- {
		v = v<<8 | int64(b[i])
	}
	if b[0] != 0 {
		v = -v
	}
	if v > math.MaxInt32 || v < math.MinInt32 { // pg_restore reads a C int: beyond, it wraps
		return 0, fmt.Errorf("integer %d out of range at byte %d", v, w.pos)
	}
	return v, nil
}

// str reads a string: its length as an integer (-1: NULL), then its
// bytes. It keeps at most keep bytes of it (0: none), skipping the rest.
func (w *walker) str(keep int) (kept string, null bool, err error) {
	n, err := w.int()
	if err != nil {
		return "", false, err
	}
	if n < -1 {
		return "", false, fmt.Errorf("string length %d at byte %d", n, w.pos)
	}
	if n <= 0 {
		return "", n == -1, nil
	}
	head := make([]byte, min(n, int64(keep)))
	if err := w.full(head); err != nil {
		return "", false, err
	}
	return string(head), false, w.skip(n - int64(len(head)))
}

// skip reads n bytes past (Discard takes an int: large n go in steps).
func (w *walker) skip(n int64) error {
	for n > 0 {
		step := int(min(n, 1<<30))
		done, err := w.r.Discard(step)
		w.pos += int64(done)
		if err != nil {
			return w.short(err)
		}
		n -= int64(step)
	}
	return nil
}

func (w *walker) byte() (byte, error) {
	b, err := w.r.ReadByte()
	if err != nil {
		return 0, w.short(err)
	}
	w.pos++
	return b, nil
}

func (w *walker) full(p []byte) error {
	n, err := io.ReadFull(w.r, p)
	w.pos += int64(n)
	if err != nil {
		return w.short(err)
	}
	return nil
}

// short names an end of input where more was due.
func (w *walker) short(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("archive ends at byte %d in the middle of an item: cut short", w.pos)
	}
	return err
}

// Start walks the archive written into the returned writer, as Walk does;
// wait, after the writer is closed, returns the walk's answer. Writes never
// fail or block for long: after a refusal the rest is read and dropped, so
// that one writer feeding several readers is never held up by this one.
func Start() (io.WriteCloser, func() (Summary, error)) {
	pr, pw := io.Pipe()
	type answer struct {
		s   Summary
		err error
	}
	done := make(chan answer, 1)
	go func() {
		s, err := Walk(pr)
		_, _ = io.Copy(io.Discard, pr) // whatever follows a refusal
		done <- answer{s, err}
	}()
	return pw, func() (Summary, error) { a := <-done; return a.s, a.err }
}
