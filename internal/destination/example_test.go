package destination_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"time"

	"github.com/mosaique/rgz-backup/internal/destination"
)

// A destination's use, as offsite makes it: open the place from its URL,
// copy a backup file there under its dated name (verified against the
// recorded size and CRC32 before Put returns), list, read back, remove.
func ExampleOpen() {
	ctx := context.Background()
	work, _ := os.MkdirTemp("", "example-destination-")
	defer os.RemoveAll(work)
	backup := filepath.Join(work, "20261206_030000.dump.zst")
	content := []byte("a backup file's bytes")
	os.WriteFile(backup, content, 0o600)

	spec, err := destination.ParseURL("file://" + filepath.Join(work, "copies"))
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := destination.Open(spec, destination.Settings{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	f, _ := os.Open(backup)
	defer f.Close()
	src, _ := destination.File(f)
	name := destination.Name("", time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC), filepath.Base(backup))
	want := destination.Want{Size: int64(len(content)), CRC32: crc32.ChecksumIEEE(content)}
	fmt.Println("put:", st.Put(ctx, name, src, destination.PutOptions{Want: want}))

	wrong := destination.Want{Size: want.Size, CRC32: want.CRC32 + 1} // not what the row recorded
	fmt.Println("put of a file that is not the recorded one refused:", st.Put(ctx, "2026/12/other.dump.zst", src, destination.PutOptions{Want: wrong}) != nil)

	objects, _ := st.List(ctx)
	for _, o := range objects {
		fmt.Println("listed:", o.Name, o.Size)
	}
	fmt.Println("remove:", st.Remove(ctx, name))
	_, err = st.Stat(ctx, name)
	fmt.Println("gone:", err != nil)
	// Output:
	// put: <nil>
	// put of a file that is not the recorded one refused: true
	// listed: 2026/12/20261206_030000.dump.zst 21
	// remove: <nil>
	// gone: true
}
