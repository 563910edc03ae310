package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mosaique/rgz-backup/internal/catalog"
)

// A download runs as long as bytes flow: one that takes several times the
// server's write timeout arrives whole; one cut halfway resumes with a
// Range request; one whose client stops reading is cut after the idle
// limit. Each is audited with the bytes sent and whether it completed;
// what arrived is byte for byte what the .sha256 says.
func TestSlowAndResumedDownloads(t *testing.T) {
	t.Parallel()
	const limit = 3 * time.Second // the server's write timeout, and the idle limit (a loaded machine may leave a reader unscheduled for two seconds: seen at 2 s)
	s := newSiteWith(t, func(d *Deps, srv *http.Server) { d.DownloadIdle, srv.WriteTimeout = limit, limit })
	data := make([]byte, 64<<20) // more than loopback's socket buffers hold
	rand.Read(data)
	sum := sha256.Sum256(data)
	if err := os.WriteFile(*s.good.FilePath, data, 0o640); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(*s.good.FilePath+".sha256", []byte(hex.EncodeToString(sum[:])+"  "+s.good.Filename+"\n"), 0o640)
	admin, _ := s.login("admin")
	admin.Timeout = 0
	url := s.server.URL + "/console/backups/" + s.good.ID + "/download/" + s.good.Filename
	get := func(ranges string) *http.Response {
		req, _ := http.NewRequest("GET", url, nil)
		if ranges != "" {
			req.Header.Set("Range", ranges)
		}
		res, err := admin.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// slowly reads at most max bytes of r, a MiB every pause.
	slowly := func(r io.Reader, max int64, pause time.Duration) []byte {
		var got []byte
		buf := make([]byte, 1<<20)
		for int64(len(got)) < max {
			n, err := io.ReadFull(r, buf[:min(int64(len(buf)), max-int64(len(got)))])
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
			time.Sleep(pause)
		}
		return got
	}
	_, wantSum := s.get(admin, "/console/backups/"+s.good.ID+"/download/"+s.good.Filename+".sha256")
	if !strings.HasPrefix(wantSum, hex.EncodeToString(sum[:])) {
		t.Fatalf("the .sha256: %q", wantSum)
	}

	// 1. Slow: a MiB every limit/16, four times the write timeout.
	began := time.Now()
	res := get("")
	whole := slowly(res.Body, int64(len(data)), limit/16)
	res.Body.Close()
	if got := sha256.Sum256(whole); got != sum {
		t.Fatalf("slow download: %d of %d bytes in %s, or other bytes", len(whole), len(data), time.Since(began))
	}
	if took := time.Since(began); took < 2*limit {
		t.Fatalf("the download took %s: not slower than the limit, nothing is shown", took)
	}

	// 2. Cut at 20 MiB, then resumed from there.
	res = get("")
	first := slowly(res.Body, 20<<20, 0)
	res.Body.Close()
	res = get(fmt.Sprintf("bytes=%d-", len(first)))
	if res.StatusCode != http.StatusPartialContent {
		t.Fatalf("a resumed download: %d", res.StatusCode)
	}
	rest := slowly(res.Body, int64(len(data)), 20*time.Millisecond)
	res.Body.Close()
	if got := sha256.Sum256(append(first, rest...)); got != sum {
		t.Fatalf("resumed download: %d + %d of %d bytes, or other bytes", len(first), len(rest), len(data))
	}

	// 3. A client that stops reading is cut after the idle limit.
	res = get("")
	slowly(res.Body, 1<<20, 0)
	time.Sleep(2*limit + time.Second)
	res.Body.Close()

	// The audit: the slow one complete, the cut one cut, the resumed one
	// complete with its range, the stalled one cut.
	var rows []catalog.Audit
	waitUntil(t, 10*time.Second, func() bool {
		rows, _ = s.store.AuditPage(context.Background(), catalog.Audit{}, 100)
		n := 0
		for _, r := range rows {
			if strings.HasPrefix(r.Detail, "download "+s.good.Filename+": ") {
				n++
			}
		}
		return n == 4
	})
	var got []string
	for i := len(rows) - 1; i >= 0; i-- {
		if d := rows[i].Detail; strings.HasPrefix(d, "download "+s.good.Filename+": ") {
			got = append(got, fmt.Sprintf("%d %s", rows[i].Status, d))
		}
	}
	size := fmt.Sprint(len(data))
	for i, want := range []string{
		"200 download " + s.good.Filename + ": " + size + " of " + size + " bytes",
		"200 download " + s.good.Filename + ": ",
		"206 download " + s.good.Filename + ": " + fmt.Sprint(len(data)-len(first)) + " of " + size + " bytes",
		"200 download " + s.good.Filename + ": ",
	} {
		if !strings.HasPrefix(got[i], want) {
			t.Errorf("audit %d: %q, want it to start %q", i, got[i], want)
		}
		complete := strings.Contains(got[i], "complete")
		if complete != (i == 0 || i == 2) {
			t.Errorf("audit %d: %q (complete: %v)", i, got[i], complete)
		}
	}
	if !strings.Contains(got[2], "(bytes="+fmt.Sprint(len(first))+"-)") {
		t.Errorf("the resumed download's range is not in the audit: %q", got[2])
	}
}

func waitUntil(t *testing.T, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
