package disk

import (
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// The used share is df's Use%: the root-reserved blocks count neither as
// used nor as free (the metric once said 0.757 where df said 33 %).
func TestUsedRatioIsDfs(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		blocks, bfree, bavail uint64
		want                  float64
	}{
		{1000, 1000, 950, 0},          // empty, 5 % reserved
		{1000, 670, 620, 330.0 / 950}, // df: 33 %
		{1000, 50, 0, 1},              // full for users
		{1000, 0, 0, 1},               // full
	} {
		if got := FromStatfs(c.blocks, c.bfree, c.bavail, 4096).UsedRatio(); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("blocks %d bfree %d bavail %d: %.4f, want %.4f", c.blocks, c.bfree, c.bavail, got, c.want)
		}
	}
	// And on this machine, against df itself (rounded up to a percent).
	dir := t.TempDir()
	u, err := UsageOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("df", "--output=pcent", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(out))
	pcent, err := strconv.Atoi(strings.TrimSuffix(lines[len(lines)-1], "%"))
	if err != nil {
		t.Fatal(err)
	}
	if got := math.Ceil(u.UsedRatio() * 100); math.Abs(got-float64(pcent)) > 1 {
		t.Fatalf("used %.0f %%, df says %d %%", got, pcent)
	}
}
