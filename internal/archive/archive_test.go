package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/crypt"
)

// payload is compressible but not trivial, like a dump.
func payload(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%d\tAbonné %d\t2026-01-%02d\t%x\n", i, i*7919%100000, 1+i%28, i*104729)
	}
	return b.Bytes()[:n]
}

func writeBackup(t *testing.T, dir, name string, format Format, data []byte, opts ...Option) (string, Sums) {
	t.Helper()
	w, err := Create(dir, name, format, testLevel(format), opts...)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 100_000 { // many writes, as from a pipe
		end := min(off+100_000, len(data))
		if _, err := w.Write(data[off:end]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return path, w.Sums()
}

func testLevel(format Format) int {
	if format == "none" {
		return 0
	}
	return 6
}

func TestRoundTripEveryFormat(t *testing.T) {
	t.Parallel()
	data := payload(3 << 20)
	for _, format := range Formats {
		for _, one := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/one-encoder=%v", format, one), func(t *testing.T) {
				var opts []Option
				if one {
					opts = append(opts, OneEncoder())
				}
				roundTrip(t, format, data, opts...)
			})
		}
	}
}

func roundTrip(t *testing.T, format Format, data []byte, opts ...Option) {
	t.Helper()
	dir := t.TempDir()
	path, sums := writeBackup(t, dir, "20260205_030000"+Extension(format), format, data, opts...)

	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(file)) != sums.Size || crc32.ChecksumIEEE(file) != sums.CRC32 || sha256.Sum256(file) != sums.SHA256 {
		t.Fatal("streamed sums differ from the file on disk")
	}
	if sums.RawSize != int64(len(data)) || sums.RawCRC32 != crc32.ChecksumIEEE(data) {
		t.Fatal("raw sums differ from the input")
	}
	if format != "none" && sums.Size >= sums.RawSize/2 {
		t.Fatalf("%s barely compressed: %d -> %d", format, sums.RawSize, sums.Size)
	}
	var out bytes.Buffer
	checked, err := Check(context.Background(), path, format, &out)
	if err != nil {
		t.Fatal(err)
	}
	if diffs := Compare(sums, checked); len(diffs) > 0 {
		t.Fatalf("check disagrees: %v", diffs)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("decompressed bytes differ")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("expected only the backup in the directory, found %d entries", len(entries))
	}
}

// The files must open with the ordinary tools an operator has at hand.
func TestSystemToolsReadOurFiles(t *testing.T) {
	t.Parallel()
	data := payload(1 << 20)
	for format, tool := range map[Format][]string{Gzip: {"gzip", "-dc"}, Bzip2: {"bzip2", "-dc"}} {
		if _, err := exec.LookPath(tool[0]); err != nil {
			t.Fatalf("%s is part of every Debian install; missing: %v", tool[0], err)
		}
		path, _ := writeBackup(t, t.TempDir(), "x"+Extension(format), format, data)
		out, err := exec.Command(tool[0], append(tool[1:], path)...).Output()
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("%s cannot read our %s file: %v", tool[0], format, err)
		}
	}
}

func TestCheckFindsCorruption(t *testing.T) {
	t.Parallel()
	data := payload(2 << 20)
	for _, format := range Formats {
		t.Run(string(format), func(t *testing.T) {
			path, sums := writeBackup(t, t.TempDir(), "c"+Extension(format), format, data)
			file, _ := os.ReadFile(path)
			file[len(file)/2] ^= 0x40
			os.WriteFile(path, file, 0o640)
			got, err := Check(context.Background(), path, format, nil)
			if err == nil && len(Compare(sums, got)) == 0 {
				t.Fatal("a flipped byte went unnoticed")
			}
			// Whether or not it still decompresses, the stored checksums
			// say the bytes differ: the diagnosis the operator acts on.
			diffs := CompareStored(sums, got)
			if got.Size != sums.Size || len(diffs) != 2 || !strings.Contains(diffs[0], "checksum CRC32") {
				t.Fatalf("stored sums after a flip: size %d (want %d), %q (err %v)", got.Size, sums.Size, diffs, err)
			}
		})
	}
}

func TestCheckFindsTruncation(t *testing.T) {
	t.Parallel()
	path, sums := writeBackup(t, t.TempDir(), "t.dump.gz", "gzip", payload(1<<20))
	os.Truncate(path, sums.Size/2)
	if _, err := Check(context.Background(), path, "gzip", nil); err == nil {
		t.Fatal("a truncated gzip file passed the check")
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, err := Create(dir, "a.dump.zst", "zstd", 3)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(payload(1 << 20))
	w.Abort()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("abort left %v", entries)
	}
}

func TestCommitNeverOverwrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, _ := writeBackup(t, dir, "same.dump.gz", "gzip", payload(1000))
	before, _ := os.ReadFile(path)
	w, _ := Create(dir, "same.dump.gz", "gzip", 9)
	w.Write([]byte("something else"))
	w.Close()
	if _, err := w.Commit(); err == nil {
		t.Fatal("commit replaced an existing backup")
	}
	w.Abort()
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("existing backup changed")
	}
}

func TestRemoveOrphans(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeBackup(t, dir, "keep.dump.gz", "gzip", payload(1000))
	w, _ := Create(dir, "dead.dump.gz", "gzip", 9) // a writer that died: never closed
	w.Write(payload(1000))
	removed, err := RemoveOrphans(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || !strings.HasPrefix(removed[0], ".tmp-dead.dump.gz-") {
		t.Fatalf("removed %v", removed)
	}
	if _, err := os.Stat(filepath.Join(dir, "keep.dump.gz")); err != nil {
		t.Fatal("a real backup was removed")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "x.sha256")
	if err := WriteFileAtomic(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Fatalf("got %q", b)
	}
}

func TestFormatOf(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]Format{"a.dump.gz": Gzip, "a.dump.zst": Zstd, "a.dump.bz2": Bzip2, "a.dump": None} {
		if got := FormatOf(name); got != want {
			t.Errorf("%s: %s", name, got)
		}
	}
}

// A follower sees exactly the file's bytes, though it starts before they exist.
func TestFollowReadsWhileWriting(t *testing.T) {
	t.Parallel()
	data := payload(4 << 20)
	w, err := Create(t.TempDir(), "f.dump.zst", "zstd", 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := w.Follow()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan Sums, 1)
	go func() {
		s, err := CheckReader(context.Background(), r, "zstd", nil)
		if err != nil {
			t.Error(err)
		}
		got <- s
	}()
	for off := 0; off < len(data); off += 64 << 10 {
		w.Write(data[off:min(off+64<<10, len(data))])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if diffs := Compare(w.Sums(), <-got); len(diffs) > 0 {
		t.Fatalf("follower saw other bytes: %v", diffs)
	}
	w.Abort()
}

// Aborting the writer releases a follower waiting for more bytes.
func TestFollowEndsOnAbort(t *testing.T) {
	t.Parallel()
	w, _ := Create(t.TempDir(), "a.dump.gz", "gzip", 6)
	r, _ := w.Follow()
	done := make(chan error, 1)
	go func() {
		_, err := CheckReader(context.Background(), r, "gzip", nil)
		done <- err
	}()
	w.Write(payload(1 << 20))
	w.Abort()
	select {
	case <-done: // whatever it concluded, the file is gone and the result unused
	case <-time.After(10 * time.Second):
		t.Fatal("follower still waiting after abort")
	}
}

// Sealed, every format round-trips through its key, the file holds none of
// the plaintext, its sums are the ciphertext's, and a flipped bit is a
// checksum mismatch with the file's true sums.
func TestSealedRoundTrip(t *testing.T) {
	t.Parallel()
	data := payload(2 << 20)
	recipient, err := crypt.Recipients([]string{mustRecipient(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range Formats {
		t.Run(string(format), func(t *testing.T) {
			enc, err := crypt.NewEncrypter(recipient)
			if err != nil {
				t.Fatal(err)
			}
			path, sums := writeBackup(t, t.TempDir(), "x"+Extension(format)+crypt.Extension, format, data, SealedBy(enc.Seal))
			stored, _ := os.ReadFile(path)
			if bytes.Contains(stored, data[:64]) || !bytes.HasPrefix(stored, []byte("age-encryption.org/v1")) {
				t.Fatal("the file is not an age file, or shows its plaintext")
			}
			if onDisk, err := StoredSums(context.Background(), path); err != nil || onDisk.SHA256 != sums.SHA256 || onDisk.Size != int64(len(stored)) {
				t.Fatalf("stored sums %v: %+v vs %+v", err, onDisk, sums)
			}
			var out bytes.Buffer
			got, err := Check(context.Background(), path, format, &out, OpenedBy(enc.Validation().Open))
			if err != nil || len(Compare(sums, got)) > 0 || !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("check: %v %v", err, Compare(sums, got))
			}
			if got, err := Check(context.Background(), path, format, nil); err == nil && got.RawCRC32 == sums.RawCRC32 {
				t.Fatal("an encrypted file reads without its key")
			}
			stored[len(stored)/2] ^= 1
			os.WriteFile(path, stored, 0o640)
			got, err = Check(context.Background(), path, format, nil, OpenedBy(enc.Validation().Open))
			if err == nil || got.Size != sums.Size || len(CompareStored(sums, got)) == 0 {
				t.Fatalf("a flipped bit: %v, %+v", err, got)
			}
		})
	}
}

func mustRecipient(t *testing.T) string {
	t.Helper()
	_, r, err := crypt.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return r
}
