package sample

import (
	"context"
	"fmt"
	"testing"

	"github.com/mosaique/rgz-backup/internal/testenv/pgtest"
)

// Database creates a database on c for one test, holding the sample at
// scale, and dropped when the test ends: a copy of one loaded once per
// cluster and scale (pgtest's Copy).
func Database(t testing.TB, c *pgtest.Cluster, scale int) string {
	t.Helper()
	return c.Copy(t, fmt.Sprintf("sample_template_%d", scale), func(ctx context.Context, url string) error {
		return Load(ctx, url, scale)
	})
}
